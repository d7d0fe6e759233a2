/*
 * The region's own map: its streets, area outlines, rivers and railways from the service
 * (GET /basemap, simplified for the zoom), drawn as light Leaflet vector layers. Every map
 * shows it where background tiles cannot load (a municipal closed network, LGWAN) or none
 * are configured (GEO_SERVICE_BASEMAPS=none): never a grey box. common.js makeMap offers
 * it as a background and falls back to it.
 *
 * It asks for the view (padded, snapped to a grid of the zoom so that panning a little
 * asks again for nothing), once per zoom and box, and draws in a pane of its own under
 * the pages' layers; it takes no clicks (a tap on the map still picks a place).
 */
const PANE = "gs-basemap";
/** Light styling: streets grey, water blue, railways dark dashed, outlines violet. */
const STYLES = {
  water: { color: "#7fb2e5", weight: 1.5, fillColor: "#b9d8f5", fillOpacity: 0.9 },
  outline: { color: "#9c8fb8", weight: 1.5, dashArray: "6 4", fill: false },
  street: { color: "#a3a3a3", weight: 1.2, fill: false },
  rail: { color: "#444444", weight: 2, dashArray: "7 5", fill: false },
};
/** The box asked for is snapped to cells of this many 256-px tiles of the zoom. */
const SNAP_TILES = 2;

function snap(value, step, round) {
  return Number((round(value / step) * step).toFixed(6));
}

/** The URL of the view's basemap: /basemap?zoom=Z&bbox=W,S,E,N (snapped). */
export function basemapUrl(map) {
  const zoom = Math.round(map.getZoom());
  const bounds = map.getBounds().pad(0.15);
  const step = (360 / 2 ** zoom) * SNAP_TILES;
  const west = Math.max(-180, snap(bounds.getWest(), step, Math.floor));
  const east = Math.min(180, snap(bounds.getEast(), step, Math.ceil));
  const south = Math.max(-90, snap(bounds.getSouth(), step / 2, Math.floor));
  const north = Math.min(90, snap(bounds.getNorth(), step / 2, Math.ceil));
  return `/basemap?zoom=${zoom}&bbox=${west},${south},${east},${north}`;
}

/** A Leaflet layer of the region's own map (add it to a map like a tile layer). */
export function regionBasemap() {
  const layer = L.geoJSON(null, {
    pane: PANE,
    interactive: false,
    style: (feature) => ({ ...STYLES[feature.properties.kind],
                           className: `gs-basemap-${feature.properties.kind}` }),
  });
  let shown = null;
  let asked = null;
  const cache = new Map();

  async function refresh() {
    const map = layer._map;
    if (!map) return;
    const url = basemapUrl(map);
    if (url === shown || url === asked) return;
    asked = url;
    let data = cache.get(url);
    if (!data) {
      try {
        const response = await fetch(url, { headers: { Accept: "application/geo+json" } });
        if (!response.ok) return;
        data = await response.json();
      } catch (_) {
        return; // no service: the pages say so elsewhere
      } finally {
        if (asked === url) asked = null;
      }
      cache.set(url, data);
    }
    if (layer._map !== map || basemapUrl(map) !== url) return; // moved on meanwhile
    layer.clearLayers();
    layer.addData(data);
    shown = url;
    map.fire("gs:basemap", { features: data.features.length });
  }

  layer.on("add", () => {
    const map = layer._map; // still set in "remove" (Leaflet clears it after)
    if (!map.getPane(PANE)) {
      const pane = map.createPane(PANE);
      pane.style.zIndex = 250; // above tiles (200), under areas and markers (400+)
      pane.style.pointerEvents = "none";
    }
    map.on("moveend", refresh);
    shown = null;
    refresh();
  });
  layer.on("remove", () => {
    layer._map.off("moveend", refresh);
    shown = null;
  });
  return layer;
}
