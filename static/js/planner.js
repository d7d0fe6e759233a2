/*
 * The planner page (/planner): the gap ranking after the alternatives (GET /gaps/{layer}),
 * facility siting (GET /siting, staff) and what-if scenarios (GET/POST/DELETE /scenarios).
 *
 * - Every number comes from the API's answers; the page formats and sorts them only.
 * - Every text from the registry, a boundary file or a scenario reaches the page through
 *   textContent (GS.el); Leaflet's tooltips and icons are given DOM nodes, never HTML.
 * - Staff parts (siting, creating and deleting scenarios) need the token of a login at
 *   /staff in this tab (GS.api sends it); without it they say where to log in.
 * - Colours: the gap map uses the configured classes (GS.config.difficulty); the
 *   difference map uses CSS classes (planner.css), so no colour is written here.
 */
import * as GS from "./common.js";

const { el, t } = GS;
const SVG = "http://www.w3.org/2000/svg";
const state = {
  gapMap: null, gapLayer: null, gap: null, gapTable: null,
  siteMap: null, siteLayer: null,
  storeMap: null, storeMarkers: new Map(), stores: [], picked: new Set(),
  diffMap: null, diffLayer: null,
  scenarios: [], gapLoad: 0, scenariosFailed: false,
  altDefaults: [], // the need's default alternatives [{id, label}] (from the first answer)
  altChoice: null, // null: the defaults; else the ids ticked
  fits: [], // [map, () => bounds]: fitted again when the window's size changes
};

// ------------------------------------------------------------------ formatting

const en = () => GS.lang === "en";
const num = (x) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x));
const fmtPct = (x) => (num(x) === null ? "—" : `${(Math.round(x * 1000) / 10).toFixed(1)}%`);
const fmtN = (x) => (num(x) === null ? "—" : Math.round(x).toLocaleString());
const fmtPeople = (x) => (num(x) === null ? "—" : t("unit.people", { n: fmtN(x) }));
/** A change with its sign (+12, -3.4); one that rounds to nothing is ±0 (never -0.0,
 *  a float's noise), as the CLI's ``signed``. */
const fmtSigned = (x, digits = 0) => {
  if (num(x) === null) return "—";
  const r = Math.round(Math.abs(x) * 10 ** digits) / 10 ** digits;
  const v = digits ? r.toFixed(digits) : r.toLocaleString();
  return r === 0 ? `±${v}` : `${x > 0 ? "+" : "-"}${v}`;
};
const pct1 = (x) => (num(x) === null ? null : Math.round(x * 1000) / 10);
const loggedIn = () => Boolean(GS.token());

function catLabel(id, fallback) {
  const c = GS.category(id);
  if (c.label === id && fallback) return fallback;
  return GS.categoryLabel(id);
}

/** A layer's name as the page shows it (translated when the page knows it). */
function shownLayer(name) {
  const layer = GS.config.region.area_layers.find((l) => l.name === name || l.id === name);
  return layer ? GS.layerLabel(layer) : name;
}

function showError(node, error) {
  // the service's reasons are sentences in the page's language: without the field's
  // English name (need:, layer:)
  const detail = error instanceof GS.ApiError
    ? error.problems().map((p) => p.reason).join(" / ") : error.message || String(error);
  node.textContent = t("error.load", { detail });
  node.classList.add("gs-error");
}

// ------------------------------------------------------------------ tables

/** A sortable table in #wrapId: columns {key, label, numeric, value(r), text(r)}. */
function makeTable(wrapId, { id, caption, captionHidden, columns, rows, rowAttrs }) {
  const table = { columns, rows: [...rows], sort: null, dir: 1 };
  const head = el("tr", {}, columns.map((c, i) => el("th", {
    scope: "col", "data-col": c.key, class: c.numeric ? "p-num" : null,
  }, c.sortable === false ? c.label
    : el("button", { type: "button", class: "p-sort", onclick: () => sortBy(table, i) },
         c.label, el("span", { class: "p-sort-mark", "aria-hidden": "true" }, "↕")))));
  table.node = el("table", { class: "gs-table p-table", id },
    el("caption", { class: captionHidden ? "gs-visually-hidden" : "p-caption" }, caption), el("thead", {}, head), el("tbody", {}));
  table.fill = () => {
    const body = table.rows.map((r) => el("tr", rowAttrs ? rowAttrs(r) : {},
      table.columns.map((c, i) => {
        const v = c.text ? c.text(r) : c.value(r);
        const content = Array.isArray(v) ? v : [v === null || v === undefined ? "—" : v];
        return i === 0 && !c.numeric
          ? el("th", { scope: "row", "data-col": c.key }, ...content)
          : el("td", { class: c.numeric ? "p-num" : null, "data-col": c.key }, ...content);
      })));
    if (!body.length) {
      body.push(el("tr", {}, el("td", { colspan: columns.length, class: "gs-muted" },
                                t("table.empty"))));
    }
    table.node.querySelector("tbody").replaceChildren(...body);
  };
  table.fill();
  document.getElementById(wrapId).replaceChildren(table.node);
  return table;
}

