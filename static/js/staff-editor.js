/*
 * Coordinator pages: the editor of one resource (#new, #edit=<id>).
 *
 * The form sends what the coordinator sees; the server validates, and its 422 problems are
 * shown next to their fields (aria-describedby, first one focused). Edits carry If-Match;
 * a 412 keeps the form as typed and offers to load the latest version or to overwrite it.
 * The map places the resource (click, or drag the marker; the lat/lon inputs and "map
 * centre" do the same by keyboard), draws a polygon service area (leaflet-geoman), picks
 * 小学校区 (click on the map or the checklist), previews a walking-minutes area
 * (GET /isochrone) and edits 移動販売 stops.
 *
 * This module opens, renders, saves and deletes; its parts are staff-editor-form.js (the
 * open editor's state and the form's fields), -map.js (placing the resource), -area.js
 * (the service area), -stops.js (移動販売 stops) and -history.js.
 */
import * as GS from "./common.js";
import * as Staff from "./staff-session.js";
import { explainArea, serviceArea, serviceAreaSection, showKind } from "./staff-editor-area.js";
import { area, ed, field, num, select, setEditor, text, touched, val } from "./staff-editor-form.js";
import { changeItem, loadHistory, SKIP } from "./staff-editor-history.js";
import { fitToResource, fromInputs, setPlace, setupMap, useCentre } from "./staff-editor-map.js";
import { stopsSection } from "./staff-editor-stops.js";

const { el, t } = GS;

export function close() {
  if (ed && ed.map) {
    ed.map.stop();
    ed.map.remove();
  }
  setEditor(null);
}

const blank = () => ({
  name: "", kana: null, category: GS.config.categories[0].id, description: null,
  operator: null, address: null, lon: null, lat: null,
  service_area: { kind: "none", geometry: null, layer: null, area_ids: [], radius_m: null,
                  minutes: null, text: null },
  schedule: { weekdays: [], start: null, end: null, frequency: null, text: null, stops: [] },
  fee: { kind: "unknown", amount_yen: null, text: null }, target_users: null,
  how_to_apply: null, contact: { tel: null, fax: null, email: null, url: null },
  notes: null, visibility: "public", last_verified: null, staff_notes: null, version: null,
});

export async function open(box, id, live = () => true) {
  close();
  let resource = blank();
  if (id) {
    resource = (await GS.api(`/resources/${encodeURIComponent(id)}`)).properties;
    if (!live()) return;
    if (resource.deleted || !Staff.canEdit(resource)) {
      box.replaceChildren(el("h2", { text: t("edit.refused_title") }),
        el("p", { class: "gs-error", role: "alert",
                  text: resource.deleted ? t("edit.deleted") : t("edit.refused") }),
        el("p", null, el("a", { href: "#list", text: t("edit.back") })));
      return;
    }
  }
  setEditor({ resource, id, polygon: null, areaIds: new Set(resource.service_area.area_ids || []),
         stops: resource.schedule.stops.map((s) => ({ ...s })), saving: false });
  render(box);
}

