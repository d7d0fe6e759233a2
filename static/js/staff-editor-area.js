/*
 * Coordinator pages, the editor: the service area — drawn as a polygon
 * (leaflet-geoman), picked as 小学校区 (map or checklist), a radius or walking minutes
 * (previewed with GET /isochrone) — and what is sent for it.
 */
import * as GS from "./common.js";
import * as Staff from "./staff-session.js";
import { ed, field, info, num, select, text, touched, val } from "./staff-editor-form.js";

const { el, t } = GS;

const KINDS = ["none", "polygon", "areas", "radius", "walk", "municipality"];

export const polygonStyle = { color: "#6a3d9a", weight: 3, fillOpacity: 0.15 };

export function usePolygon(layer) {
  touched();
  ed.polygon = layer;
  layer.setStyle(polygonStyle);
  layer.addTo(ed.map);
  if (layer.pm) {
    layer.pm.enable({ allowSelfIntersection: false });
    layer.on("pm:edit", () => polygonInfo());
  }
  polygonInfo();
}

function polygonInfo() {
  const node = document.getElementById("sa-polygon-info");
  if (!node) return;
  const n = ed.polygon ? ed.polygon.getLatLngs().flat(3).length : 0;
  node.textContent = n ? t("edit.polygon_vertices", { n }) : t("edit.polygon_none");
}

export function currentKind() {
  const node = document.getElementById("e-sa-kind");
  return node ? node.value : "none";
}

export function serviceAreaSection() {
  const sa = ed.resource.service_area;
  const kind = select(sa.kind, KINDS.map((k) => [k, t(`sa.${k}`)]));
  kind.addEventListener("change", showKind);
  const areas = Staff.state.areas;
  const checklist = el("fieldset", { id: "sa-areas", "data-field": "service_area.area_ids", tabindex: -1 },
    el("legend", { text: t("sa.pick_areas", { layer: areas.layer || "" }) }),
    areas.features.map((f) => el("label", { class: "staff-check" },
      el("input", { type: "checkbox", name: "sa-area", value: f.id, checked: ed.areaIds.has(f.id),
                    onchange: (e) => toggleArea(f.id, e.target.checked) }),
      f.properties.name)),
    el("p", { class: "staff-hint", text: t("sa.areas_hint") }));
  const minutes = el("input", { type: "number", min: 1, max: GS.config.nearby_max_minutes, step: 1,
                                value: sa.minutes ?? 10, onchange: previewWalk });
  const radius = el("input", { type: "number", min: 10, step: 10, value: sa.radius_m ?? 500,
                               onchange: previewRadius });
  return el("fieldset", { id: "e-service-area", "data-field": "service_area", tabindex: -1 },
    el("legend", { text: t("edit.service_area") }),
    el("p", { id: "sa-meaning", class: "staff-hint", "aria-live": "polite" }),
    field("e-sa-kind", "service_area.kind", t("sa.kind"), kind),
    el("p", { id: "e-service-area-error", class: "staff-field-error", hidden: true }),
    el("div", { class: "staff-sa-panel", "data-kind": "polygon" },
      el("p", { class: "staff-hint", text: t("sa.polygon_hint") }),
      el("div", { class: "staff-actions" },
        el("button", { type: "button", class: "secondary", id: "draw-polygon", text: t("sa.draw"),
                       onclick: startDraw }),
        el("button", { type: "button", class: "secondary", text: t("sa.clear"),
                       onclick: () => { if (ed.polygon) ed.polygon.remove(); ed.polygon = null; polygonInfo(); } })),
      el("p", { id: "sa-polygon-info", "aria-live": "polite" })),
    el("div", { class: "staff-sa-panel", "data-kind": "areas" }, checklist),
    el("div", { class: "staff-sa-panel", "data-kind": "radius" },
      field("e-sa-radius", "service_area.radius_m", t("sa.radius"), radius)),
    el("div", { class: "staff-sa-panel", "data-kind": "walk" },
      field("e-sa-minutes", "service_area.minutes", t("sa.minutes"), minutes,
            t("sa.minutes_hint", { max: GS.config.nearby_max_minutes })),
      el("button", { type: "button", class: "secondary", id: "preview-walk", text: t("sa.preview"),
                     onclick: previewWalk }),
      el("p", { id: "sa-walk-info", "aria-live": "polite" })),
    field("e-sa-text", "service_area.text", t("sa.text"), text(sa.text)));
}

/** What a service area means for this kind of resource (as /reach and the residents'
 *  page use it): a place's is who it takes in — it never makes it a service that comes to
 *  the home; a service's is where it comes to; a mobile route's adds to its stops. */