function sortBy(table, index) {
  GS.sortTable(table, index, ".p-sort-mark");
  table.fill();
}

// ------------------------------------------------------------------ start

async function start() {
  await GS.init("planner");
  document.getElementById("nav").append(
    el("a", { href: "/" }, t("nav.resident")),
    el("a", { href: "/staff" }, t("nav.staff")),
    el("a", { href: "/council" }, t("nav.council")),
    el("a", { href: "/planner", "aria-current": "page" }, t("nav.planner")),
    GS.languageLink());
  const status = document.getElementById("status");
  const region = GS.config.region;
  if (!region || !region.area_layers.length) {
    status.textContent = t("no_region");
    status.classList.add("gs-error");
    GS.ready();
    return;
  }
  status.textContent = t("region.line", { name: region.name });
  const places = GS.config.categories.filter((c) => c.kind === "place");
  const needs = document.getElementById("gap-need");
  const siteNeeds = document.getElementById("site-need");
  for (const c of places) {
    needs.append(el("option", { value: c.id }, catLabel(c.id)));
    siteNeeds.append(el("option", { value: c.id }, catLabel(c.id)));
  }
  for (const c of GS.config.categories.filter((x) => x.kind === "mobile")) {
    siteNeeds.append(el("option", { value: c.id }, catLabel(c.id)));
  }
  // open on a destination the region has (食料品店 first); say so when it has none
  const have = region.needs || [];
  needs.value = have.includes("food_store") || !have.length ? "food_store" : have[0];
  siteNeeds.value = "food_store";
  const layers = document.getElementById("gap-layer");
  for (const layer of region.area_layers) {
    layers.append(el("option", { value: layer.id }, GS.layerLabel(layer)));
  }
  const cands = document.getElementById("site-candidates");
  for (const [value, key] of [["grid:250", "cand.grid250"], ["grid:500", "cand.grid500"],
                              ["registry:public_facility", "cand.public_facility"]]) {
    cands.append(el("option", { value }, t(key)));
  }
  layers.addEventListener("change", () => loadGaps());
  needs.addEventListener("change", () => {
    state.altChoice = null; // another need has other default alternatives
    loadGaps();
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(refit, 200);
  });
  document.getElementById("gap-csv").addEventListener("click", downloadGaps);
  document.getElementById("siting-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runSiting();
  });
  document.getElementById("scenario-form").addEventListener("submit", (e) => {
    e.preventDefault();
    createScenario();
  });
  document.addEventListener("gs:logged-out", () => showStaffParts());
  state.gapMap = newMap("gap-map", () => state.gapLayer);
  renderGapLegend();
  showStaffParts();
  if (!have.length) {
    const summary = document.getElementById("gap-summary");
    summary.textContent = t("gaps.no_needs");
    summary.classList.add("gs-error");
    document.body.dataset.gaps = "none";
  }
  await Promise.all([have.length ? loadGaps() : null, loadScenarios()]);
  GS.ready();
}

/** A map (fine zoom steps, so small regions fill it); ``bounds()`` gives the layer
 *  fitted again when the window's size changes. */
function newMap(id, layer) {
  const map = GS.makeMap(document.getElementById(id));
  map.options.zoomSnap = 0.25;
  state.fits.push([map, layer]);
  return map;
}

function refit() {
  for (const [map, layer] of state.fits) {
    map.invalidateSize();
    const l = layer();
    if (l && l.getLayers().length) GS.fitBounds(map, l.getBounds(), { padding: [10, 10] });
  }
}

/** Staff parts shown with a token; otherwise a note pointing to the login at /staff. */
function showStaffParts() {
  const staff = loggedIn();
  const note = () => el("span", {}, t("login.needed"), " ",
    el("a", { href: "/staff" }, t("login.link")));
  for (const id of ["siting-login", "scenario-login"]) {
    const node = document.getElementById(id);
    node.hidden = staff;
    node.replaceChildren(note());
  }
  document.getElementById("siting-form").hidden = !staff;
  // no form to close stores when the scenarios cannot be loaded (e.g. no food stores)
  document.getElementById("scenario-form").hidden = !staff || state.scenariosFailed;
  const top = document.getElementById("login-note");
  top.hidden = !staff;
  top.textContent = staff ? t("staff.note") : "";
  if (staff && state.stores.length && !state.storeMap) renderStorePicker();
}