function render(box) {
  const r = ed.resource;
  const isNew = !ed.id;
  const title = isNew ? t("edit.new_title") : t("edit.title", { name: r.name });
  const categories = GS.config.categories.map((c) => [c.id, GS.categoryLabel(c.id)]);
  const weekdays = el("fieldset", { class: "staff-weekdays", "data-field": "schedule.weekdays",
                                    id: "e-weekdays", tabindex: -1 },
    el("legend", { text: t("edit.weekdays") }),
    GS.WEEKDAYS.map((d) => el("label", { class: "staff-check" },
      el("input", { type: "checkbox", name: "weekday", value: d,
                    checked: r.schedule.weekdays.includes(d) }), GS.weekdayLabel(d))),
    el("p", { id: "e-weekdays-error", class: "staff-field-error", hidden: true }));
  const form = el("form", { id: "editor", class: "staff-editor", novalidate: true },
    el("div", { id: "form-error", class: "gs-error", role: "alert", hidden: true }),
    el("div", { id: "conflict", class: "staff-conflict", role: "alert", hidden: true }),
    el("fieldset", null, el("legend", { text: t("edit.basic") }),
      field("e-name", "name", t("edit.name"), text(r.name, { required: true, autocomplete: "off" })),
      field("e-kana", "kana", t("edit.kana"), text(r.kana)),
      field("e-category", "category", t("edit.category"), select(r.category, categories)),
      field("e-description", "description", t("edit.description"), area(r.description)),
      field("e-operator", "operator", t("edit.operator"), text(r.operator)),
      field("e-address", "address", t("edit.address"), text(r.address)),
      field("e-visibility", "visibility", t("edit.visibility"),
            select(r.visibility, [["public", t("edit.public")], ["staff", t("edit.staff")]])),
      field("e-verified", "last_verified", t("edit.verified"),
            el("input", { type: "date", value: r.last_verified || "" })),
      el("button", { type: "button", class: "secondary", text: t("edit.verified_today"),
                     onclick: () => { document.getElementById("e-verified").value = today(); } })),
    el("fieldset", null, el("legend", { text: t("edit.place") }),
      el("p", { class: "staff-hint", id: "place-hint", text: t("edit.place_hint") }),
      el("div", { class: "staff-row" },
        field("e-lat", "lat", t("edit.lat"), el("input", { type: "number", step: "any",
              value: r.lat ?? "", onchange: fromInputs })),
        field("e-lon", "lon", t("edit.lon"), el("input", { type: "number", step: "any",
              value: r.lon ?? "", onchange: fromInputs }))),
      el("div", { class: "staff-actions" },
        el("button", { type: "button", class: "secondary", id: "use-centre",
                       text: t("edit.use_centre"), onclick: useCentre }),
        el("button", { type: "button", class: "secondary", text: t("edit.clear_place"),
                       onclick: () => setPlace(null) }))),
    serviceAreaSection(),
    el("fieldset", null, el("legend", { text: t("edit.schedule") }), weekdays,
      el("div", { class: "staff-row" },
        field("e-start", "schedule.start", t("edit.start"), el("input", { type: "time", value: r.schedule.start || "" })),
        field("e-end", "schedule.end", t("edit.end"), el("input", { type: "time", value: r.schedule.end || "" }))),
      field("e-frequency", "schedule.frequency", t("edit.frequency"), text(r.schedule.frequency), t("edit.frequency_hint")),
      field("e-schedule-text", "schedule.text", t("edit.schedule_text"), text(r.schedule.text))),
    stopsSection(),
    el("fieldset", null, el("legend", { text: t("edit.fee_contact") }),
      el("div", { class: "staff-row" },
        field("e-fee-kind", "fee.kind", t("edit.fee_kind"), select(r.fee.kind,
              [["unknown", t("edit.fee_unknown")], ["free", t("edit.fee_free")], ["paid", t("edit.fee_paid")]])),
        field("e-fee-amount", "fee.amount_yen", t("edit.fee_amount"),
              el("input", { type: "number", min: 0, step: 1, value: r.fee.amount_yen ?? "" }))),
      field("e-fee-text", "fee.text", t("edit.fee_text"), text(r.fee.text)),
      field("e-tel", "contact.tel", t("edit.tel"), text(r.contact.tel, { type: "tel" })),
      field("e-apply", "how_to_apply", t("edit.how_to_apply"), area(r.how_to_apply)),
      field("e-target", "target_users", t("edit.target_users"), text(r.target_users)),
      field("e-notes", "notes", t("edit.notes"), area(r.notes)),
      field("e-staff-notes", "staff_notes", t("edit.staff_notes"), area(r.staff_notes))),
    el("div", { class: "staff-actions staff-save-bar" },
      el("button", { type: "submit", id: "save", text: t("edit.save") }),
      el("a", { href: "#list", class: "gs-button secondary", text: t("edit.cancel") })),
    isNew ? null : el("div", { class: "staff-danger-zone" },
      el("p", { class: "staff-hint", text: t("edit.delete_hint") }),
      el("button", { type: "button", class: "danger", id: "delete", text: t("edit.delete"),
                     onclick: remove })));
  form.addEventListener("submit", (e) => { e.preventDefault(); save(false); });
  form.addEventListener("input", touched);
  form.addEventListener("change", touched);
  const mapBox = el("div", { id: "edit-map", class: "gs-map staff-edit-map",
                             role: "region", "aria-label": t("edit.map_label") });
  box.replaceChildren(
    el("h2", { id: "editor-title", text: title }),
    ...(isNew ? [] : [el("p", { class: "staff-meta", text: t("edit.meta", {
      category: GS.categoryLabel(r.category), area: Staff.areaName(r.area),
      verified: r.last_verified || t("list.never"), updated: GS.formatDateTime(r.updated_at),
      version: r.version }) })]),
    el("div", { class: "staff-edit-layout" },
      el("div", { class: "staff-edit-form" }, form),
      el("div", { class: "staff-edit-side" },
        el("p", { class: "staff-hint", text: t("edit.map_hint") }), mapBox,
        el("p", { id: "map-info", class: "staff-hint", "aria-live": "polite" }))),
    ...(isNew ? [] : [el("section", { class: "staff-history", "aria-labelledby": "history-title" },
      el("h3", { id: "history-title", text: t("history.title") }),
      el("div", { id: "history" }, el("p", { class: "gs-muted", text: t("loading") })))]));
  document.getElementById("e-category").addEventListener("change", showStops);
  document.getElementById("e-category").addEventListener("change", explainArea);
  showStops();
  setupMap(mapBox);
  showKind();
  fitToResource();
  ed.dirty = false; // what the map and the form did while being set up is no change
  if (!isNew) loadHistory();
}

