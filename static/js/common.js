/*
 * geo-service pages: what every page shares (no build step, no framework), an ES module
 * each page's module imports as GS: `import * as GS from "./common.js";`.
 *
 * - el builds DOM nodes: text goes in through textContent and attributes through
 *   setAttribute, never innerHTML, so a registry string can never become markup.
 * - api calls the service; a logged-in user's token is kept in sessionStorage (gone
 *   when the tab closes) and sent as an Authorization header, never in a URL or a cookie,
 *   so there is nothing for another site to forge (no CSRF).
 * - The public pages (PUBLIC_PAGES: residents' page, handout) never send the token, so
 *   that a coordinator logged in in the same tab cannot print staff-only data for a
 *   resident: they show exactly what the public sees.
 * - config is GET /ui/config: category colours and glyphs, the choropleth's classes and
 *   labels, background maps; nothing of the kind is written in the pages' scripts.
 * - t translates: Japanese by default, English with ?lang=en (remembered).
 * - formatSchedule, formatFee and weekdayLabel word schedules and fees from
 *   static/i18n/wording.json, the table geo_service/reports/wording.py reads too (the
 *   地域カルテ), so that both write them alike (tests/ui/test_wording.py).
 */
import { regionBasemap } from "./basemap.js";

const TOKEN_KEY = "geo-service.token";
const LANG_KEY = "geo-service.lang";
const query = new URLSearchParams(location.search);
if (query.get("lang") === "en" || query.get("lang") === "ja") {
  localStorage.setItem(LANG_KEY, query.get("lang"));
}
export const lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "ja";
document.documentElement.lang = lang;
const PUBLIC_PAGES = new Set(["resident", "handout"]);
export let config = null;
let messages = {};
let publicPage = true; // until init() names the page

/** An element: el("a", {href: url, class: "x", onclick: f}, "text", child, …). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "text") {
      node.textContent = String(value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An error answer of the service: status, and the detail of its one error shape. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : (detail && detail.message) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }

  /** The faults of an error answer, [{field (dotted path or null), reason}]: every
   *  problem of the service's one error shape (409, 413, 422), else its message. */
  problems() {
    const d = this.detail;
    if (d && Array.isArray(d.problems) && d.problems.length) return d.problems;
    return [{ field: (d && d.field) || null, reason: (d && (d.reason || d.message)) || this.message }];
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Call the API; JSON in and out. Options: method, body (JSON), form (FormData),
 *  headers, text (answer as text). Throws ApiError on an error answer. */
export async function api(path, options = {}) {
  // the service answers its errors in the page's language (Japanese unless English)
  const headers = { Accept: "application/json", "Accept-Language": lang, ...(options.headers || {}) };
  const tok = publicPage ? null : token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  let body;
  if (options.form) {
    body = options.form;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body });
  if (response.status === 401 && tok) {
    sessionStorage.removeItem(TOKEN_KEY);
    document.dispatchEvent(new CustomEvent("gs:logged-out"));
  }
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      detail = (await response.json()).detail;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  if (options.response) return response;
  if (response.status === 204) return null;
  return options.text ? response.text() : response.json();
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const response = await fetch("/auth/token", {
    method: "POST", body: form,
    headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept-Language": lang },
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer.detail);
  sessionStorage.setItem(TOKEN_KEY, answer.access_token);
  return api("/auth/me");
}

export function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new CustomEvent("gs:logged-out"));
}

/** Load GET /ui/config and the page's messages (static/i18n/common.json, wording.json
 *  and page.json). */
export async function init(page) {
  publicPage = PUBLIC_PAGES.has(page);
  const messageFile = (name) => fetch(`/static/i18n/${name}.json`).then((r) => r.json());
  const [cfg, ...files] = await Promise.all([
    fetch("/ui/config").then((r) => r.json()),
    messageFile("common"), messageFile("wording"),
    page ? messageFile(page) : { ja: {}, en: {} },
  ]);
  config = cfg;
  messages = Object.assign({}, ...files.map((f) => f.ja),
                           ...(lang === "en" ? files.map((f) => f.en) : []));
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-label]")) {
    node.setAttribute("aria-label", t(node.dataset.tLabel));
  }
  for (const node of document.querySelectorAll("[data-t-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.tPlaceholder));
  }
  if (messages[`title.${page}`]) document.title = t(`title.${page}`);
  localiseLeaflet();
  showRegion();
  return config;
}