// ------------------------------------------------------------------ gaps

const { classColor } = GS;

function swatch(color) {
  const s = el("span", { class: "p-swatch", "aria-hidden": "true" });
  s.style.background = color;
  return s;
}

function renderGapLegend() {
  document.getElementById("gap-legend").replaceChildren(
    el("h3", { class: "p-legend-title", id: "gap-legend-title" }, t("gaps.legend")),
    el("ul", { class: "p-legend-list", "aria-labelledby": "gap-legend-title" },
       GS.classLegend().map(([c, label]) => el("li", {}, swatch(c), label))));
}

async function loadGaps() {
  const id = ++state.gapLoad;
  const layer = document.getElementById("gap-layer").value;
  const need = document.getElementById("gap-need").value;
  const summary = document.getElementById("gap-summary");
  summary.classList.remove("gs-error");
  summary.textContent = t("loading");
  document.body.dataset.gapsLoading = "1";
  const q = new URLSearchParams({ need });
  const choice = state.altChoice;
  if (choice !== null) q.set("alternatives", choice.length ? choice.join(",") : "none");
  const tag = choice === null ? `${layer}:${need}` : `${layer}:${need}:${choice.join(",") || "none"}`;
  try {
    const answer = await GS.api(`/gaps/${encodeURIComponent(layer)}?${q}`);
    if (id !== state.gapLoad) return;
    state.gap = answer;
    if (choice === null) {
      state.altDefaults = answer.alternatives.map((a) => ({ id: a.id, label: a.label }));
      renderAltChoice();
    }
    renderGaps(answer);
  } catch (e) {
    if (id !== state.gapLoad) return;
    state.gap = null;
    showError(summary, e);
    document.getElementById("gap-wrap").replaceChildren();
    document.getElementById("gap-alternatives").replaceChildren();
    document.getElementById("gap-notes").replaceChildren();
    if (state.gapLayer) state.gapMap.removeLayer(state.gapLayer);
  } finally {
    if (id === state.gapLoad) {
      delete document.body.dataset.gapsLoading;
      document.body.dataset.gaps = tag;
    }
  }
}

/** Tick boxes for the need's default alternatives: untick one to see the gap without it. */
function renderAltChoice() {
  const box = document.getElementById("gap-alts");
  box.hidden = !state.altDefaults.length;
  document.getElementById("gap-alts-list").replaceChildren(...state.altDefaults.map((a) => {
    const id = `alt-${a.id}`;
    const input = el("input", { type: "checkbox", id, value: a.id, checked: true });
    input.addEventListener("change", () => {
      state.altChoice = [...document.querySelectorAll("#gap-alts-list input:checked")]
        .map((x) => x.value);
      loadGaps();
    });
    return el("span", { class: "p-alt" }, input, el("label", { for: id }, catLabel(a.id, a.label)));
  }));
}

function gapColumns(answer) {
  const cols = [
    { key: "name", label: t("col.area"), value: (r) => r.name },
    { key: "rank_count", label: t("col.rank"), numeric: true, value: (r) => r.rank_count },
    { key: "pop_65plus", label: t("col.pop65"), numeric: true, value: (r) => num(r.pop_65plus),
      text: (r) => fmtN(r.pop_65plus) },
    { key: "beyond_65plus", label: t("col.beyond", { threshold: answer.threshold_m }),
      numeric: true, value: (r) => num(r.beyond_65plus), text: (r) => fmtN(r.beyond_65plus) },
  ];
  for (const a of answer.alternatives) {
    cols.push({ key: `covered.${a.id}`, label: t("col.covered_by", { alt: catLabel(a.id, a.label) }),
      numeric: true, value: (r) => num(r.covered[a.id]), text: (r) => fmtN(r.covered[a.id]) });
  }
  cols.push(
    { key: "covered_any", label: t("col.covered_any"), numeric: true,
      value: (r) => num(r.covered_any), text: (r) => fmtN(r.covered_any) },
    { key: "gap_65plus", label: t("col.gap"), numeric: true, value: (r) => num(r.gap_65plus),
      text: (r) => el("strong", {}, fmtN(r.gap_65plus)) },
    { key: "gap_share", label: t("col.gap_share"), numeric: true,
      value: (r) => num(r.gap_share),
      text: (r) => [swatch(classColor(r.gap_share)), fmtPct(r.gap_share)] },
    { key: "rank_share", label: t("col.rank_share"), numeric: true, value: (r) => r.rank_share },
  );
  return cols;
}

