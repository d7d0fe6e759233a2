/*
 * Coordinator pages, the editor: a resource's history, and changes in words
 * (also what someone else changed, shown on a conflict).
 */
import * as GS from "./common.js";
import { ed } from "./staff-editor-form.js";

const { el, t } = GS;

export const SKIP = new Set(["version", "updated_at", "created_at", "id"]);

export function short(v) {
  if (v === null || v === undefined || v === "") return t("history.empty_value");
  if (typeof v !== "object") return String(v);
  if (v.kind && "geometry" in v) {
    const label = t(`sa.${v.kind}`);
    return v.kind === "walk" ? `${label} ${v.minutes}` : v.kind === "areas" ? `${label} ${v.area_ids.join(", ")}`
      : v.kind === "radius" ? `${label} ${v.radius_m} m` : label;
  }
  if ("weekdays" in v) return GS.formatSchedule(v) + (v.stops && v.stops.length ? ` (${t("stops.title")} ${v.stops.length})` : "");
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

export async function loadHistory() {
  const id = ed.id;
  const entries = await GS.api(`/resources/${encodeURIComponent(id)}/history`);
  const box = document.getElementById("history");
  if (!box || !ed || ed.id !== id) return;
  const items = entries.slice().reverse().map((h) => {
    const before = h.before || {};
    const after = h.after || {};
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .filter((k) => !SKIP.has(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    const changes = h.before === null ? [el("li", { text: t("history.created") })]
      : keys.map((k) => el("li", null, el("span", { class: "staff-history-field", text: k }), ": ",
          el("del", { text: short(before[k]) }), " → ", el("ins", { text: short(after[k]) })));
    return el("li", null,
      el("div", { class: "staff-history-head" },
        el("time", { datetime: h.at, text: GS.formatDateTime(h.at) }), " ",
        el("strong", { text: h.username || "?" }), " ",
        el("span", { class: "staff-badge", text: t(`history.${h.action}`) })),
      el("ul", null, changes));
  });
  box.replaceChildren(items.length ? el("ol", { class: "staff-history-list" }, items)
    : el("p", { text: t("history.none") }));
}
