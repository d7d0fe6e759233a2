/*
 * The residents' page (/): places and services near a point, by walking time.
 *
 * - The point comes from a tap on the map, the current location or an address (when the
 *   service has a geocoder); it is kept in the URL's hash (#at=lat,lon) with the view
 *   (#…&place=<id> the detail, #…&view=reach what serves the point), so every state can be
 *   linked to and the back button works. ?lat=&lon=&place= are read on first load too.
 * - The list and the map show the same items (GET /nearby, sorted by walking minutes,
 *   never by straight lines); the filters (category chips from /ui/config, today/weekday,
 *   free) apply to both. Everything from the registry goes into the page as text.
 */
import * as GS from "./common.js";

const { el, t } = GS;
const MINUTES = [10, 15, 20, 30];
const DEFAULT_MINUTES = 15;

const state = {
  origin: null,          // {lat, lon}
  view: "list",          // list | detail | reach
  place: null,           // id shown in the detail
  minutes: DEFAULT_MINUTES,
  cats: new Set(),       // selected categories (none: all)
  day: "",               // "" or mon … sun
  free: false,
  items: [],             // /nearby features of the origin
  loadedFor: null,       // "lat,lon,minutes" of items
  selected: null,        // id highlighted in list and map
  pushedDetail: false,   // the detail was opened from this page (back = history.back)
};
let map = null;
let cluster = null;
let homeMarker = null;
const markers = new Map(); // id → Leaflet marker
let seq = 0;               // the latest /nearby request
let areaCache = null;      // first area layer's polygons, for the list's handout link

// ---------------------------------------------------------------- URL state

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const q = new URLSearchParams(location.search);
  let origin = parseAt(h.get("at"));
  if (!origin && !location.hash) {
    const lat = parseFloat(q.get("lat"));
    const lon = parseFloat(q.get("lon"));
    if (isFinite(lat) && isFinite(lon)) origin = { lat, lon };
  }
  const place = h.get("place") || (!location.hash && q.get("place")) || null;
  const view = place ? "detail" : h.get("view") === "reach" ? "reach" : "list";
  return { origin, place, view };
}

function parseAt(text) {
  if (!text) return null;
  const [lat, lon] = text.split(",").map(Number);
  return isFinite(lat) && isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180
    ? { lat, lon } : null;
}

function hashFor({ origin = state.origin, place = null, view = "list" } = {}) {
  const h = new URLSearchParams();
  if (origin) h.set("at", `${origin.lat.toFixed(6)},${origin.lon.toFixed(6)}`);
  if (place) h.set("place", place);
  else if (view === "reach") h.set("view", "reach");
  return `#${h.toString()}`;
}

/** Go to a state: push a history entry (back returns) or replace the current one. */
function go(target, { push = true } = {}) {
  const hash = hashFor(target);
  const url = location.pathname + location.search + hash;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  route();
}

async function route() {
  const next = readHash();
  const previous = state.view;
  state.origin = next.origin;
  state.view = next.view;
  state.place = next.place;
  document.body.dataset.view = state.view;
  if (state.view !== "detail") state.pushedDetail = false;
  updateTabs();
  updateHome();
  if (state.origin) await loadNearby();
  for (const id of ["list-view", "detail-view", "reach-view"]) {
    document.getElementById(id).hidden = id !== `${state.view}-view`;
  }
  document.getElementById("where").hidden = state.view === "detail";
  if (state.view === "detail") {
    await showDetail(state.place);
  } else if (state.view === "reach") {
    await showReach();
  } else {
    renderList();
    if (previous === "detail" && state.selected) {
      const link = document.querySelector(`#results [data-id="${CSS.escape(state.selected)}"] a`);
      if (link) link.focus();
    }
  }
  if (map) setTimeout(() => map.invalidateSize(), 0);
}

// ---------------------------------------------------------------- the point

function setOrigin(lat, lon, label = null) {
  state.originLabel = label;
  const view = state.view === "reach" ? "reach" : "list";
  go({ origin: { lat, lon }, view }, { push: false });
}