function renderGaps(answer) {
  const s = answer.summary;
  document.getElementById("gap-summary").textContent = t("gaps.summary", {
    need: catLabel(answer.need, answer.need_label), threshold: answer.threshold_m,
    pop: fmtN(s.pop_65plus), beyond: fmtN(s.beyond_65plus), covered: fmtN(s.covered_any),
    gap: fmtN(s.gap_65plus),
  });
  const alts = answer.alternatives.map((a) => el("li", { "data-alt": a.id },
    el("strong", {}, catLabel(a.id, a.label)), en() ? ": " : "：", a.detail,
    " ", t("gaps.alt_covers", { n: fmtN(s[`covered_${a.id}`]) })));
  if (!alts.length) alts.push(el("li", {}, t("gaps.no_alternatives")));
  document.getElementById("gap-alternatives").replaceChildren(...alts);
  document.getElementById("gap-notes").replaceChildren(
    ...answer.notes.map((n) => el("li", {}, n)));
  state.gapTable = makeTable("gap-wrap", {
    id: "gap-table", caption: t("gaps.caption", { layer: shownLayer(answer.layer) }),
    columns: gapColumns(answer), rows: answer.areas,
    rowAttrs: (r) => ({ "data-area-id": r.area_id }),
  });
  drawGapMap(answer);
}

function drawGapMap(answer) {
  const map = state.gapMap;
  if (state.gapLayer) map.removeLayer(state.gapLayer);
  const features = answer.areas.filter((a) => a.geometry).map((a) => ({
    type: "Feature", geometry: a.geometry, properties: a }));
  state.gapLayer = L.geoJSON(features, {
    style: (f) => ({ fillColor: classColor(f.properties.gap_share), fillOpacity: 0.65,
                     color: "#333333", weight: 1.2 }),
    onEachFeature: (f, layer) => {
      const p = f.properties;
      layer.bindTooltip(() => el("div", { class: "p-tip" }, el("strong", {}, p.name),
        el("div", {}, t("tip.gap", { n: fmtN(p.gap_65plus), share: fmtPct(p.gap_share) }))),
      { sticky: true });
    },
  }).addTo(map);
  for (const layer of state.gapLayer.getLayers()) {
    const path = layer.getElement && layer.getElement();
    if (path) path.setAttribute("data-area-id", layer.feature.properties.area_id);
  }
  if (features.length) GS.fitBounds(map, state.gapLayer.getBounds(), { padding: [8, 8] });
}

function downloadGaps() {
  const answer = state.gap;
  if (!answer || !state.gapTable) return;
  const alts = answer.alternatives;
  const header = ["layer", "need", "threshold_m", "area_id", "name", "rank_count", "pop_65plus",
                  "beyond_65plus", ...alts.map((a) => `covered_${a.id}`), "covered_any",
                  "gap_65plus", "gap_share_pct", "rank_share"];
  const rows = state.gapTable.rows.map((r) => [
    answer.layer, answer.need, answer.threshold_m, r.area_id, r.name, r.rank_count,
    r.pop_65plus, r.beyond_65plus, ...alts.map((a) => r.covered[a.id]), r.covered_any,
    r.gap_65plus, pct1(r.gap_share), r.rank_share]);
  const layer = document.getElementById("gap-layer").value;
  GS.downloadCsv(`gaps_${layer}_${answer.need}.csv`, [header, ...rows]);
}

// ------------------------------------------------------------------ siting

async function runSiting() {
  const status = document.getElementById("siting-status");
  status.classList.remove("gs-error");
  status.textContent = t("siting.running");
  const button = document.getElementById("site-run");
  button.disabled = true;
  document.body.dataset.sitingLoading = "1";
  const q = new URLSearchParams({
    need: document.getElementById("site-need").value,
    k: document.getElementById("site-k").value,
    candidates: document.getElementById("site-candidates").value,
  });
  try {
    const answer = await GS.api(`/siting?${q}`);
    renderSiting(answer);
  } catch (e) {
    showError(status, e);
    if (e.problems) {
      status.textContent = t("error.load", {
        detail: e.problems().map((p) => (p.field ? `${p.field}: ${p.reason}` : p.reason)).join(" / "),
      });
    }
    document.getElementById("siting-results").hidden = true;
    document.getElementById("site-wrap").replaceChildren();
    document.getElementById("curve-wrap").replaceChildren();
  } finally {
    button.disabled = false;
    delete document.body.dataset.sitingLoading;
  }
}

