/*
 * Coordinator pages, the editor: 移動販売 stops, edited in the form and as
 * numbered markers dragged on the map.
 */
import * as GS from "./common.js";
import { ed, select, text, touched } from "./staff-editor-form.js";

const { el, t } = GS;

export function stopsSection() {
  return el("fieldset", { id: "e-stops", "data-field": "schedule.stops", tabindex: -1 },
    el("legend", { text: t("stops.title") }),
    el("p", { class: "staff-hint", text: t("stops.hint") }),
    el("div", { id: "stops-list" }),
    el("p", { id: "e-stops-error", class: "staff-field-error", hidden: true }),
    el("button", { type: "button", class: "secondary", id: "add-stop", text: t("stops.add"),
                   onclick: addStop }));
}

function addStop() {
  const c = ed.map.getCenter();
  const day = GS.WEEKDAYS.find((d) => document.querySelector(`input[name="weekday"][value="${d}"]`)?.checked) || "mon";
  ed.stops.push({ name: "", lat: round(c.lat), lon: round(c.lng), weekday: day, time: "10:00", minutes: 20 });
  drawStops();
  const inputs = document.querySelectorAll("#stops-list .staff-stop input");
  if (inputs.length) document.getElementById(`stop-${ed.stops.length - 1}-name`).focus();
}

const round = (v) => Math.round(v * 1e7) / 1e7;

export function drawStops() {
  touched();
  const list = document.getElementById("stops-list");
  if (!list) return;
  ed.stopsLayer.clearLayers();
  list.replaceChildren(...ed.stops.map((s, i) => {
    const n = i + 1;
    const upd = (key, cast = (v) => v) => (e) => {
      s[key] = cast(e.target.value);
      if (key === "lat" || key === "lon") drawStops();
    };
    const f = (key, label, input) => {
      input.id = `stop-${i}-${key}`;
      input.dataset.field = `schedule.stops.${i}.${key}`;
      return el("div", { class: "staff-field" }, el("label", { for: input.id, text: label }), input,
        el("p", { id: `${input.id}-error`, class: "staff-field-error", hidden: true }));
    };
    const marker = L.marker([s.lat, s.lon], {
      draggable: true, title: t("stops.marker", { n, name: s.name || "" }),
      icon: L.divIcon({ className: "staff-stop-icon", html: el("span", { text: String(n) }),
                        iconSize: [28, 28], iconAnchor: [14, 14] }) });
    marker.on("dragend", () => {
      const p = marker.getLatLng();
      s.lat = round(p.lat);
      s.lon = round(p.lng);
      drawStops();
    });
    marker.bindTooltip(() => el("span", { text: `${n}. ${s.name || ""} ${GS.weekdayLabel(s.weekday)} ${s.time}` }));
    marker.addTo(ed.stopsLayer);
    return el("div", { class: "staff-stop", role: "group", "aria-label": t("stops.group", { n }) },
      el("span", { class: "staff-stop-no", "aria-hidden": "true", text: String(n) }),
      f("name", t("stops.name"), text(s.name, { oninput: upd("name") })),
      f("weekday", t("stops.weekday"), (() => {
        const sel = select(s.weekday, GS.WEEKDAYS.map((d) => [d, GS.weekdayLabel(d)]));
        sel.addEventListener("change", upd("weekday"));
        return sel;
      })()),
      f("time", t("stops.time"), el("input", { type: "time", value: s.time || "", onchange: upd("time") })),
      f("minutes", t("stops.minutes"), el("input", { type: "number", min: 0, step: 5,
        value: s.minutes ?? "", onchange: upd("minutes", (v) => (v === "" ? null : Number(v))) })),
      f("lat", t("edit.lat"), el("input", { type: "number", step: "any", value: s.lat,
        onchange: upd("lat", Number) })),
      f("lon", t("edit.lon"), el("input", { type: "number", step: "any", value: s.lon,
        onchange: upd("lon", Number) })),
      el("button", { type: "button", class: "secondary", text: t("stops.remove"),
                     "aria-label": t("stops.remove_n", { n }),
                     onclick: () => { ed.stops.splice(i, 1); drawStops(); } }));
  }));
  if (!ed.stops.length) list.append(el("p", { class: "gs-muted", text: t("stops.none") }));
}