/** Is the point outside the served region's extent? */
function outside({ lat, lon }) {
  const bounds = GS.config.region && GS.config.region.bounds;
  if (!bounds) return false;
  const [w, s, e, n] = bounds;
  return lon < w || lon > e || lat < s || lat > n;
}

function say(text, warn = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("gs-error", warn);
}

function locate() {
  if (!navigator.geolocation) {
    say(t("where.no_geolocation"), true);
    return;
  }
  say(t("where.locating"));
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      say("");
      state.fitOnLoad = true;  // the map shows the point and every place found from it
      setOrigin(pos.coords.latitude, pos.coords.longitude);
    },
    (err) => {
      say(err.code === 1 ? t("where.denied") : t("where.unavailable"), true);
    },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
}

async function searchAddress(event) {
  event.preventDefault();
  const q = document.getElementById("address").value.trim();
  const out = document.getElementById("address-results");
  out.replaceChildren();
  if (!q) return;
  say(t("loading"));
  let places;
  try {
    places = await GS.api(`/geocode?q=${encodeURIComponent(q)}`);
  } catch (e) {
    say(e.status === 503 || e.status === 502 ? t("where.geocoder_down")
      : e.status ? t("where.geocoder_error") : t("error.network"), true);
    return;
  }
  if (!places.length) {
    say(t("where.not_found", { q }), true);
    return;
  }
  say(t("where.found", { n: places.length }));
  for (const p of places) {
    out.append(el("li", {}, el("button", {
      type: "button", class: "secondary",
      onclick: () => {
        out.replaceChildren();
        say(t("where.chosen", { title: p.title }));
        state.fitOnLoad = true;  // the map shows the address and every place found from it
        setOrigin(p.lat, p.lon, p.title);
      },
    }, p.title)));
  }
  if (places.length === 1) out.querySelector("button").click();
}

function updateHome() {
  if (!map) return;
  if (!state.origin) {
    if (homeMarker) homeMarker.remove();
    homeMarker = null;
    return;
  }
  const ll = [state.origin.lat, state.origin.lon];
  if (!homeMarker) {
    // a pin: a dot on the point and 「ここ」 above it, drawn under the places' markers so
    // that a place at or next to the point stays visible and can be tapped
    const icon = L.divIcon({
      className: "r-home", iconSize: [44, 40], iconAnchor: [22, 40],
      html: el("span", {}, el("span", { class: "r-home-glyph", text: t("map.here") }),
               el("span", { class: "r-home-dot", "aria-hidden": "true" })),
    });
    homeMarker = L.marker(ll, { icon, keyboard: false, zIndexOffset: -1000, interactive: false })
      .addTo(map);
  } else {
    homeMarker.setLatLng(ll);
  }
}

// ---------------------------------------------------------------- nearby

async function loadNearby() {
  const key = `${state.origin.lat},${state.origin.lon},${state.minutes}`;
  if (state.loadedFor === key) {
    if (state.fitOnLoad) renderMarkers();  // the same places, shown again from this point
    return;
  }
  const mine = ++seq;
  if (outside(state.origin)) {  // the service answers 422 there: say it plainly
    state.items = [];
    state.loadedFor = key;
    say(t("where.outside"), true);
    document.getElementById("filters").hidden = true;
    renderMarkers();
    return;
  }
  say(t("loading"));
  try {
    const answer = await GS.api(
      `/nearby?lat=${state.origin.lat}&lon=${state.origin.lon}&minutes=${state.minutes}`);
    if (mine !== seq) return;
    state.items = answer.features;
    state.loadedFor = key;
    const found = t("list.found", { n: state.items.length, minutes: state.minutes });
    // the list's summary (a live region) says how many; the status only what is special
    say(state.originLabel ? t("where.from", { title: state.originLabel, found }) : "");
  } catch (e) {
    if (mine !== seq) return;
    state.items = [];
    state.loadedFor = null;
    say(e.status ? t("error.load", { detail: e.message }) : t("error.network"), true);
  }
  document.getElementById("filters").hidden = false;
  renderChips();
  renderMarkers();
}