function siteIcon(order) {
  const glyph = el("span", { class: "p-site-marker", "data-order": String(order),
                             "aria-hidden": "true" }, String(order));
  return L.divIcon({ className: "p-site-icon", html: glyph, iconSize: [30, 30],
                     iconAnchor: [15, 15] });
}

function renderSiting(answer) {
  const status = document.getElementById("siting-status");
  const quality = answer.optimal ? t("siting.optimal")
    : t("siting.gap", { gap: fmtPct(answer.gap) });
  status.textContent = t("siting.summary", {
    k: answer.k, need: catLabel(answer.need, answer.need_label), n: answer.n_candidates,
    new: fmtN(answer.covered_new), before: fmtPct(answer.share_before),
    after: fmtPct(answer.share_after), threshold: answer.threshold_m, quality,
  });
  const results = document.getElementById("siting-results");
  results.hidden = false;
  if (!state.siteMap) state.siteMap = newMap("site-map", () => state.siteLayer);
  const map = state.siteMap;
  map.invalidateSize();
  if (state.siteLayer) map.removeLayer(state.siteLayer);
  state.siteLayer = L.featureGroup();
  for (const s of answer.sites) {
    const marker = L.marker([s.lat, s.lon], {
      icon: siteIcon(s.order), title: `${s.order}. ${s.name}`, riseOnHover: true,
      zIndexOffset: 1000 - s.order,
    });
    marker.bindTooltip(() => el("div", { class: "p-tip" },
      el("strong", {}, `${s.order}. ${s.name}`),
      el("div", {}, t("tip.site", { n: fmtN(s.new_65plus) }))));
    marker.addTo(state.siteLayer);
  }
  state.siteLayer.addTo(map);
  if (answer.sites.length) GS.fitBounds(map, state.siteLayer.getBounds().pad(0.3), { maxZoom: 16 });
  makeTable("site-wrap", {
    id: "site-table", caption: t("siting.table"),
    rows: answer.sites, rowAttrs: (r) => ({ "data-order": r.order }),
    columns: [
      { key: "order", label: t("col.order"), numeric: true, value: (r) => r.order },
      { key: "name", label: t("col.site"), value: (r) => r.name },
      { key: "new_65plus", label: t("col.new"), numeric: true, value: (r) => num(r.new_65plus),
        text: (r) => fmtN(r.new_65plus) },
      { key: "cumulative", label: t("col.cumulative"), numeric: true,
        value: (r) => num(r.cumulative_new_65plus), text: (r) => fmtN(r.cumulative_new_65plus) },
      { key: "share_after", label: t("col.share_after"), numeric: true,
        value: (r) => num(r.share_after), text: (r) => fmtPct(r.share_after) },
    ],
  });
  renderCurve(answer);
  const notes = answer.notes.map((n) => el("li", {}, n));
  if (notes.length) {
    document.getElementById("site-wrap").append(el("ul", { class: "p-list p-small" }, notes));
  }
}

/** The coverage curve: a small SVG (decorative; the same numbers are in the table). */
function renderCurve(answer) {
  const box = document.getElementById("site-curve");
  const curve = answer.curve;
  if (!curve.length) {
    box.replaceChildren(el("p", { class: "gs-muted" }, t("siting.no_curve")));
    document.getElementById("curve-wrap").replaceChildren();
    return;
  }
  const W = 320;
  const H = 180;
  const pad = 34;
  const max = Math.max(...curve.map((p) => num(p.covered_new_65plus) || 0), 1);
  const x = (k) => pad + ((k - 0) / curve.length) * (W - pad - 10);
  const y = (v) => H - pad - (v / max) * (H - pad - 12);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "p-curve");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("siting.curve_label", {
    k: curve.length, n: fmtN(curve[curve.length - 1].covered_new_65plus) }));
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  node("line", { x1: pad, y1: H - pad, x2: W - 6, y2: H - pad, class: "p-axis" });
  node("line", { x1: pad, y1: 8, x2: pad, y2: H - pad, class: "p-axis" });
  const pts = [[0, 0], ...curve.map((p) => [p.k, num(p.covered_new_65plus) || 0])];
  node("polyline", { points: pts.map(([k, v]) => `${x(k)},${y(v)}`).join(" "), class: "p-line" });
  for (const [k, v] of pts.slice(1)) {
    node("circle", { cx: x(k), cy: y(v), r: 3.5, class: "p-dot" });
    node("text", { x: x(k), y: H - pad + 14, "text-anchor": "middle", class: "p-tick" }, String(k));
  }
  node("text", { x: pad - 4, y: y(max) + 4, "text-anchor": "end", class: "p-tick" }, fmtN(max));
  node("text", { x: pad - 4, y: H - pad + 4, "text-anchor": "end", class: "p-tick" }, "0");
  node("text", { x: (W + pad) / 2, y: H - 4, "text-anchor": "middle", class: "p-tick" }, t("siting.axis_k"));
  box.replaceChildren(svg);
  makeTable("curve-wrap", {
    id: "curve-table", caption: t("siting.curve"), rows: curve,
    columns: [
      { key: "k", label: "k", numeric: true, value: (r) => r.k },
      { key: "covered", label: t("col.new"), numeric: true,
        value: (r) => num(r.covered_new_65plus), text: (r) => fmtN(r.covered_new_65plus) },
      { key: "share", label: t("col.share_after"), numeric: true, value: (r) => num(r.share_after),
        text: (r) => fmtPct(r.share_after) },
      { key: "greedy", label: t("col.greedy"), numeric: true,
        value: (r) => num(r.greedy_new_65plus), text: (r) => fmtN(r.greedy_new_65plus) },
      { key: "optimal", label: t("col.optimal"), value: (r) => (r.optimal ? 1 : 0),
        text: (r) => (r.optimal ? t("yes") : t("no")) },
    ],
  });
}

