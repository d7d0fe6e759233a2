/*
 * The council and planner page (/council): the shopping-difficulty map (買い物環境マップ) per
 * boundary layer, the shares beyond the walking threshold along streets and in a straight
 * line side by side, the coverage of community resources per area, and a profile per area.
 *
 * - Classes, colours and labels of the choropleth come from GS.config.difficulty
 *   (layers/difficulty.toml); nothing of the kind is written here.
 * - Selecting an area on the map, in a table or by the address (#layer=…&area=…) selects it
 *   everywhere: its outline on the map, its rows, its profile.
 * - Every text from the registry or a boundary file reaches the page through textContent
 *   (GS.el); Leaflet's tooltips and labels are given DOM nodes, never HTML strings.
 * - The tables are the accessible equivalent of the map: every number the map shows is in
 *   them; they sort (buttons in the headers, aria-sort) and download as CSV (UTF-8 BOM).
 */
import * as GS from "./common.js";

const { el, t } = GS;
const state = {
  layer: null, // layer id
  difficulty: [], // features' properties (+ _feature)
  profiles: new Map(), // area_id → profile
  selected: null,
  map: null,
  areaLayer: null,
  labels: null,
  paths: new Map(), // area_id → Leaflet layer
  tables: {},
  loadId: 0,
  noStores: null, // why nothing about shopping is shown: the region has no food stores
};
const MAX_LABELS = 40;

// ------------------------------------------------------------------ formatting

const en = () => GS.lang === "en";
const num = (x) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x));
const pct1 = (x) => (num(x) === null ? null : Math.round(x * 1000) / 10);
const fmtPct = (x) => (num(x) === null ? "—" : `${pct1(x).toFixed(1)}%`);
const fmtPeople = (x) => (num(x) === null ? "—"
  : t("unit.people", { n: Math.round(x).toLocaleString() }));
const fmtM = (x) => (num(x) === null ? t("unreachable")
  : `${Math.round(x).toLocaleString()} m`);
const paren = (text) => (en() ? `(${text})` : `（${text}）`);
const threshold = () => (GS.config.region ? GS.config.region.threshold_m : 500);

const { classIndex, classColor, layerLabel } = GS;

function classLabel(share) {
  const d = GS.config.difficulty;
  const i = classIndex(share);
  if (i < 0) return en() ? d.no_data_label_en : d.no_data_label;
  return (en() ? d.labels_en : d.labels)[i];
}

function swatch(color) {
  const s = el("span", { class: "c-swatch", "aria-hidden": "true" });
  s.style.background = color;
  return s;
}

// ------------------------------------------------------------------ start

async function start() {
  await GS.init("council");
  const nav = document.getElementById("nav");
  nav.prepend(el("a", { href: "/" }, t("nav.resident")),
              el("a", { href: "/staff" }, t("nav.staff")),
              el("a", { href: "/council", "aria-current": "page" }, t("nav.council")));
  nav.append(GS.languageLink());
  document.getElementById("print").addEventListener("click", () => window.print());
  if (GS.token()) { // staff-only resources are shown too: not for a public handout
    document.getElementById("region-line").before(
      el("p", { class: "gs-error", id: "staff-note" }, t("staff.note")));
  }
  const region = GS.config.region;
  const status = document.getElementById("status");
  if (!region || !region.area_layers.length) {
    status.textContent = t("no_region");
    status.classList.add("gs-error");
    return;
  }
  const th = threshold();
  document.getElementById("coverage-note").textContent = t("coverage.note",
    { threshold: th });
  const select = document.getElementById("layer");
  for (const layer of region.area_layers) {
    select.append(el("option", { value: layer.id }, layerLabel(layer)));
  }
  select.addEventListener("change", () => {
    setHash(select.value, null);
    load(select.value, null);
  });
  document.getElementById("difficulty-csv").addEventListener("click",
    () => downloadTable("difficulty"));
  document.getElementById("coverage-csv").addEventListener("click",
    () => downloadTable("coverage"));
  state.map = GS.makeMap(document.getElementById("map"));
  state.map.options.zoomSnap = 0.25; // fit small regions closely (a phone's narrow map)
  // a printed map has another size: fit the areas to it, and back after printing
  const refit = () => {
    state.map.invalidateSize();
    if (state.areaLayer && state.difficulty.length) {
      state.map.fitBounds(state.areaLayer.getBounds(), { padding: [8, 8] });
    }
  };
  window.matchMedia("print").addEventListener("change", refit);
  window.addEventListener("beforeprint", refit);
  window.addEventListener("afterprint", refit);
  document.getElementById("print-note").textContent = t("print.note", {
    date: new Date().toLocaleDateString(en() ? "en-GB" : "ja-JP"), version: GS.config.version,
  });
  window.addEventListener("hashchange", () => fromHash());
  await fromHash();
}