/** 移動販売 stops are shown for that category, or when a resource already has some. */
function showStops() {
  const section = document.getElementById("e-stops");
  const cat = GS.category(document.getElementById("e-category").value);
  section.hidden = !(ed.stops.length || cat.id === "mobile_sales" || cat.kind === "mobile");
}

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function body() {
  const r = ed.resource;
  const lat = num("e-lat");
  const lon = num("e-lon");
  return {
    name: document.getElementById("e-name").value.trim(),
    kana: val("e-kana"),
    category: document.getElementById("e-category").value,
    description: val("e-description"),
    operator: val("e-operator"),
    address: val("e-address"),
    lat, lon,
    visibility: document.getElementById("e-visibility").value,
    last_verified: val("e-verified"),
    schedule: {
      weekdays: [...document.querySelectorAll('input[name="weekday"]:checked')].map((b) => b.value),
      start: val("e-start"), end: val("e-end"), frequency: val("e-frequency"),
      text: val("e-schedule-text"),
      stops: ed.stops.map((s) => ({ name: s.name || null, lat: s.lat, lon: s.lon,
                                    weekday: s.weekday, time: s.time, minutes: s.minutes ?? null })),
    },
    fee: { kind: document.getElementById("e-fee-kind").value, amount_yen: num("e-fee-amount"),
           text: val("e-fee-text") },
    contact: { ...r.contact, tel: val("e-tel") },
    how_to_apply: val("e-apply"),
    target_users: val("e-target"),
    notes: val("e-notes"),
    staff_notes: val("e-staff-notes"),
    service_area: serviceArea(),
  };
}