// ------------------------------------------------------------------ scenarios

function describeChange(c) {
  switch (c.kind) {
    case "close_store": return t("change.close", { store: storeName(c.store) });
    case "add_store": return t("change.add_store", { name: c.name || c.id });
    case "add_stop": return t("change.add_stop", { name: c.name || c.id });
    case "threshold": return t("change.threshold", { m: c.metres });
    case "speed": return t("change.speed", { mps: c.mps });
    case "projection": return t("change.projection", { year: c.year, file: c.file });
    case "bus_network": return t("change.bus_network", { feeds: (c.feeds || []).join("、") });
    case "cut_route": return t("change.cut_route", { feed: c.feed });
    case "add_route": return t("change.add_route", { feed: c.feed });
    case "service_area": return t("change.service_area", { resource: c.resource,
      kind: t(`change.area_kind.${c.service_area && c.service_area.kind}`) });
    case "withdraw_service": return t("change.withdraw_service", { resource: c.resource });
    default: return t("change.other");
  }
}

function storeName(id) {
  const s = state.stores.find((x) => x.id === id);
  return s ? `${s.name} (${s.id})` : id;
}

async function loadScenarios() {
  const wrap = document.getElementById("scenario-list");
  try {
    const answer = await GS.api("/scenarios");
    state.scenarios = answer.scenarios;
    state.stores = answer.stores;
  } catch (e) {
    const p = el("p", {});
    showError(p, e);
    wrap.replaceChildren(p);
    state.scenariosFailed = true;
    document.getElementById("scenario-form").hidden = true;
    return;
  }
  renderScenarioList();
  if (loggedIn() && !state.storeMap) renderStorePicker();
}

function renderScenarioList() {
  const staff = loggedIn();
  makeTable("scenario-list", {
    id: "scenario-table", caption: t("scenarios.saved"), captionHidden: true,
    rows: state.scenarios,
    rowAttrs: (r) => ({ "data-scenario": r.name }),
    columns: [
      { key: "name", label: t("col.scenario"), value: (r) => r.name },
      { key: "changes", label: t("col.changes"), value: (r) => r.changes.length,
        text: (r) => r.changes.map(describeChange).join(en() ? "; " : "・") },
      { key: "description", label: t("col.description"), value: (r) => r.description },
      { key: "created", label: t("col.created"), value: (r) => r.created,
        text: (r) => GS.formatDateTime(r.created) },
      { key: "actions", label: t("col.actions"), value: () => 0, sortable: false,
        text: (r) => [
          el("button", { type: "button", class: "secondary p-small-button", "data-action": "show",
                         "aria-label": t("scenarios.show_named", { name: r.name }),
                         onclick: () => showScenario(r.name) }, t("scenarios.show")),
          staff ? el("button", { type: "button", class: "danger p-small-button", "data-action": "delete",
                                 "aria-label": t("scenarios.delete_named", { name: r.name }),
                                 onclick: () => deleteScenario(r.name) }, t("scenarios.delete"))
            : null,
        ] },
    ],
  });
}