/** The served region's name (飯塚市) before the page's title (the server writes it there
 *  and above the heading, with the sources' attributions in the page's footer). */
function showRegion() {
  if (config.region) document.title = `${config.region.name} — ${document.title}`;
}

/** Leaflet's own words (the zoom buttons' and the layer switch's titles) in the page's
 *  language: Leaflet writes them in English. */
function localiseLeaflet() {
  if (typeof L === "undefined" || L.Control.Layers.prototype.gsLocalised) return;
  Object.assign(L.Control.Zoom.prototype.options,
                { zoomInTitle: t("map.zoom_in"), zoomOutTitle: t("map.zoom_out") });
  const initLayout = L.Control.Layers.prototype._initLayout;
  L.Control.Layers.include({
    gsLocalised: true,
    _initLayout() {
      initLayout.call(this);
      this._layersLink.title = t("map.layers");
      this._layersLink.setAttribute("aria-label", t("map.layers"));
    },
  });
}

/** The message ``key`` in the page's language, {name}s filled from ``vars``. */
export function t(key, vars = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** A category's style (colour, glyph, label) by id, from the vocabulary or a layer. */
export function category(id) {
  const all = [...config.categories, ...config.layers.flatMap((l) => l.categories)];
  return all.find((c) => c.id === id) ||
    { id, label: id, label_en: id, color: "#666666", icon: "?", kind: "place", food: false };
}

export function categoryLabel(id) {
  const c = category(id);
  return lang === "en" ? c.label_en : c.label;
}

/** A round marker in the category's colour with its glyph (a Leaflet divIcon). */
export function markerIcon(categoryId, { size = 30, selected = false } = {}) {
  const c = category(categoryId);
  const glyph = el("span", { class: "gs-marker-glyph", "aria-hidden": "true", text: c.icon });
  glyph.style.background = c.color;
  if (selected) glyph.classList.add("selected");
  return L.divIcon({ className: "gs-marker", html: glyph, iconSize: [size, size],
                     iconAnchor: [size / 2, size / 2], popupAnchor: [0, -size / 2] });
}

/** The choropleth class of a share by the configured breaks (upper limits of all
 *  classes but the last; a share equal to a break falls in the class above, as the
 *  CLI's map does); −1 when there is no share (no one 65+). */
export function classIndex(share) {
  if (share === null || share === undefined || Number.isNaN(Number(share))) return -1;
  return config.difficulty.breaks.filter((b) => b <= share).length;
}

/** The choropleth colour of a share (the no-data colour without one). */
export function classColor(share) {
  const i = classIndex(share);
  return i < 0 ? config.difficulty.no_data_color : config.difficulty.colors[i];
}

/** The choropleth legend's entries, [[colour, label], …]: the highest class first,
 *  the no-data class last. */
export function classLegend() {
  const d = config.difficulty;
  const en = lang === "en";
  const labels = en ? d.labels_en : d.labels;
  const items = d.colors.map((c, i) => [c, labels[i]]).reverse();
  items.push([d.no_data_color, en ? d.no_data_label_en : d.no_data_label]);
  return items;
}

/** An area layer's name as the pages show it: translated by its id (``layer.<id>`` of
 *  common.json) when known, else as the region names it. */
export function layerLabel(layer) {
  const key = `layer.${layer.id}`;
  const label = t(key);
  return label === key ? layer.name : label;
}

/** A Leaflet map in ``element`` with the configured background maps, the region's own
 *  map (basemap.js: its streets, outlines, rivers and railways; always offered, shown
 *  first when no tiles are configured and chosen by itself when tiles cannot load), a
 *  metric scale bar, fitted to the served region. */
export function makeMap(element, { zoomControl = true } = {}) {
  // a maxZoom of its own: with no tiles (GEO_SERVICE_BASEMAPS=none) no layer gives one, and
  // the marker clusters refuse a map without it ("Map has no maxZoom specified")
  const maxZoom = Math.max(19, ...config.basemaps.map((b) => b.max_zoom || 0));
  const map = L.map(element, { zoomControl, preferCanvas: false, maxZoom });
  const bases = {};
  const own = config.region ? regionBasemap() : L.layerGroup();
  let fallen = false;
  for (const b of config.basemaps) {
    const layer = L.tileLayer(b.url, {
      maxZoom: b.max_zoom, attribution: escapeHtml(b.attribution), crossOrigin: true,
    });
    layer.on("tileerror", () => {
      if (fallen) return;
      fallen = true;
      map.removeLayer(layer);
      own.addTo(map);
      notice(element, t("map.tiles_unavailable"));
    });
    bases[b.name] = layer;
  }
  bases[t("map.region")] = own;
  Object.values(bases)[0].addTo(map);
  if (Object.keys(bases).length > 1) {
    L.control.layers(bases, null, { collapsed: true, position: "topright" }).addTo(map);
  }
  L.control.scale({ imperial: false, metric: true, position: "bottomleft" }).addTo(map);
  map.attributionControl.setPrefix(false);
  // the region's sources: OpenStreetMap's credit (ODbL asks for it on the map) and a link
  // to the page's footer, which lists every attribution (in full they would cover a phone's map)
  const credits = (config.region && config.region.attributions) || [];
  for (const text of credits.filter((c) => c.includes("OpenStreetMap"))) {
    map.attributionControl.addAttribution(escapeHtml(text));
  }
  if (credits.length) {
    map.attributionControl.addAttribution(
      `<a href="#sources">${escapeHtml(t("sources.title"))}</a>`);
  }
  if (config.region) {
    const [w, s, e, n] = config.region.streets || config.region.bounds;
    map.fitBounds([[s, w], [n, e]]);
  } else {
    map.setView([35.68, 139.76], 12);
  }
  return map;
}

/** ``map.fitBounds`` when it can be done: the map is on screen (a hidden container has
 *  no size, and Leaflet would compute a NaN view) and the bounds are valid. */
export function fitBounds(map, bounds, options) {
  const size = map.getSize();
  if (size.x > 0 && size.y > 0 && bounds && bounds.isValid()) map.fitBounds(bounds, options);
}

/** A line under the map ``element`` saying ``text`` (e.g. that tiles cannot load), with
 *  a button that closes it: outside the map, so that it hides nothing on a phone. */
export function notice(element, text) {
  const box = el("p", { class: "gs-map-notice", role: "status" },
                 el("span", { text }),
                 el("button", { type: "button", class: "gs-map-notice-close",
                                "aria-label": t("map.close_notice"), text: "×",
                                onclick: () => box.remove() }));
  element.after(box);
  return box;
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** The service's clock: the region's time (Japan), whatever the browser's time zone. */
const JAPAN_TIME = new Intl.DateTimeFormat("sv-SE", {
  timeZone: "Asia/Tokyo", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit",
});

/** A moment the service records (ISO, UTC) as people there read it: 2026-12-06 22:44
 *  in Japan time; "" without one. */
export function formatDateTime(iso) {
  return iso ? JAPAN_TIME.format(new Date(iso)) : "";
}

/** Today's weekday key (mon … sun). */
export function today() {
  return WEEKDAYS[(new Date().getDay() + 6) % 7];
}

/** A schedule in words (static/i18n/wording.json): 「毎週水曜 10:00〜11:30」
 *  「第1・第3水曜 10:00〜」, a frequency that names its day alone (「第2月曜」), the text
 *  as written after it; "" without one. Mobile-sales stops are the pages' own. */
export function formatSchedule(schedule) {
  if (!schedule) return "";
  const days = (schedule.weekdays || []).filter((d) => WEEKDAYS.includes(d));
  const freq = schedule.frequency || "";
  const time = schedule.start ? t("schedule.time", { start: schedule.start, end: schedule.end || "" }) : "";
  let when = freq;
  if (days.length && !freq.includes(t("schedule.named_day"))) {
    when = t("schedule.days", { frequency: freq || t("schedule.every"),
                                days: days.map((d) => t(`weekday.${d}`)).join(t("schedule.day_sep")) });
  }
  const parts = [when, time].filter(Boolean).join(" ");
  return [parts, schedule.text].filter(Boolean).join(t("schedule.text_sep"));
}

/** A weekday (mon … sun) in words: 水曜 / Wed. */
export function weekdayLabel(key) {
  return WEEKDAYS.includes(key) ? t("weekday.label", { day: t(`weekday.${key}`) }) : "";
}

/** A fee in words (static/i18n/wording.json): 無料, 1,500円, or the text as written —
 *  alone when it states the amount (500円 + 「1食500円」 → 1食500円); "" when nothing is
 *  known. */
export function formatFee(fee) {
  if (!fee) return "";
  if (fee.kind === "free") return t("fee.free");
  const known = fee.amount_yen !== null && fee.amount_yen !== undefined;
  if (fee.text && (!known || fee.text.replace(/[,，]/g, "").includes(String(fee.amount_yen)))) {
    return fee.text;
  }
  const amount = known ? t("fee.yen", { amount: fee.amount_yen.toLocaleString("en-US") }) : "";
  return [amount, fee.text].filter(Boolean).join(" ");
}

/** A date (YYYY-MM-DD) in words: 2026年10月1日 / 1 Oct 2026. */
export function dateWords(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
  if (!m) return iso || "";
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return lang === "en"
    ? d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" })
    : `${Number(m[1])}年${Number(m[2])}月${Number(m[3])}日`;
}

/** Walking minutes as people read them: whole, rounded up (8.3 → 9; at least 1), as
 *  geo_service.reports.wording.walk_minutes does for the kartes (tests/ui/test_wording.py). */
export function walkMinutes(minutes) {
  return Math.max(1, Math.ceil(Math.round(Number(minutes) * 1e6) / 1e6));
}

/** Walking minutes and metres in words: 「徒歩 7分（520 m）」. */
export function walkText(minutes, metres) {
  return t("walk.minutes_metres", { minutes: walkMinutes(minutes),
                                    metres: Math.round(metres).toLocaleString() });
}

/** Sort ``table.rows`` by column ``index`` (the same column again: the other way;
 *  numbers start from the largest), empty values last, and mark the headers
 *  (``aria-sort``, ▲ ▼ ↕ in each ``th[data-col]``'s ``markSelector`` element).
 *  ``table``: {node, columns: [{key, numeric, value(row)}], rows, sort, dir}. */
export function sortTable(table, index, markSelector) {
  const col = table.columns[index];
  table.dir = table.sort === index ? -table.dir : (col.numeric ? -1 : 1);
  table.sort = index;
  const dir = table.dir;
  const empty = (v) => v === null || v === undefined;
  table.rows.sort((a, b) => {
    const x = col.value(a);
    const y = col.value(b);
    if (empty(x)) return empty(y) ? 0 : 1;
    if (empty(y)) return -1;
    const cmp = typeof x === "number" ? x - y : String(x).localeCompare(String(y), lang);
    return cmp * dir;
  });
  for (const th of table.node.querySelectorAll("thead th[data-col]")) {
    const mark = th.querySelector(markSelector);
    if (!mark) continue;
    if (th.dataset.col === col.key) {
      th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      mark.textContent = dir > 0 ? "▲" : "▼";
    } else {
      th.removeAttribute("aria-sort");
      mark.textContent = "↕";
    }
  }
}

/** Text a spreadsheet may run as a formula, after any quotes already added: = + - @ tab
 *  CR, the forms a spreadsheet program may read as one of them (＝ ＋ － ＠ ﹦ − …), also
 *  behind DEL, a zero-width character or a BOM — FORMULA_START of geo_service/_chars.py,
 *  which the server's exports quote alike. */
const FORMULA = /^'*[\x7f\u00ad\u200b-\u200f\u2060\ufeff]*[=+\-@\t\r\u207a\u207c\u208a\u208c\ufb29\ufe62\ufe63\ufe66\ufe6b\uff0b\uff0d\uff1d\uff20\u2212]/;

/** Save ``rows`` (arrays) as a CSV file with a UTF-8 BOM (Excel opens it as UTF-8);
 *  cells that a spreadsheet would run as a formula (FORMULA) are prefixed with '. */
export function downloadCsv(fileName, rows) {
  const cell = (v) => {
    let s = v === null || v === undefined ? "" : String(v);
    if (FORMULA.test(s)) s = `'${s}`;
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const text = rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
  saveBlob(fileName, new Blob(["\ufeff", text], { type: "text/csv;charset=utf-8" }));
}

export function saveBlob(fileName, blob) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Mark the page's first useful paint (its main content shown): benchmarks/bench_pages.py
 *  and the browser tests wait for body[data-ready]. */
export function ready() {
  if (document.body.dataset.ready) return;
  performance.mark("gs-ready");
  document.body.dataset.ready = "1";
}

/** The language switch (日本語 / English) as a link that keeps the page. */
export function languageLink() {
  const other = lang === "en" ? "ja" : "en";
  const url = new URL(location.href);
  url.searchParams.set("lang", other);
  return el("a", { href: url.pathname + url.search + url.hash, class: "gs-lang", lang: other,
                   text: other === "en" ? "English" : "日本語" });
}