function matches(item) {
  const p = item.properties;
  if (state.cats.size && !state.cats.has(p.category)) return false;
  if (state.free && !(p.fee && p.fee.kind === "free")) return false;
  if (state.day) {
    const s = p.schedule || {};
    const days = new Set([...(s.weekdays || []), ...(s.stops || []).map((x) => x.weekday)]);
    if (!days.has(state.day)) return false;
  }
  return true;
}

function shown() {
  return state.items.filter(matches);
}

function renderChips() {
  const counts = new Map();
  for (const f of state.items) {
    counts.set(f.properties.category, (counts.get(f.properties.category) || 0) + 1);
  }
  const present = GS.config.categories.map((c) => c.id)
    .filter((id) => counts.has(id) || state.cats.has(id));
  for (const id of [...counts.keys(), ...state.cats]) {  // categories outside the vocabulary
    if (!present.includes(id)) present.push(id);
  }
  const ul = document.getElementById("cat-chips");
  ul.replaceChildren(el("li", {}, el("button", {
    type: "button", class: "gs-chip", "aria-pressed": String(state.cats.size === 0),
    "data-cat": "", onclick: () => { state.cats.clear(); refresh(); },
  }, t("filter.all"))));
  for (const id of present) {
    const c = GS.category(id);
    const dot = el("span", { class: "r-chip-glyph", "aria-hidden": "true", text: c.icon });
    dot.style.borderColor = c.color;
    ul.append(el("li", {}, el("button", {
      type: "button", class: "gs-chip", "aria-pressed": String(state.cats.has(id)),
      "data-cat": id,
      onclick: () => {
        if (state.cats.has(id)) state.cats.delete(id); else state.cats.add(id);
        refresh();
      },
    }, dot, `${GS.categoryLabel(id)} `, el("span", { class: "r-count", text: t("filter.count", { n: counts.get(id) || 0 }) }))));
  }
  const today = GS.today();
  const todayChip = document.getElementById("chip-today");
  todayChip.textContent = t("filter.today", { day: GS.weekdayLabel(today) });
  todayChip.setAttribute("aria-pressed", String(state.day === today));
  document.getElementById("chip-free").setAttribute("aria-pressed", String(state.free));
  document.getElementById("day").value = state.day;
}

/** Filters changed: chips, list and map again (focus stays on the pressed chip). */
function refresh() {
  const active = document.activeElement;
  const cat = active && active.dataset ? active.dataset.cat : undefined;
  renderChips();
  renderList();
  renderMarkers();
  if (cat !== undefined) {
    const again = document.querySelector(`#cat-chips [data-cat="${CSS.escape(cat)}"]`);
    if (again) again.focus();
  }
}

function whenText(p) {
  const s = p.schedule || {};
  if (s.stops && s.stops.length) {
    const first = s.stops.map((x) => `${GS.weekdayLabel(x.weekday)} ${x.time || ""}`.trim());
    return t("mobile.stops_short", { days: [...new Set(first)].join("・") });
  }
  return GS.formatSchedule(s);
}