export function explainArea() {
  const node = document.getElementById("sa-meaning");
  const category = document.getElementById("e-category");
  if (!node || !category) return;
  const kind = GS.category(category.value).kind;
  node.textContent = t(kind === "service" ? "sa.meaning_service"
    : kind === "mobile" ? "sa.meaning_mobile" : "sa.meaning_place");
}

export function showKind() {
  explainArea();
  const kind = currentKind();
  for (const panel of document.querySelectorAll(".staff-sa-panel")) {
    panel.hidden = panel.dataset.kind !== kind;
  }
  if (!ed || !ed.map) return;
  if (kind !== "polygon" && ed.map.pm && ed.map.pm.globalDrawModeEnabled()) ed.map.pm.disableDraw();
  ed.preview.clearLayers();
  if (ed.polygon) {
    if (kind === "polygon") ed.polygon.addTo(ed.map); else ed.polygon.remove();
  }
  if (kind === "areas") ed.areasLayer.addTo(ed.map); else ed.areasLayer.remove();
  if (kind === "walk") previewWalk();
  if (kind === "radius") previewRadius();
  polygonInfo();
}

function startDraw() {
  if (!ed.map.pm) return;
  ed.map.pm.enableDraw("Polygon", { snappable: false, allowSelfIntersection: false,
                                    finishOn: null });
  info(t("sa.drawing"));
}

export function drawAreas() {
  ed.areasLayer.clearLayers();
  for (const f of Staff.state.areas.features) {
    const on = ed.areaIds.has(f.id);
    const layer = L.geoJSON(f.geometry, {
      bubblingMouseEvents: false, pmIgnore: true,
      style: { color: on ? "#0b5cad" : "#555b61", weight: on ? 3 : 1.5,
               fillColor: on ? "#0b5cad" : "#ffffff", fillOpacity: on ? 0.3 : 0.05 },
    });
    layer.bindTooltip(() => el("span", { text: f.properties.name }), { sticky: true });
    layer.on("click", () => toggleArea(f.id, !ed.areaIds.has(f.id)));
    layer.addTo(ed.areasLayer);
  }
}

function toggleArea(id, on) {
  touched();
  if (on) ed.areaIds.add(id); else ed.areaIds.delete(id);
  for (const box of document.querySelectorAll('input[name="sa-area"]')) {
    box.checked = ed.areaIds.has(box.value);
  }
  drawAreas();
}

let previewSeq = 0;

export async function previewWalk() {
  if (!ed || currentKind() !== "walk") return;
  const out = document.getElementById("sa-walk-info");
  const lat = num("e-lat");
  const lon = num("e-lon");
  const minutes = num("e-sa-minutes");
  ed.preview.clearLayers();
  if (lat === null || lon === null) {
    out.textContent = t("sa.needs_place");
    return;
  }
  if (!(minutes > 0)) return;
  const seq = ++previewSeq;
  out.textContent = t("loading");
  try {
    const band = await GS.api(`/isochrone?lat=${lat}&lon=${lon}&minutes=${minutes}`);
    if (seq !== previewSeq || !ed) return;
    if (band.geometry) {
      L.geoJSON(band.geometry, { pmIgnore: true, interactive: false,
        style: { color: "#1d6b2f", weight: 2, fillOpacity: 0.2 }, className: "staff-isochrone" })
        .addTo(ed.preview);
    }
    out.textContent = t("sa.preview_done", { minutes, pop: Math.round(band.properties.pop_65plus) });
  } catch (e) {
    if (seq === previewSeq) out.textContent = Staff.errorText(e);
  }
}

export function previewRadius() {
  if (!ed || currentKind() !== "radius") return;
  ed.preview.clearLayers();
  const lat = num("e-lat");
  const lon = num("e-lon");
  const metres = num("e-sa-radius");
  if (lat === null || lon === null || !(metres > 0)) return;
  L.circle([lat, lon], { radius: metres, pmIgnore: true, interactive: false,
                         color: "#1d6b2f", weight: 2, fillOpacity: 0.15 }).addTo(ed.preview);
}

export function serviceArea() {
  const kind = currentKind();
  const out = { kind, text: val("e-sa-text") };
  if (kind === "polygon") out.geometry = ed.polygon ? ed.polygon.toGeoJSON().geometry : null;
  if (kind === "areas") {
    out.layer = Staff.state.areas.layer;
    out.area_ids = [...ed.areaIds];
  }
  if (kind === "radius") out.radius_m = num("e-sa-radius");
  if (kind === "walk") out.minutes = num("e-sa-minutes");
  return out;
}