function renderStorePicker() {
  const list = document.getElementById("store-list");
  list.replaceChildren(...state.stores.map((s) => {
    const id = `store-${s.id}`.replace(/[^\w-]/g, "_");
    const box = el("input", { type: "checkbox", id, value: s.id, "data-store": s.id });
    box.addEventListener("change", () => toggleStore(s.id, box.checked));
    return el("div", { class: "p-store" }, box, el("label", { for: id }, `${s.name} (${s.id})`));
  }));
  const group = L.featureGroup();
  state.storeMap = newMap("store-map", () => group);
  for (const s of state.stores) {
    const marker = L.marker([s.lat, s.lon], {
      icon: GS.markerIcon(s.category, { size: 26 }), title: s.name, alt: s.name });
    marker.on("click", () => toggleStore(s.id, !state.picked.has(s.id)));
    marker.on("keypress", (e) => {
      if (e.originalEvent.key === "Enter") toggleStore(s.id, !state.picked.has(s.id));
    });
    marker.addTo(group);
    state.storeMarkers.set(s.id, marker);
  }
  group.addTo(state.storeMap);
  if (state.stores.length) GS.fitBounds(state.storeMap, group.getBounds(), { padding: [16, 16] });
}

function toggleStore(id, on) {
  if (on) state.picked.add(id); else state.picked.delete(id);
  for (const box of document.querySelectorAll("#store-list input[data-store]")) {
    if (box.value === id) box.checked = on;
  }
  const marker = state.storeMarkers.get(id);
  if (marker) {
    const s = state.stores.find((x) => x.id === id);
    marker.setIcon(GS.markerIcon(s.category, { size: 26, selected: on }));
    const node = marker.getElement();
    if (node) node.setAttribute("data-picked", on ? "1" : "0");
  }
}

async function createScenario() {
  const errors = document.getElementById("scenario-errors");
  errors.textContent = "";
  const name = document.getElementById("scenario-name").value.trim();
  if (!state.picked.size) {
    errors.textContent = t("scenarios.pick_one");
    return;
  }
  const body = {
    name, description: document.getElementById("scenario-description").value,
    changes: [...state.picked].map((store) => ({ kind: "close_store", store })),
  };
  const button = document.getElementById("scenario-create");
  button.disabled = true;
  try {
    const answer = await GS.api("/scenarios", { method: "POST", body });
    for (const id of [...state.picked]) toggleStore(id, false);
    document.getElementById("scenario-name").value = "";
    document.getElementById("scenario-description").value = "";
    const list = await GS.api("/scenarios");
    state.scenarios = list.scenarios;
    renderScenarioList();
    renderCompare(answer);
  } catch (e) {
    errors.textContent = e.problems
      ? e.problems().map((p) => (p.field ? `${p.field}: ${p.reason}` : p.reason)).join(" / ")
      : e.message;
  } finally {
    button.disabled = false;
  }
}

async function showScenario(name) {
  const layer = document.getElementById("gap-layer").value;
  try {
    renderCompare(await GS.api(`/scenarios/${encodeURIComponent(name)}?layer=${encodeURIComponent(layer)}`));
  } catch (e) {
    const box = document.getElementById("compare");
    box.hidden = false;
    showError(document.getElementById("compare-summary"), e);
  }
}

async function deleteScenario(name) {
  try {
    await GS.api(`/scenarios/${encodeURIComponent(name)}`, { method: "DELETE" });
  } catch (e) {
    showError(document.getElementById("scenario-errors"), e);
  }
  state.scenarios = (await GS.api("/scenarios")).scenarios;
  renderScenarioList();
  const heading = document.getElementById("compare-heading");
  if (heading.dataset.scenario === name) document.getElementById("compare").hidden = true;
}

function diffClass(change) {
  if (num(change) === null) return "p-diff-none";
  if (change > 0.05) return "p-diff-up";
  if (change < -0.05) return "p-diff-down";
  return "p-diff-same";
}