function readHash() {
  const h = new URLSearchParams(location.hash.replace(/^#/, ""));
  return { layer: h.get("layer"), area: h.get("area") };
}

function setHash(layer, area) {
  const h = new URLSearchParams();
  h.set("layer", layer);
  if (area) h.set("area", area);
  history.replaceState(null, "", `${location.pathname}${location.search}#${h}`);
}

async function fromHash() {
  const layers = GS.config.region.area_layers;
  const want = readHash();
  const layer = layers.find((l) => l.id === want.layer || l.name === want.layer) || layers[0];
  document.getElementById("layer").value = layer.id;
  if (layer.id !== state.layer) {
    await load(layer.id, want.area);
  } else if (want.area !== state.selected) {
    select(want.area, { from: "hash" });
  }
}

// ------------------------------------------------------------------ loading a layer

async function load(layerId, area) {
  const id = ++state.loadId;
  const status = document.getElementById("status");
  status.classList.remove("gs-error");
  status.textContent = t("loading");
  document.body.dataset.loading = "1";
  const [diff, prof] = await Promise.allSettled([
    GS.api(`/difficulty/${encodeURIComponent(layerId)}`),
    GS.api(`/profiles/${encodeURIComponent(layerId)}`),
  ]);
  if (id !== state.loadId) return; // a later choice won
  state.layer = layerId;
  state.selected = null;
  state.difficulty = diff.status === "fulfilled"
    ? diff.value.features.map((f) => ({ ...f.properties, _feature: f })) : [];
  state.profiles = new Map(prof.status === "fulfilled"
    ? prof.value.areas.map((a) => [a.area_id, a]) : []);
  state.noStores = diff.status === "fulfilled" && diff.value.stores_source === "none"
    ? diff.value.note : null;
  const problems = [diff, prof].filter((r) => r.status === "rejected")
    .map((r) => r.reason.message);
  const layer = GS.config.region.area_layers.find((l) => l.id === layerId);
  document.getElementById("map-caption").textContent = t(state.noStores
    ? "map.caption_no_stores" : "map.caption");
  renderNotes();
  drawMap();
  renderTables();
  renderProfile();
  if (problems.length) {
    status.textContent = t("error.load", { detail: problems.join(" / ") });
    status.classList.add("gs-error");
  } else if (state.noStores) { // said plainly; what can be shown is shown
    status.textContent = t("no_stores", { note: state.noStores });
    status.classList.add("gs-error");
  } else {
    status.textContent = t("loaded", { layer: layerLabel(layer), n: layer.areas });
  }
  delete document.body.dataset.loading;
  document.body.dataset.layer = layerId;
  if (area && (state.profiles.has(area) || state.paths.has(area))) {
    select(area, { from: "hash" });
  }
  if (GS.ready) GS.ready();
}

// ------------------------------------------------------------------ map

/** The lines that say what the map and the tables show: the shares beyond the walk, or,
 *  in a region without food stores, the areas and their people 65+ only. */
function renderNotes() {
  const region = GS.config.region;
  const th = threshold();
  const line = document.getElementById("region-line");
  if (state.noStores) {
    line.textContent = t("region.line_no_stores", { name: region.name });
    document.getElementById("method-note").textContent = "";
    document.getElementById("difficulty-note").textContent = t("difficulty.no_stores");
    document.getElementById("legend").replaceChildren(
      el("p", { class: "c-legend-title" }, t("legend.no_stores")));
    return;
  }
  line.textContent = t("region.line", {
    name: region.name, threshold: th, speed: Math.round(region.walking_speed_m_per_min),
  });
  document.getElementById("method-note").textContent = t("method.note", { threshold: th });
  document.getElementById("difficulty-note").textContent = t("difficulty.note",
    { threshold: th });
  renderLegend();
}

function renderLegend() {
  const d = GS.config.difficulty;
  const box = document.getElementById("legend");
  const title = (en() ? d.legend_title_en : d.legend_title)
    .replace("{threshold}", String(threshold()));
  box.replaceChildren(
    el("h3", { class: "c-legend-title", id: "legend-title" }, title),
    el("ul", { class: "c-legend-list", "aria-labelledby": "legend-title" },
       GS.classLegend().map(([c, label]) => el("li", {}, swatch(c), label))));
}

function areaStyle(p, selected) {
  return {
    fillColor: state.noStores ? "#ffffff" : classColor(p.beyond_share),
    fillOpacity: state.noStores ? 0.3 : 0.65,
    color: selected ? "#000000" : "#333333", weight: selected ? 4 : 1.2,
  };
}

function drawMap() {
  const map = state.map;
  if (state.areaLayer) map.removeLayer(state.areaLayer);
  if (state.labels) map.removeLayer(state.labels);
  state.paths = new Map();
  const features = state.difficulty.map((p) => p._feature);
  state.areaLayer = L.geoJSON(features, {
    style: (f) => areaStyle(f.properties, false),
    onEachFeature: (f, layer) => {
      const p = f.properties;
      state.paths.set(String(p.area_id), layer);
      layer.bindTooltip(() => el("div", { class: "c-tip" },
        el("strong", {}, p.name), ...(state.noStores
          ? [el("div", {}, `${t("col.pop65")} ${fmtPeople(p.pop_65plus)}`)]
          : [el("div", {}, t("tip.beyond", { share: fmtPct(p.beyond_share),
                                             threshold: threshold() })),
             el("div", {}, t("tip.straight", { share: fmtPct(p.beyond_share_straight) }))])),
      { sticky: true });
      layer.on("click", () => select(String(p.area_id), { from: "map" }));
    },
  }).addTo(map);
  for (const [id, layer] of state.paths) {
    const path = layer.getElement && layer.getElement();
    if (path) {
      path.setAttribute("data-area-id", id);
      path.setAttribute("data-class", String(classIndex(layer.feature.properties.beyond_share)));
    }
  }
  state.labels = L.layerGroup();
  if (features.length && features.length <= MAX_LABELS) {
    for (const layer of state.paths.values()) {
      const center = layer.getBounds().getCenter();
      L.marker(center, {
        interactive: false, keyboard: false,
        icon: L.divIcon({ className: "c-area-label", iconSize: null,
                          html: el("span", {}, layer.feature.properties.name, el("br"),
                                   el("span", { class: "c-area-share" }, state.noStores
                                     ? fmtPeople(layer.feature.properties.pop_65plus)
                                     : fmtPct(layer.feature.properties.beyond_share))) }),
      }).addTo(state.labels);
    }
  }
  state.labels.addTo(map);
  if (features.length) map.fitBounds(state.areaLayer.getBounds(), { padding: [8, 8] });
}

// ------------------------------------------------------------------ selection

function select(areaId, { from } = {}) {
  if (!areaId) return;
  const previous = state.selected;
  state.selected = areaId;
  if (previous && state.paths.has(previous)) {
    const old = state.paths.get(previous);
    old.setStyle(areaStyle(old.feature.properties, false));
  }
  const layer = state.paths.get(areaId);
  if (layer) {
    layer.setStyle(areaStyle(layer.feature.properties, true));
    layer.bringToFront();
  }
  for (const row of document.querySelectorAll("tr[data-area-id]")) {
    if (row.dataset.areaId === areaId) {
      row.setAttribute("aria-current", "true");
      row.classList.add("c-selected");
    } else {
      row.removeAttribute("aria-current");
      row.classList.remove("c-selected");
    }
  }
  renderProfile();
  if (from !== "hash") setHash(state.layer, areaId);
  if (from === "table") {
    if (layer) state.map.panInsideBounds(state.map.getBounds().extend(layer.getBounds()));
    const profile = document.getElementById("profile");
    profile.focus({ preventScroll: true });
    profile.scrollIntoView({ block: "nearest" });
  }
}

// ------------------------------------------------------------------ profile

function renderProfile() {
  const body = document.getElementById("profile-body");
  const id = state.selected;
  const d = state.difficulty.find((p) => String(p.area_id) === id);
  const prof = state.profiles.get(id);
  if (!id || (!d && !prof)) {
    body.replaceChildren(el("p", { class: "gs-muted" }, t("profile.empty")));
    return;
  }
  const name = (d && d.name) || prof.name;
  const pages = (path) => `/${path}/${encodeURIComponent(state.layer)}/${encodeURIComponent(id)}`;
  const parts = [el("h3", { class: "c-profile-name", id: "profile-name" }, name),
    el("p", { class: "c-print-links gs-no-print" },
      el("a", { href: pages("karte"), id: "karte-link" }, t("profile.karte")), " · ",
      el("a", { href: pages("booklet"), id: "booklet-link" }, t("profile.booklet")))];
  const rows = [];
  const item = (label, ...value) => rows.push(el("dt", {}, label), el("dd", {}, ...value));
  const th = threshold();
  if (d && state.noStores) {
    item(t("profile.pop65"), el("span", { "data-field": "pop_65plus" },
                                fmtPeople(d.pop_65plus)));
    parts.push(el("p", { class: "gs-muted c-no-stores" }, state.noStores));
  } else if (d) {
    parts.push(el("p", { class: "c-class" }, swatch(classColor(d.beyond_share)),
                  classLabel(d.beyond_share)));
    item(t("profile.pop65"), el("span", { "data-field": "pop_65plus" },
                                fmtPeople(d.pop_65plus)));
    item(t("profile.beyond_network", { threshold: th }),
         el("span", { "data-field": "beyond_share" }, fmtPct(d.beyond_share)),
         " ", paren(fmtPeople(d.beyond_65plus)));
    item(t("profile.beyond_straight", { threshold: th }),
         el("span", { "data-field": "beyond_share_straight" }, fmtPct(d.beyond_share_straight)),
         " ", paren(fmtPeople(d.beyond_65plus_straight)));
    item(t("profile.median"), fmtM(d.median_m));
    item(t("profile.p90"), fmtM(d.p90_m));
    item(t("profile.stores"), t("profile.stores_value",
      { inside: d.stores_in_area, near: d.stores_near_area, threshold: th }));
  } else {
    item(t("profile.pop65"), el("span", { "data-field": "pop_65plus" },
                                fmtPeople(prof.pop_65plus)));
  }
  parts.push(el("dl", { class: "c-dl" }, rows));
  if (d && num(d.beyond_share) !== null && num(d.beyond_share_straight) !== null) {
    const gap = pct1(d.beyond_share) - pct1(d.beyond_share_straight);
    parts.push(el("p", { class: "c-understate" }, t(gap > 0.05 ? "profile.gap" : "profile.no_gap",
      { gap: gap.toFixed(1), threshold: th })));
  }
  if (prof) {
    const cats = prof.categories;
    const food = Object.entries(cats).filter(([k]) => GS.category(k).food);
    const gathering = new Set(((GS.config.layers.find((l) => l.id === "gathering_places")
      || { categories: [] }).categories).map((c) => c.id));
    const places = Object.entries(cats).filter(([k]) => gathering.has(k));
    parts.push(listSection(t("profile.food_stores"),
      food.flatMap(([k, c]) => c.located.map((r) => [r.name, GS.categoryLabel(k)])),
      t("profile.none_in_area")));
    parts.push(listSection(t("profile.gathering"),
      places.flatMap(([k, c]) => c.located.map((r) => [r.name, GS.categoryLabel(k)])),
      t("profile.none_in_area"),
      places.filter(([, c]) => num(c.share_65plus_within_walk) !== null).map(([k, c]) =>
        t("profile.within_walk", { category: GS.categoryLabel(k), threshold: th,
                                   share: fmtPct(c.share_65plus_within_walk) }))));
    const services = Object.entries(cats).filter(([, c]) => c.covering.length);
    parts.push(el("h4", {}, t("profile.services")));
    if (!services.length) {
      parts.push(el("p", { class: "gs-muted" }, t("profile.no_services")));
    } else {
      parts.push(el("ul", { class: "c-list", "data-field": "services" }, services.map(([k, c]) =>
        el("li", {},
           el("strong", {}, GS.categoryLabel(k)), en() ? ": " : "：", statusText(c),
           el("ul", {}, c.covering.map((s) => el("li", {}, s.name, " ",
             el("span", { class: "gs-muted" }, t("profile.service_share",
               { share: fmtPct(s.share_65plus) })))))))));
    }
  }
  body.replaceChildren(...parts);
}

function listSection(heading, items, empty, notes = []) {
  const out = [el("h4", {}, heading)];
  out.push(items.length
    ? el("ul", { class: "c-list" }, items.map(([name, label]) =>
        el("li", {}, name, " ", el("span", { class: "gs-muted" }, paren(label)))))
    : el("p", { class: "gs-muted" }, empty));
  for (const n of notes) out.push(el("p", { class: "c-small" }, n));
  return el("div", {}, out);
}

function statusText(c) {
  if (c.status === "covered") return t("status.covered");
  if (c.status === "partly") {
    return num(c.share_65plus_covered) === null ? t("status.partly_unknown")
      : t("status.partly", { share: fmtPct(c.share_65plus_covered) });
  }
  return t("status.none");
}

// ------------------------------------------------------------------ tables

/** The columns of the shopping-difficulty table. */
function difficultyColumns() {
  const th = threshold();
  return [
    { key: "pop_65plus", label: t("col.pop65"), numeric: true, value: (r) => num(r.pop_65plus),
      text: (r) => fmtPeople(r.pop_65plus), csv: (r) => round0(r.pop_65plus) },
    { key: "beyond_share", group: "network", label: t("col.share"), numeric: true,
      value: (r) => num(r.beyond_share),
      text: (r) => [swatch(classColor(r.beyond_share)), fmtPct(r.beyond_share)],
      csv: (r) => pct1(r.beyond_share) },
    { key: "beyond_65plus", group: "network", label: t("col.people"), numeric: true,
      value: (r) => num(r.beyond_65plus), text: (r) => fmtPeople(r.beyond_65plus),
      csv: (r) => round0(r.beyond_65plus) },
    { key: "beyond_share_straight", group: "straight", label: t("col.share"), numeric: true,
      value: (r) => num(r.beyond_share_straight), text: (r) => fmtPct(r.beyond_share_straight),
      csv: (r) => pct1(r.beyond_share_straight) },
    { key: "beyond_65plus_straight", group: "straight", label: t("col.people"), numeric: true,
      value: (r) => num(r.beyond_65plus_straight),
      text: (r) => fmtPeople(r.beyond_65plus_straight),
      csv: (r) => round0(r.beyond_65plus_straight) },
    { key: "gap", label: t("col.gap"), numeric: true,
      value: (r) => (num(r.beyond_share) === null || num(r.beyond_share_straight) === null
        ? null : pct1(r.beyond_share) - pct1(r.beyond_share_straight)),
      text: (r) => (num(r.beyond_share) === null ? "—"
        : `+${(pct1(r.beyond_share) - pct1(r.beyond_share_straight)).toFixed(1)}`),
      csv: (r) => (num(r.beyond_share) === null ? null
        : Math.round((pct1(r.beyond_share) - pct1(r.beyond_share_straight)) * 10) / 10) },
    { key: "median_m", label: t("col.median"), numeric: true, value: (r) => num(r.median_m),
      text: (r) => fmtM(r.median_m), csv: (r) => round0(r.median_m) },
    { key: "p90_m", label: t("col.p90"), numeric: true, value: (r) => num(r.p90_m),
      text: (r) => fmtM(r.p90_m), csv: (r) => round0(r.p90_m) },
    { key: "stores_in_area", label: t("col.stores_in"), numeric: true,
      value: (r) => num(r.stores_in_area), text: (r) => String(r.stores_in_area) },
    { key: "stores_near_area", label: t("col.stores_near", { threshold: th }), numeric: true,
      value: (r) => num(r.stores_near_area), text: (r) => String(r.stores_near_area) },
  ].map((c) => ({ ...c, groupLabel: c.group ? t(`group.${c.group}`, { threshold: th }) : null }));
}

const round0 = (x) => (num(x) === null ? null : Math.round(x));
const STATUS_RANK = { none: 0, partly: 1, covered: 2 };

/** The columns of the coverage table: per category (vocabulary order) the located count
 *  and the share of 65+ within walking range where anything is located, the services'
 *  coverage where any service covers an area. */
function coverageColumns(rows) {
  const th = threshold();
  const present = new Map();
  for (const r of rows) {
    for (const [k, c] of Object.entries(r.categories)) {
      const p = present.get(k) || { located: false, covering: false };
      if (c.located.length || num(c.share_65plus_within_walk) !== null) p.located = true;
      if (c.covering.length) p.covering = true;
      present.set(k, p);
    }
  }
  const order = GS.config.categories.map((c) => c.id);
  const keys = [...present.keys()].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const cols = [
    { key: "pop_65plus", label: t("col.pop65"), numeric: true, value: (r) => num(r.pop_65plus),
      text: (r) => fmtPeople(r.pop_65plus), csv: (r) => round0(r.pop_65plus) },
  ];
  for (const k of keys) {
    const group = GS.categoryLabel(k);
    const cat = (r) => r.categories[k];
    if (present.get(k).located) {
      cols.push({ key: `${k}.located`, group: k, groupLabel: group, label: t("col.located"),
        numeric: true, value: (r) => (cat(r) ? cat(r).located.length : 0),
        text: (r) => String(cat(r) ? cat(r).located.length : 0) });
      cols.push({ key: `${k}.walk`, group: k, groupLabel: group,
        label: t("col.within_walk", { threshold: th }), numeric: true,
        value: (r) => (cat(r) ? num(cat(r).share_65plus_within_walk) : null),
        text: (r) => fmtPct(cat(r) ? cat(r).share_65plus_within_walk : null),
        csv: (r) => pct1(cat(r) ? cat(r).share_65plus_within_walk : null) });
    }
    if (present.get(k).covering) {
      cols.push({ key: `${k}.service`, group: k, groupLabel: group, label: t("col.service"),
        numeric: false,
        value: (r) => (cat(r) ? STATUS_RANK[cat(r).status] + (num(cat(r).share_65plus_covered) || 0) / 2 : 0),
        text: (r) => {
          const c = cat(r) || { status: "none", covering: [] };
          return el("span", { class: `c-status c-status-${c.status}` }, statusText(c));
        },
        csv: (r) => (cat(r) ? cat(r).status : "none") });
      cols.push({ key: `${k}.covered`, group: k, groupLabel: group, label: t("col.covered_share"),
        numeric: true, value: (r) => (cat(r) ? num(cat(r).share_65plus_covered) : null),
        text: (r) => fmtPct(cat(r) ? cat(r).share_65plus_covered : null),
        csv: (r) => pct1(cat(r) ? cat(r).share_65plus_covered : null) });
    }
  }
  return cols;
}

function renderTables() {
  const nameCol = { key: "name", label: t("col.area"), numeric: false, value: (r) => r.name };
  const diffRows = state.difficulty;
  const diffCols = difficultyColumns() // without stores: the people 65+ only
    .filter((c) => !state.noStores || c.key === "pop_65plus");
  state.tables.difficulty = makeTable("difficulty", diffRows, [nameCol, ...diffCols],
    t("difficulty.heading"));
  const covRows = [...state.profiles.values()];
  state.tables.coverage = makeTable("coverage", covRows,
    [nameCol, ...coverageColumns(covRows)], t("coverage.heading"));
}

/** A sortable table of ``rows`` (one per area) in #<id>-wrap. */
function makeTable(id, rows, columns, caption) {
  const wrap = document.getElementById(`${id}-wrap`);
  const table = { id, rows: [...rows], columns, sort: null, dir: 1, caption };
  const grouped = columns.some((c) => c.group);
  const headRows = [el("tr", {})];
  if (grouped) headRows.push(el("tr", {}));
  const seen = new Set();
  columns.forEach((c, i) => {
    const button = el("button", { type: "button", class: "c-sort", "data-col": c.key,
                                  onclick: () => sortBy(table, i) },
      c.label, el("span", { class: "c-sort-mark", "aria-hidden": "true" }, "↕"));
    const thAttrs = { scope: "col", "data-col": c.key, class: c.numeric ? "c-num" : null };
    if (!grouped || !c.group) {
      headRows[0].append(el("th", { ...thAttrs, rowspan: grouped ? 2 : null }, button));
    } else {
      if (!seen.has(c.group)) {
        seen.add(c.group);
        const span = columns.filter((x) => x.group === c.group).length;
        headRows[0].append(el("th", { scope: "colgroup", colspan: span,
                                      class: `c-group c-group-${c.group}` }, c.groupLabel));
      }
      headRows[1].append(el("th", thAttrs, button));
    }
  });
  table.node = el("table", { class: "gs-table c-table", id: `${id}-table` },
    el("caption", { class: "gs-visually-hidden" }, caption),
    el("thead", {}, headRows), el("tbody", {}));
  wrap.replaceChildren(table.node);
  fillBody(table);
  return table;
}

function fillBody(table) {
  const tbody = table.node.querySelector("tbody");
  const rows = table.rows.map((r) => {
    const id = String(r.area_id);
    const cells = table.columns.map((c, i) => {
      if (i === 0) {
        return el("th", { scope: "row" }, el("button", {
          type: "button", class: "c-area-button", "data-area-id": id,
          onclick: () => select(id, { from: "table" }),
        }, r.name));
      }
      const v = c.text ? c.text(r) : c.value(r);
      return el("td", { class: c.numeric ? "c-num" : null, "data-col": c.key },
                ...(Array.isArray(v) ? v : [v === null || v === undefined ? "—" : v]));
    });
    const row = el("tr", { "data-area-id": id }, cells);
    row.addEventListener("click", (e) => {
      if (!e.target.closest("button")) select(id, { from: "row" });
    });
    if (id === state.selected) {
      row.setAttribute("aria-current", "true");
      row.classList.add("c-selected");
    }
    return row;
  });
  if (!rows.length) {
    rows.push(el("tr", {}, el("td", { colspan: table.columns.length, class: "gs-muted" },
                              t("table.empty"))));
  }
  tbody.replaceChildren(...rows);
}

function sortBy(table, index) {
  GS.sortTable(table, index, ".c-sort-mark");
  fillBody(table);
}

function downloadTable(id) {
  const table = state.tables[id];
  if (!table) return;
  const header = ["area_id", ...table.columns.map((c) =>
    (c.groupLabel ? `${c.groupLabel} ${c.label}` : c.label))];
  const rows = table.rows.map((r) => [r.area_id, ...table.columns.map((c) => {
    const v = c.csv ? c.csv(r) : c.value(r);
    return v === null || v === undefined ? "" : v;
  })]);
  const layer = GS.config.region.area_layers.find((l) => l.id === state.layer);
  GS.downloadCsv(`${id}_${layer ? layer.id : "areas"}.csv`, [header, ...rows]);
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch((e) => {
    const status = document.getElementById("status");
    status.textContent = t("error.load", { detail: e.message });
    status.classList.add("gs-error");
  });
});