function renderList() {
  const ol = document.getElementById("results");
  const summary = document.getElementById("summary");
  ol.replaceChildren();
  if (!state.origin) {
    summary.textContent = t("list.no_point");
    document.getElementById("list-handout").hidden = true;
    return;
  }
  const items = shown();
  const filtered = state.cats.size || state.day || state.free;
  summary.textContent = items.length
    ? (filtered ? t("list.summary_filtered", { n: items.length, all: state.items.length })
      : t("list.summary", { n: items.length, minutes: state.minutes }))
    : (state.items.length ? t("list.none_filtered") : t("list.none", { minutes: state.minutes }));
  if (state.day) summary.append(" ", t("list.day_note"));
  for (const f of items) {
    const p = f.properties;
    const c = GS.category(p.category);
    const glyph = el("span", { class: "r-glyph", "aria-hidden": "true", text: c.icon });
    glyph.style.borderColor = c.color;
    const extra = [whenText(p), GS.formatFee(p.fee)]
      .filter(Boolean).join(t("list.sep"));
    const li = el("li", { class: "r-item", "data-id": p.id },
      el("a", {
        href: hashFor({ place: p.id }), class: "r-item-link",
        onclick: (e) => { e.preventDefault(); openDetail(p.id); },
        onfocus: () => highlight(p.id, { from: "list" }),
        onmouseenter: () => highlight(p.id, { from: "list" }),
      },
      glyph,
      el("span", { class: "r-item-main" },
        el("span", { class: "r-name", text: p.name }),
        el("span", { class: "r-cat", text: GS.categoryLabel(p.category) }),
        extra ? el("span", { class: "r-when", text: extra }) : null),
      el("span", { class: "r-walk" },
        el("strong", { text: t("walk.minutes", { minutes: GS.walkMinutes(p.walk_minutes) }) }),
        el("span", { text: t("walk.metres", { metres: Math.round(p.walk_distance_m).toLocaleString() }) }))));
    if (p.id === state.selected) li.classList.add("selected");
    ol.append(li);
  }
  listHandoutLink();
}

function openDetail(id) {
  state.selected = id;
  state.pushedDetail = true;
  go({ place: id });
}

// ---------------------------------------------------------------- map

/** Where an item is drawn: its point, or a mobile route's stop nearest the origin. */
function itemLatLng(p) {
  if (p.lat !== null && p.lat !== undefined && p.lon !== null && p.lon !== undefined) {
    return [p.lat, p.lon];
  }
  const stop = nearestStop(p);
  return stop ? [stop.lat, stop.lon] : null;
}

function nearestStop(p) {
  const stops = ((p.schedule || {}).stops || []).filter((s) => s.lat !== null && s.lon !== null);
  if (!stops.length) return null;
  if (!state.origin) return stops[0];
  const d = (s) => (s.lat - state.origin.lat) ** 2 +
    ((s.lon - state.origin.lon) * Math.cos(state.origin.lat * Math.PI / 180)) ** 2;
  return stops.reduce((a, b) => (d(b) < d(a) ? b : a));
}

function renderMarkers() {
  if (!map) return;
  cluster.clearLayers();
  markers.clear();
  const items = shown();
  for (const f of items) {
    const p = f.properties;
    const ll = itemLatLng(p);
    if (!ll) continue;
    const marker = L.marker(ll, {
      icon: GS.markerIcon(p.category, { size: 34, selected: p.id === state.selected }),
      title: p.name, keyboard: false, riseOnHover: true,
    });
    marker.bindPopup(() => popupFor(p), { minWidth: 180 });
    marker.bindTooltip(() => el("span", { text: p.name }), { direction: "top", offset: [0, -16] });
    marker.on("click", () => highlight(p.id, { from: "map" }));
    markers.set(p.id, marker);
    cluster.addLayer(marker);
  }
  if (state.origin && state.view !== "detail") {
    const points = items.map((f) => itemLatLng(f.properties)).filter(Boolean);
    points.push([state.origin.lat, state.origin.lon]);
    if (points.length > 1 && state.fitOnLoad) {
      map.fitBounds(points, { padding: [30, 30], maxZoom: 17, animate: false });
      state.fitOnLoad = false;
    }
  }
  placeHomeLabel();
}

/** 「ここ」 stands above its point, or below it when a place's marker is just above
 *  (the places are drawn over it; the label is turned away so that it stays readable). */
function placeHomeLabel() {
  const icon = homeMarker && homeMarker.getElement();
  if (!icon || !state.origin) return;
  const o = map.latLngToLayerPoint([state.origin.lat, state.origin.lon]);
  const above = shown().some((f) => {
    const ll = itemLatLng(f.properties);
    if (!ll) return false;
    const p = map.latLngToLayerPoint(ll);
    return Math.abs(p.x - o.x) < 42 && p.y <= o.y && o.y - p.y < 64;
  });
  icon.classList.toggle("r-home-below", above);
}

