"use strict";
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
 */
const StaffEditor = (() => {
  const { el, t } = GS;
  const KINDS = ["none", "polygon", "areas", "radius", "walk", "municipality"];
  let ed = null; // the open editor: {resource, map, layers, form nodes …}

  function close() {
    if (ed && ed.map) {
      ed.map.stop();
      ed.map.remove();
    }
    ed = null;
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

  // ------------------------------------------------------------------ fields

  /** A labelled input with its error slot; ``field`` is the server's name of it. */
  function field(id, fieldName, label, input, hint) {
    input.id = id;
    input.dataset.field = fieldName;
    const hintNode = hint ? el("p", { id: `${id}-hint`, class: "staff-hint", text: hint }) : null;
    if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
    return el("div", { class: "staff-field" }, el("label", { for: id, text: label }), hintNode,
      input, el("p", { id: `${id}-error`, class: "staff-field-error", hidden: true }));
  }

  const text = (value, attrs = {}) => el("input", { type: "text", value: value ?? "", ...attrs });
  const area = (value, attrs = {}) => {
    const node = el("textarea", { rows: 3, ...attrs });
    node.value = value ?? "";
    return node;
  };
  const select = (value, options) => {
    const node = el("select", null, options.map(([v, label]) => el("option", { value: v, text: label })));
    node.value = value ?? "";
    return node;
  };
  const val = (id) => {
    const v = document.getElementById(id).value.trim();
    return v === "" ? null : v;
  };
  const num = (id) => {
    const v = val(id);
    return v === null ? null : Number(v);
  };

  // ------------------------------------------------------------------ open

  async function open(box, id, live = () => true) {
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
    ed = { resource, id, polygon: null, areaIds: new Set(resource.service_area.area_ids || []),
           stops: resource.schedule.stops.map((s) => ({ ...s })), saving: false };
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
      isNew ? null : el("p", { class: "staff-meta", text: t("edit.meta", {
        category: GS.categoryLabel(r.category), area: Staff.areaName(r.area),
        verified: r.last_verified || t("list.never"), updated: Staff.formatDateTime(r.updated_at),
        version: r.version }) }),
      el("div", { class: "staff-edit-layout" },
        el("div", { class: "staff-edit-form" }, form),
        el("div", { class: "staff-edit-side" },
          el("p", { class: "staff-hint", text: t("edit.map_hint") }), mapBox,
          el("p", { id: "map-info", class: "staff-hint", "aria-live": "polite" }))),
      isNew ? null : el("section", { class: "staff-history", "aria-labelledby": "history-title" },
        el("h3", { id: "history-title", text: t("history.title") }),
        el("div", { id: "history" }, el("p", { class: "gs-muted", text: t("loading") }))));
    document.getElementById("e-category").addEventListener("change", showStops);
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

  /** Show the whole service area (or stops) with the place; else the place up close. */
  function fitToResource() {
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

  function today() {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }

  // ------------------------------------------------------------------ the map

  function setupMap(mapBox) {
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

  const polygonStyle = { color: "#6a3d9a", weight: 3, fillOpacity: 0.15 };

  /** Something was changed and not saved (leaving the editor then asks first). */
  function touched() {
    if (ed) ed.dirty = true;
  }

  function usePolygon(layer) {
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

  function info(message) {
    const node = document.getElementById("map-info");
    if (node) node.textContent = message;
  }

  /** Put the resource at [lat, lon] (null: no location); inputs and marker follow. */
  function setPlace(latlng, { pan = false } = {}) {
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

  function fromInputs() {
    const la = num("e-lat");
    const lo = num("e-lon");
    if (la !== null && lo !== null && Number.isFinite(la) && Number.isFinite(lo)) {
      setPlace([la, lo], { pan: true });
    }
  }

  function useCentre() {
    const c = ed.map.getCenter();
    setPlace([c.lat, c.lng]);
  }

  // ------------------------------------------------------------------ service area

  function currentKind() {
    const node = document.getElementById("e-sa-kind");
    return node ? node.value : "none";
  }

  function serviceAreaSection() {
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

  function showKind() {
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

  function drawAreas() {
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
  async function previewWalk() {
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

  function previewRadius() {
    if (!ed || currentKind() !== "radius") return;
    ed.preview.clearLayers();
    const lat = num("e-lat");
    const lon = num("e-lon");
    const metres = num("e-sa-radius");
    if (lat === null || lon === null || !(metres > 0)) return;
    L.circle([lat, lon], { radius: metres, pmIgnore: true, interactive: false,
                           color: "#1d6b2f", weight: 2, fillOpacity: 0.15 }).addTo(ed.preview);
  }

  function serviceArea() {
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

  // ------------------------------------------------------------------ 移動販売 stops

  function stopsSection() {
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

  function drawStops() {
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

  // ------------------------------------------------------------------ save

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
        .map((k) => el("li", null, el("span", { class: "staff-history-field", text: k }), ": ",
          el("del", { text: short(mine[k]) }), " → ", el("ins", { text: short(latest[k]) })));
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

  // ------------------------------------------------------------------ history

  const SKIP = new Set(["version", "updated_at", "created_at", "id"]);

  function short(v) {
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

  async function loadHistory() {
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
          el("time", { datetime: h.at, text: Staff.formatDateTime(h.at) }), " ",
          el("strong", { text: h.username || "?" }), " ",
          el("span", { class: "staff-badge", text: t(`history.${h.action}`) })),
        el("ul", null, changes));
    });
    box.replaceChildren(items.length ? el("ol", { class: "staff-history-list" }, items)
      : el("p", { text: t("history.none") }));
  }

  return { open, close, map: () => ed && ed.map, setPlace,
           isDirty: () => Boolean(ed && ed.dirty && !ed.saving) };
})();