function clearErrors() {
  for (const node of document.querySelectorAll(".staff-field-error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of document.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    const ids = (node.getAttribute("aria-describedby") || "").split(" ")
      .filter((x) => x && !x.endsWith("-error"));
    if (ids.length) node.setAttribute("aria-describedby", ids.join(" "));
    else node.removeAttribute("aria-describedby");
  }
  for (const id of ["form-error", "conflict"]) {
    const box = document.getElementById(id);
    box.hidden = true;
    box.replaceChildren();
  }
}

const ALIASES = { location: "lat", stop: "schedule.stops", weekdays: "schedule.weekdays",
                  end: "schedule.end", start: "schedule.start" };

/** The input of the server's field name (the nearest enclosing one for a deeper path). */
function inputOf(name) {
  let key = ALIASES[name] || name;
  while (key) {
    const node = document.querySelector(`#editor [data-field="${CSS.escape(key)}"]`);
    if (node) return node;
    key = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
  }
  return null;
}

function showProblems(problems) {
  const general = [];
  let first = null;
  for (const p of problems) {
    const input = p.field ? inputOf(p.field) : null;
    if (!input) {
      general.push(p.field ? `${p.field}: ${p.reason}` : p.reason);
      continue;
    }
    const slot = document.getElementById(`${input.id}-error`);
    slot.textContent = p.reason;
    slot.hidden = false;
    input.setAttribute("aria-invalid", "true");
    const ids = new Set((input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
    ids.add(slot.id);
    input.setAttribute("aria-describedby", [...ids].join(" "));
    first = first || input;
  }
  const box = document.getElementById("form-error");
  box.replaceChildren(el("strong", { text: t("edit.invalid") }),
    general.length ? el("ul", null, general.map((g) => el("li", { text: g }))) : null);
  box.hidden = false;
  (first || box).focus();
  if (!first) box.setAttribute("tabindex", "-1");
}

async function save(overwrite, etagOverride) {
  if (ed.saving) return;
  clearErrors();
  const data = body();
  ed.saving = true;
  const button = document.getElementById("save");
  button.disabled = true;
  try {
    let answer;
    if (ed.id) {
      const etag = etagOverride || `"${ed.resource.version}"`;
      answer = await GS.api(`/resources/${encodeURIComponent(ed.id)}`, {
        method: "PATCH", body: data, headers: { "If-Match": etag } });
    } else {
      answer = await GS.api("/resources", { method: "POST", body: data });
    }
    const saved = answer.properties;
    const message = t("edit.saved", { name: saved.name });
    if (ed.id) {
      const box = document.getElementById("view");
      await open(box, saved.id);
      Staff.setStatus(message);
      document.getElementById("editor-title").setAttribute("tabindex", "-1");
      document.getElementById("editor-title").focus();
    } else {
      Staff.state.flash = message;
      ed.dirty = false;
      location.hash = `#edit=${encodeURIComponent(saved.id)}`;
    }
  } catch (e) {
    if (e instanceof GS.ApiError && e.status === 412) showConflict(e);
    else if (e instanceof GS.ApiError && e.status === 422) showProblems(e.problems());
    else {
      const box = document.getElementById("form-error");
      if (box) {
        box.replaceChildren(el("strong", { text: Staff.errorText(e) }));
        box.hidden = false;
        box.setAttribute("tabindex", "-1");
        box.focus();
      }
    }
  } finally {
    if (ed) ed.saving = false;
    const b = document.getElementById("save");
    if (b) b.disabled = false;
  }
}

async function showConflict(error) {
  const box = document.getElementById("conflict");
  const etag = error.detail && error.detail.etag;
  // what the other person changed: the latest version against the one this form loaded
  let theirs = null;
  try {
    const latest = (await GS.api(`/resources/${encodeURIComponent(ed.id)}`)).properties;
    const mine = ed.resource;
    theirs = Object.keys(latest)
      .filter((k) => !SKIP.has(k) && k !== "category_label" && k !== "needs_location" &&
              k !== "deleted" && JSON.stringify(latest[k]) !== JSON.stringify(mine[k]))
      .map((k) => changeItem(k, mine[k], latest[k]));
  } catch (_) { /* deleted meanwhile, or no connection: the message alone */ }
  if (!ed) return;
  box.replaceChildren(
    el("strong", { text: t("conflict.title") }),
    el("p", { text: t("conflict.help") }),
    theirs && theirs.length ? el("div", { class: "staff-history" },
      el("p", { text: t("conflict.theirs") }), el("ul", null, theirs)) : null,
    el("div", { class: "staff-actions" },
      el("button", { type: "button", id: "conflict-reload", text: t("conflict.reload"),
                     onclick: () => open(document.getElementById("view"), ed.id) }),
      etag ? el("button", { type: "button", class: "secondary", id: "conflict-overwrite",
                            text: t("conflict.overwrite"), onclick: () => save(true, etag) }) : null));
  box.hidden = false;
  box.setAttribute("tabindex", "-1");
  box.focus();
}

async function remove() {
  try {
    await GS.api(`/resources/${encodeURIComponent(ed.id)}`, {
      method: "DELETE", headers: { "If-Match": `"${ed.resource.version}"` } });
    ed.dirty = false;
    Staff.state.flash = t("edit.deleted_done", { name: ed.resource.name });
    location.hash = "#deleted";
  } catch (e) {
    if (e instanceof GS.ApiError && e.status === 412) showConflict(e);
    else Staff.setStatus(Staff.errorText(e));
  }
}

/** The open editor's map (the browser tests move it). */
export const map = () => ed && ed.map;

/** Changes not saved yet (leaving then asks first). */
export const isDirty = () => Boolean(ed && ed.dirty && !ed.saving);