function popupFor(p) {
  return el("div", { class: "r-popup" },
    el("strong", { class: "r-popup-name", text: p.name }),
    el("div", { text: GS.categoryLabel(p.category) }),
    p.walk_minutes !== undefined ? el("div", { text: GS.walkText(p.walk_minutes, p.walk_distance_m) }) : null,
    el("a", { href: hashFor({ place: p.id }),
              onclick: (e) => { e.preventDefault(); openDetail(p.id); } }, t("list.more")));
}

function highlight(id, { from } = {}) {
  const previous = state.selected;
  state.selected = id;
  for (const li of document.querySelectorAll("#results .r-item")) {
    li.classList.toggle("selected", li.dataset.id === id);
  }
  for (const key of [previous, id]) {
    const m = markers.get(key);
    if (m) {
      const p = state.items.find((f) => f.properties.id === key);
      if (p) m.setIcon(GS.markerIcon(p.properties.category, { size: 34, selected: key === id }));
    }
  }
  if (from === "map") {
    const li = document.querySelector(`#results [data-id="${CSS.escape(id)}"]`);
    if (li) li.scrollIntoView({ block: "nearest", behavior: "smooth" });
  } else if (from === "list" && map) {
    const m = markers.get(id);
    if (m) {
      const parent = cluster.getVisibleParent(m);
      if (parent && parent !== m) cluster.zoomToShowLayer(m, () => {});
    }
  }
}

function makeMap() {
  map = GS.makeMap(document.getElementById("map"));
  cluster = L.markerClusterGroup({ maxClusterRadius: 40, disableClusteringAtZoom: 17,
                                   showCoverageOnHover: false });
  cluster.addTo(map);
  map.on("zoomend", placeHomeLabel);
  map.on("click", (e) => {
    if (state.view === "detail") return;
    setOrigin(e.latlng.lat, e.latlng.lng);
  });
  window.RESIDENT = { map, state, cluster, markers }; // for the browser tests
}

// ---------------------------------------------------------------- detail

function telHref(tel) {
  const digits = String(tel).replace(/[^0-9+]/g, "");
  return digits ? `tel:${digits}` : null;
}

function row(label, ...value) {
  const parts = value.flat().filter((v) => v !== null && v !== undefined && v !== "");
  if (!parts.length) return null;
  return [el("dt", { text: label }), el("dd", {}, ...parts)];
}