function renderCompare(answer) {
  const box = document.getElementById("compare");
  box.hidden = false;
  const heading = document.getElementById("compare-heading");
  heading.textContent = t("compare.heading", { name: answer.scenario.name });
  heading.dataset.scenario = answer.scenario.name;
  document.getElementById("compare-description").textContent = answer.scenario.description;
  const b = answer.before;
  const a = answer.after;
  const summary = document.getElementById("compare-summary");
  summary.classList.remove("gs-error");
  summary.textContent = t("compare.summary", {
    threshold: answer.threshold_m_after, before: fmtN(b.beyond_65plus),
    before_share: fmtPct(b.beyond_share), after: fmtN(a.beyond_65plus),
    after_share: fmtPct(a.beyond_share), change: fmtSigned(a.beyond_65plus - b.beyond_65plus),
    stores_before: fmtN(b.stores), stores_after: fmtN(a.stores),
  });
  const notes = [
    ...answer.closed.map((s) => t("compare.closed", { name: `${s.name} (${s.id})` })),
    ...answer.added.map((s) => t("compare.added", { name: `${s.name || s.id}` })),
    ...answer.notes];
  document.getElementById("compare-notes").replaceChildren(...notes.map((n) => el("li", {}, n)));
  makeTable("compare-wrap", {
    id: "compare-table", caption: t("compare.table", { layer: shownLayer(answer.layer) }),
    rows: answer.areas, rowAttrs: (r) => ({ "data-area-id": r.area_id }),
    columns: [
      { key: "name", label: t("col.area"), value: (r) => r.name },
      { key: "pop", label: t("col.pop65"), numeric: true, value: (r) => num(r.pop_65plus_after),
        text: (r) => fmtN(r.pop_65plus_after) },
      { key: "before", label: t("col.beyond_before"), numeric: true,
        value: (r) => num(r.beyond_65plus_before), text: (r) => fmtN(r.beyond_65plus_before) },
      { key: "after", label: t("col.beyond_after"), numeric: true,
        value: (r) => num(r.beyond_65plus_after), text: (r) => fmtN(r.beyond_65plus_after) },
      { key: "change", label: t("col.change"), numeric: true,
        value: (r) => num(r.beyond_65plus_change),
        text: (r) => el("span", { class: diffClass(r.beyond_65plus_change) },
                        fmtSigned(r.beyond_65plus_change)) },
      { key: "share_before", label: t("col.share_before"), numeric: true,
        value: (r) => num(r.beyond_share_before), text: (r) => fmtPct(r.beyond_share_before) },
      { key: "share_after", label: t("col.share_after2"), numeric: true,
        value: (r) => num(r.beyond_share_after), text: (r) => fmtPct(r.beyond_share_after) },
      { key: "share_change", label: t("col.change_pt"), numeric: true,
        value: (r) => num(r.beyond_share_change_pt),
        text: (r) => fmtSigned(r.beyond_share_change_pt, 1) },
    ],
  });
  drawDiffMap(answer);
  heading.focus({ preventScroll: true });
  heading.scrollIntoView({ block: "start" });
}

function drawDiffMap(answer) {
  if (!state.diffMap) state.diffMap = newMap("diff-map", () => state.diffLayer);
  const map = state.diffMap;
  map.invalidateSize();
  if (state.diffLayer) map.removeLayer(state.diffLayer);
  const features = answer.areas.filter((a) => a.geometry).map((a) => ({
    type: "Feature", geometry: a.geometry, properties: a }));
  state.diffLayer = L.featureGroup();
  L.geoJSON(features, {
    style: (f) => ({ className: `p-diff-area ${diffClass(f.properties.beyond_65plus_change)}`,
                     weight: 1.2, fillOpacity: 0.6 }),
    onEachFeature: (f, layer) => {
      const p = f.properties;
      layer.bindTooltip(() => el("div", { class: "p-tip" }, el("strong", {}, p.name),
        el("div", {}, t("tip.diff", { change: fmtSigned(p.beyond_65plus_change),
                                      pt: fmtSigned(p.beyond_share_change_pt, 1) }))),
      { sticky: true });
      layer.on("add", () => {
        const path = layer.getElement();
        if (path) path.setAttribute("data-area-id", p.area_id);
      });
    },
  }).addTo(state.diffLayer);
  for (const s of answer.closed) {
    L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "p-site-icon",
      html: el("span", { class: "p-closed-marker", "aria-hidden": "true" }, "×"),
      iconSize: [26, 26], iconAnchor: [13, 13] }), title: t("compare.closed", { name: s.name }) })
      .addTo(state.diffLayer);
  }
  for (const s of answer.added) {
    L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "p-site-icon",
      html: el("span", { class: "p-added-marker", "aria-hidden": "true" }, "+"),
      iconSize: [26, 26], iconAnchor: [13, 13] }), title: t("compare.added", { name: s.name || s.id }) })
      .addTo(state.diffLayer);
  }
  state.diffLayer.addTo(map);
  if (features.length) GS.fitBounds(map, state.diffLayer.getBounds(), { padding: [8, 8] });
  document.getElementById("diff-legend").replaceChildren(
    el("ul", { class: "p-legend-list" },
      el("li", {}, el("span", { class: "p-swatch p-diff-up-swatch", "aria-hidden": "true" }),
         t("legend.up")),
      el("li", {}, el("span", { class: "p-swatch p-diff-same-swatch", "aria-hidden": "true" }),
         t("legend.same")),
      el("li", {}, el("span", { class: "p-swatch p-diff-down-swatch", "aria-hidden": "true" }),
         t("legend.down"))));
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch((e) => {
    showError(document.getElementById("status"), e);
    GS.ready();
  });
});
