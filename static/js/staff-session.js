/*
 * Coordinator pages: what the list, the editor and the import share — the logged-in
 * user, the responsible areas (小学校区, loaded once), the status line and error words.
 */
import * as GS from "./common.js";

const { t } = GS;
export const state = {
  user: null, routeSeq: 0, flash: null, listMap: null, areas: null, offset: 0,
  sort: { key: "updated_at", dir: -1 },
  filters: { q: "", mine: true, category: "", area: "", visibility: "", stale: false },
};

export function canEdit(p) {
  return state.user && (state.user.role === "admin" || state.user.areas.includes(p.area));
}

/** The responsible-area layer (小学校区): its polygons and names, loaded once. */
export async function areas() {
  if (state.areas) return state.areas;
  const layers = (GS.config.region && GS.config.region.area_layers) || [];
  if (!layers.length) return (state.areas = { layer: null, features: [] });
  const fc = await GS.api(`/areas/${encodeURIComponent(layers[0].id)}`);
  state.areas = { layer: fc.layer, id: layers[0].id, features: fc.features };
  return state.areas;
}

export function areaName(id) {
  const f = state.areas && state.areas.features.find((a) => a.id === id);
  return f ? f.properties.name : (id || t("list.no_area"));
}

export function setStatus(text) {
  document.getElementById("status").textContent = text || "";
}

export function errorText(e) {
  if (e instanceof GS.ApiError) {
    if (e.status === 403) return t("error.forbidden");
    return typeof e.detail === "string" ? e.detail : (e.detail && e.detail.message) || e.message;
  }
  return t("error.network");
}