async function showDetail(id) {
  const section = document.getElementById("detail-view");
  section.replaceChildren(el("p", { text: t("loading") }));
  let feature;
  try {
    feature = await GS.api(`/resources/${encodeURIComponent(id)}`);
  } catch (e) {
    section.replaceChildren(
      el("h2", { id: "detail-name", tabindex: "-1", text: t("detail.missing") }),
      el("p", { class: "gs-error", text: e.status === 404 ? t("detail.not_found") : t("error.network") }),
      backButton());
    section.querySelector("h2").focus();
    return;
  }
  if (state.place !== id) return;
  const p = feature.properties;
  state.selected = id;
  let near = state.items.find((f) => f.properties.id === id);
  const cap = GS.config.nearby_max_minutes || 30;
  if (!near && state.origin && !outside(state.origin) && state.minutes < cap &&
      (p.lat !== null || ((p.schedule || {}).stops || []).length)) {
    try {  // farther than the list's walking time: ask for the longest walk
      const wider = await GS.api(`/nearby?lat=${state.origin.lat}&lon=${state.origin.lon}` +
        `&minutes=${cap}&category=${encodeURIComponent(p.category)}`);
      near = wider.features.find((f) => f.properties.id === id);
    } catch (_) { /* said below */ }
    if (state.place !== id) return;
  }
  const c = GS.category(p.category);
  const glyph = el("span", { class: "r-glyph", "aria-hidden": "true", text: c.icon });
  glyph.style.borderColor = c.color;
  const walk = near
    ? el("p", { class: "r-detail-walk" }, t("detail.from_here"), " ",
      el("strong", { text: GS.walkText(near.properties.walk_minutes, near.properties.walk_distance_m) }))
    : el("p", { class: "r-hint", text: state.origin ? t("detail.far", { minutes: cap })
                                                     : t("detail.no_point") });
  const s = p.schedule || {};
  const stops = (s.stops || []).length
    ? el("ul", { class: "r-stops" }, s.stops.map((x) => el("li", {
      text: t("mobile.stop", { name: x.name || "", day: GS.weekdayLabel(x.weekday),
                               time: x.time || "", minutes: x.minutes || "" }) })))
    : null;
  const tel = p.contact && p.contact.tel;
  const web = p.contact && p.contact.url && /^https?:\/\//i.test(p.contact.url) ? p.contact.url : null;
  const handout = new URLSearchParams({ place: id });
  if (GS.lang === "en") handout.set("lang", "en");
  const dl = el("dl", { class: "r-facts" },
    row(t("detail.what"), p.description),
    row(t("detail.when"), GS.formatSchedule(s), stops),
    row(t("detail.fee"), GS.formatFee(p.fee) || t("fee.unknown")),
    row(t("detail.apply"), p.how_to_apply),
    row(t("detail.for"), p.target_users),
    row(t("detail.area"), p.service_area && p.service_area.text),
    row(t("detail.address"), p.address),
    row(t("detail.tel"), tel ? el("a", { href: telHref(tel), class: "r-tel", text: tel }) : null),
    row(t("detail.web"), web ? el("a", { href: web, rel: "noopener noreferrer", text: web }) : null),
    row(t("detail.operator"), p.operator),
    row(t("detail.notes"), p.notes),
    row(t("detail.verified"), GS.dateWords(p.last_verified)));
  section.replaceChildren(
    el("div", { class: "r-detail-actions" }, backButton()),
    el("h2", { id: "detail-name", tabindex: "-1", class: "r-detail-name" }, glyph, el("span", { text: p.name })),
    el("p", { class: "r-cat", text: GS.categoryLabel(p.category) }),
    walk, dl,
    el("p", { class: "r-detail-links" },
      el("a", { class: "gs-button secondary", href: `/handout?${handout}`, text: t("detail.handout") })));
  section.querySelector("h2").focus();
  const ll = itemLatLng(p);
  if (map && ll) {
    if (!markers.has(id)) {
      const m = L.marker(ll, { icon: GS.markerIcon(p.category, { size: 34, selected: true }),
                               title: p.name, keyboard: false });
      m.bindTooltip(() => el("span", { text: p.name }), { direction: "top", offset: [0, -16] });
      markers.set(id, m);
      cluster.addLayer(m);
    }
    highlight(id, {});
    const marker = markers.get(id);
    cluster.zoomToShowLayer(marker, () => {
      const pts = [ll];
      if (state.origin) pts.push([state.origin.lat, state.origin.lon]);
      map.fitBounds(pts, { padding: [40, 40], maxZoom: 17 });
    });
  }
}

function backButton() {
  return el("button", {
    type: "button", class: "secondary r-back",
    onclick: () => {
      if (state.pushedDetail) {
        state.pushedDetail = false;
        history.back();
      } else {
        go({ view: "list" });
      }
    },
  }, t("detail.back"));
}

// ---------------------------------------------------------------- reach

