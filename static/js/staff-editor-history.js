/*
 * Coordinator pages, the editor: a resource's history, and changes in words
 * (also what someone else changed, shown on a conflict).
 */
import * as GS from "./common.js";
import { ed } from "./staff-editor-form.js";

const { el, t } = GS;

export const SKIP = new Set(["version", "updated_at", "created_at", "id"]);

/** A field's name as people read it (``description`` → 内容・活動概要). */
export function fieldLabel(key) {
  const label = t(`field.${key}`);
  return label === `field.${key}` ? key : label;
}

/** A field's value in words: the category's and the visibility's labels, else short(). */
function valueText(key, v) {
  if (key === "category" && v) return GS.categoryLabel(v);
  if (key === "visibility" && (v === "public" || v === "staff")) return t(`edit.${v}`);
  return short(v);
}

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

/** One changed field as a list item: its label, the value before and after. */
export function changeItem(key, before, after) {
  return el("li", null,
    el("span", { class: "staff-history-field", "data-field": key, text: fieldLabel(key) }),
    t("history.colon"), el("del", { text: valueText(key, before) }), " → ",
    el("ins", { text: valueText(key, after) }));
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
      : keys.map((k) => changeItem(k, before[k], after[k]));
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
