/*
 * Coordinator pages, the editor: its map — the resource placed by a click, by
 * dragging its marker or from the lat/lon inputs and the map centre (by keyboard).
 */
import * as GS from "./common.js";
import * as Staff from "./staff-session.js";
import { currentKind, drawAreas, polygonStyle, previewRadius, previewWalk, usePolygon } from "./staff-editor-area.js";
import { ed, info, num, touched } from "./staff-editor-form.js";
import { drawStops } from "./staff-editor-stops.js";

const { t } = GS;

export function setupMap(mapBox) {
  const map = GS.makeMap(mapBox);
  ed.map = map;
  const r = ed.resource;
  ed.areasLayer = L.layerGroup();
  ed.preview = L.layerGroup().addTo(map);
  ed.stopsLayer = L.layerGroup().addTo(map);
  ed.marker = null;
  if (r.lat !== null && r.lon !== null) setPlace([r.lat, r.lon]);
  if (r.service_area.kind === "polygon" && r.service_area.geometry) {
    const layer = L.geoJSON(r.service_area.geometry, { style: polygonStyle }).getLayers()[0];
    if (layer) usePolygon(layer);
  }
  drawAreas();
  drawStops();
  map.on("click", (e) => {
    if (map.pm && map.pm.globalDrawModeEnabled()) return;
    setPlace([e.latlng.lat, e.latlng.lng]);
  });
  map.on("pm:create", (e) => {
    if (ed.polygon) ed.polygon.remove();
    usePolygon(e.layer);
    info(t("edit.polygon_done"));
  });
}

/** Put the resource at [lat, lon] (null: no location); inputs and marker follow. */
export function setPlace(latlng, { pan = false } = {}) {
  if (!ed) return;
  touched();
  const lat = document.getElementById("e-lat");
  const lon = document.getElementById("e-lon");
  if (latlng === null) {
    if (ed.marker) ed.marker.remove();
    ed.marker = null;
    lat.value = "";
    lon.value = "";
    return;
  }
  const [la, lo] = latlng.map((v) => Math.round(v * 1e7) / 1e7);
  lat.value = la;
  lon.value = lo;
  if (!ed.marker) {
    ed.marker = L.marker([la, lo], { draggable: true, autoPan: true, title: t("edit.marker"),
                                     alt: t("edit.marker"),
                                     icon: GS.markerIcon(document.getElementById("e-category").value,
                                                         { size: 34, selected: true }) });
    ed.marker.on("dragend", () => {
      const p = ed.marker.getLatLng();
      setPlace([p.lat, p.lng]);
    });
    ed.marker.addTo(ed.map);
  } else {
    ed.marker.setLatLng([la, lo]);
  }
  if (pan) ed.map.setView([la, lo], Math.max(ed.map.getZoom(), 16), { animate: false });
  info(t("edit.placed", { lat: la, lon: lo }));
  if (currentKind() === "walk") previewWalk();
  if (currentKind() === "radius") previewRadius();
}

export function fromInputs() {
  const la = num("e-lat");
  const lo = num("e-lon");
  if (la !== null && lo !== null && Number.isFinite(la) && Number.isFinite(lo)) {
    setPlace([la, lo], { pan: true });
  }
}

export function useCentre() {
  const c = ed.map.getCenter();
  setPlace([c.lat, c.lng]);
}

/** Show the whole service area (or stops) with the place; else the place up close. */
export function fitToResource() {
  const group = L.featureGroup();
  if (ed.marker) L.marker(ed.marker.getLatLng()).addTo(group);
  const kind = currentKind();
  if (kind === "polygon" && ed.polygon) L.geoJSON(ed.polygon.toGeoJSON()).addTo(group);
  if (kind === "areas") {
    for (const f of Staff.state.areas.features) {
      if (ed.areaIds.has(f.id)) L.geoJSON(f.geometry).addTo(group);
    }
  }
  for (const s of ed.stops) L.marker([s.lat, s.lon]).addTo(group);
  const n = group.getLayers().length;
  if (n > 1 || (n === 1 && !ed.marker)) {
    ed.map.fitBounds(group.getBounds().pad(0.1), { animate: false, maxZoom: 17 });
  } else if (ed.marker) {
    ed.map.setView(ed.marker.getLatLng(), 16, { animate: false });
  }
}