async function showReach() {
  const section = document.getElementById("reach-view");
  const heading = el("h2", { id: "reach-heading", tabindex: "-1", text: t("reach.heading") });
  if (!state.origin) {
    section.replaceChildren(heading, el("p", { text: t("list.no_point") }));
    return;
  }
  if (outside(state.origin)) {
    section.replaceChildren(heading, el("p", { class: "gs-error", text: t("where.outside") }));
    return;
  }
  section.replaceChildren(heading, el("p", { text: t("loading") }));
  let answer;
  try {
    answer = await GS.api(`/reach?lat=${state.origin.lat}&lon=${state.origin.lon}`);
  } catch (e) {
    section.replaceChildren(heading, el("p", { class: "gs-error",
      text: e.status ? t("error.load", { detail: e.message }) : t("error.network") }));
    return;
  }
  if (state.view !== "reach") return;
  const services = el("ul", { class: "r-cards" });
  for (const f of answer.features) {
    const p = f.properties;
    const tel = p.contact && p.contact.tel;
    services.append(el("li", { class: "r-card" },
      el("h4", {}, el("a", { href: hashFor({ place: p.id }),
                             onclick: (e) => { e.preventDefault(); openDetail(p.id); },
                             text: p.name })),
      el("p", { class: "r-cat", text: GS.categoryLabel(p.category) }),
      p.description ? el("p", { text: p.description }) : null,
      el("dl", { class: "r-facts compact" },
        row(t("reach.area"), p.service_area && p.service_area.text ? p.service_area.text : t("reach.area_here")),
        row(t("detail.when"), GS.formatSchedule(p.schedule)),
        row(t("detail.fee"), GS.formatFee(p.fee) || null),
        row(t("detail.tel"), tel ? el("a", { href: telHref(tel), class: "r-tel", text: tel }) : null))));
  }
  const threshold = Math.round(answer.threshold_m);
  const speed = (GS.config.region && GS.config.region.walking_speed_m_per_min) || 60;
  const walkList = el("ul", { class: "r-walkable" });
  for (const w of answer.walkable) {
    walkList.append(await walkableRow(w, answer));
  }
  section.replaceChildren(heading,
    el("p", { class: "r-hint", text: t("reach.intro") }),
    el("h3", { text: t("reach.services") }),
    answer.features.length ? services : el("p", { text: t("reach.no_services") }),
    el("h3", { text: t("reach.walkable", { metres: threshold.toLocaleString(),
                                           minutes: GS.walkMinutes(threshold / speed) }) }),
    walkList);
  heading.focus();
}

async function walkableRow(w, answer) {
  const label = GS.categoryLabel(w.category);
  const li = el("li", {}, el("strong", { text: label }), el("br"));
  const link = w.nearest_id
    ? el("a", { href: hashFor({ place: w.nearest_id }),
                onclick: (e) => { e.preventDefault(); openDetail(w.nearest_id); },
                text: w.nearest_name || "" })
    : null;
  const how = w.minutes !== null && w.minutes !== undefined
    ? GS.walkText(w.minutes, w.distance_m)
    : w.distance_m !== null && w.distance_m !== undefined
      ? t("walk.metres_only", { metres: Math.round(w.distance_m).toLocaleString() }) : "";
  if (w.within_threshold && w.count > 0) {
    li.append(t("reach.within", { n: w.count }), t("reach.nearest"), link,
              how ? t("reach.how", { how }) : t("reach.end"));
  } else if (w.nearest_id) {
    li.append(t("reach.none_within"), t("reach.nearest"), link,
              how ? t("reach.how", { how }) : t("reach.end"));
  } else {
    li.append(t("reach.none_at_all", { metres: Math.round(answer.search_limit_m).toLocaleString() }));
  }
  if (w.nearest_id && GS.category(w.category).kind === "mobile") {
    try {
      const route = (await GS.api(`/resources/${encodeURIComponent(w.nearest_id)}`)).properties;
      const stop = nearestStop(route);
      if (stop) {
        li.append(el("br"), t("reach.stop", { name: stop.name || "", day: GS.weekdayLabel(stop.weekday),
                                               time: stop.time || "", minutes: stop.minutes || "" }));
      }
    } catch (_) { /* the sentence above is enough */ }
  }
  return li;
}

// ---------------------------------------------------------------- tabs, handout

function updateTabs() {
  const tabs = document.getElementById("tabs");
  tabs.hidden = !state.origin || state.view === "detail";
  const list = document.getElementById("tab-list");
  const reach = document.getElementById("tab-reach");
  list.href = hashFor({ view: "list" });
  reach.href = hashFor({ view: "reach" });
  if (state.view === "reach") {
    reach.setAttribute("aria-current", "page");
    list.removeAttribute("aria-current");
  } else {
    list.setAttribute("aria-current", "page");
    reach.removeAttribute("aria-current");
  }
}

async function listHandoutLink() {
  const p = document.getElementById("list-handout");
  const layer = GS.config.region && GS.config.region.area_layers[0];
  if (!state.origin || !layer) {
    p.hidden = true;
    return;
  }
  try {
    if (!areaCache) areaCache = await GS.api(`/areas/${encodeURIComponent(layer.id)}`);
  } catch (_) {
    p.hidden = true;
    return;
  }
  const area = areaCache.features.find((f) => f.geometry && contains(f.geometry, state.origin));
  if (!area) {
    p.hidden = true;
    return;
  }
  const q = new URLSearchParams({ layer: layer.id, area: area.id });
  if (GS.lang === "en") q.set("lang", "en");
  p.replaceChildren(el("a", { class: "gs-button secondary", href: `/handout?${q}`,
                              text: t("list.handout", { area: area.properties.name }) }));
  p.hidden = false;
}

/** Is the point in the (Multi)Polygon? (even-odd rule on lon/lat) */
function contains(geometry, { lat, lon }) {
  const polys = geometry.type === "Polygon" ? [geometry.coordinates]
    : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polys.some((rings) => {
    let inside = false;
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i];
        const [xj, yj] = ring[j];
        if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) {
          inside = !inside;
        }
      }
    }
    return inside;
  });
}

// ---------------------------------------------------------------- start

async function start() {
  await GS.init("resident");
  document.getElementById("nav").append(GS.languageLink());
  const minutes = document.getElementById("minutes");
  const cap = GS.config.nearby_max_minutes || 30;
  for (const m of MINUTES.filter((x) => x <= cap)) {
    minutes.append(el("option", { value: m, text: t("where.minutes_option", { minutes: m }) }));
  }
  state.minutes = Math.min(DEFAULT_MINUTES, cap);
  minutes.value = String(state.minutes);
  minutes.addEventListener("change", () => {
    state.minutes = Number(minutes.value);
    state.fitOnLoad = true;
    route();
  });
  const day = document.getElementById("day");
  day.append(el("option", { value: "", text: t("filter.any_day") }));
  for (const d of GS.WEEKDAYS) day.append(el("option", { value: d, text: GS.weekdayLabel(d) }));
  day.addEventListener("change", () => { state.day = day.value; refresh(); });
  document.getElementById("chip-today").addEventListener("click", () => {
    state.day = state.day === GS.today() ? "" : GS.today();
    refresh();
    document.getElementById("chip-today").focus();
  });
  document.getElementById("chip-free").addEventListener("click", () => {
    state.free = !state.free;
    refresh();
    document.getElementById("chip-free").focus();
  });
  document.getElementById("locate").addEventListener("click", locate);
  if (GS.config.geocoder) {
    const form = document.getElementById("address-form");
    form.hidden = false;
    form.addEventListener("submit", searchAddress);
  }
  for (const id of ["tab-list", "tab-reach"]) {
    document.getElementById(id).addEventListener("click", (e) => {
      e.preventDefault();
      go({ view: id === "tab-reach" ? "reach" : "list" });
    });
  }
  makeMap();
  state.fitOnLoad = true;
  if (!GS.config.region) {  // a service without a region has no walking routes
    say(t("where.no_region"), true);
    document.getElementById("locate").disabled = true;
    GS.ready();
    return;
  }
  window.addEventListener("popstate", () => route()); // back, forward, a typed #hash
  await route();
  GS.ready();
}

document.addEventListener("DOMContentLoaded", start);
