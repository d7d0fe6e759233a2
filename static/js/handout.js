/*
 * The printable handout (/handout): one A4 page for a place (?place=<id>) or an area
 * (?layer=<layer id>&area=<area id>): what it offers in words, a small map and a QR code
 * that opens the residents' page on a phone (the place's detail, or the area's centre).
 * Public data only (GS never sends a token here); registry strings go in as text, and the
 * QR code is drawn as SVG rectangles from the library's module matrix.
 */
import * as GS from "./common.js";

const { el, t } = GS;
const SVG = "http://www.w3.org/2000/svg";
const MAX_ITEMS = 60;

function fact(label, ...value) {
  const parts = value.flat().filter((v) => v !== null && v !== undefined && v !== "");
  return parts.length ? [el("dt", { text: label }), el("dd", {}, ...parts)] : null;
}

function stopsText(schedule) {
  return ((schedule && schedule.stops) || []).map((x) => t("handout.stop", {
    name: x.name || "", day: GS.weekdayLabel(x.weekday), time: x.time || "",
    minutes: x.minutes || "" }));
}

/** The residents' page link a phone opens (absolute, in the page's language). */
function residentLink(hash) {
  const url = new URL("/", location.origin);
  if (GS.lang === "en") url.searchParams.set("lang", "en");
  url.hash = hash;
  return url.toString();
}

/** A QR code of ``text`` as an SVG element (one path of the dark modules). */
function drawQr(text) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const margin = 4;
  const size = n + margin * 2;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("shape-rendering", "crispEdges");
  const title = document.createElementNS(SVG, "title");
  title.textContent = t("handout.qr_label");
  svg.append(title);
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("width", size);
  bg.setAttribute("height", size);
  bg.setAttribute("fill", "#fff");
  svg.append(bg);
  let d = "";
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (qr.isDark(r, c)) d += `M${c + margin} ${r + margin}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(path);
  const box = document.getElementById("qr");
  box.dataset.qrText = text;
  box.dataset.modules = String(n);
  box.replaceChildren(svg);
  document.getElementById("qr-url").textContent = text;
}

function makeMap() {
  const map = GS.makeMap(document.getElementById("map"), { zoomControl: false });
  for (const h of ["dragging", "touchZoom", "doubleClickZoom", "scrollWheelZoom", "boxZoom", "keyboard"]) {
    map[h].disable();
  }
  document.getElementById("map").removeAttribute("tabindex");
  return map;
}

function numberIcon(n) {
  return L.divIcon({ className: "h-marker", html: el("span", { text: String(n) }),
                     iconSize: [22, 22], iconAnchor: [11, 11] });
}

// ---------------------------------------------------------------- one place

async function placeSheet(id) {
  const f = await GS.api(`/resources/${encodeURIComponent(id)}`);
  const p = f.properties;
  const c = GS.category(p.category);
  const glyph = el("span", { class: "h-num", "aria-hidden": "true", text: c.icon });
  glyph.style.background = "#1b1b1b";
  document.getElementById("title").replaceChildren(el("span", { text: p.name }));
  document.getElementById("subtitle").textContent = GS.categoryLabel(p.category);
  document.title = t("handout.title_place", { name: p.name });
  const tel = p.contact && p.contact.tel;
  const stops = stopsText(p.schedule);
  document.getElementById("content").replaceChildren(el("dl", { class: "h-facts" },
    fact(t("detail.what"), p.description),
    fact(t("detail.when"), GS.formatSchedule(p.schedule),
         stops.length ? el("ul", {}, stops.map((s) => el("li", { text: s }))) : null),
    fact(t("detail.fee"), GS.formatFee(p.fee) || t("fee.unknown")),
    fact(t("detail.apply"), p.how_to_apply),
    fact(t("detail.for"), p.target_users),
    fact(t("detail.area"), p.service_area && p.service_area.text),
    fact(t("detail.address"), p.address),
    fact(t("detail.tel"), tel ? el("span", { class: "h-tel", text: tel }) : null),
    fact(t("detail.operator"), p.operator),
    fact(t("detail.notes"), p.notes),
    fact(t("detail.verified"), GS.dateWords(p.last_verified))));
  const map = makeMap();
  const points = [];
  if (p.lat !== null && p.lon !== null) {
    L.marker([p.lat, p.lon], { icon: GS.markerIcon(p.category, { size: 30 }), keyboard: false,
                               interactive: false }).addTo(map);
    points.push([p.lat, p.lon]);
  }
  ((p.schedule && p.schedule.stops) || []).forEach((s, k) => {
    if (s.lat === null || s.lon === null) return;
    L.marker([s.lat, s.lon], { icon: numberIcon(k + 1), keyboard: false, interactive: false })
      .addTo(map);
    points.push([s.lat, s.lon]);
  });
  // no animation: a zoom still animating would swallow the bands' fitBounds below
  if (points.length === 1) map.setView(points[0], 16, { animate: false });
  else if (points.length) map.fitBounds(points, { padding: [20, 20], maxZoom: 16, animate: false });
  await walkBands(map, id, p);
  drawQr(residentLink(`place=${encodeURIComponent(id)}`));
}

/** A place's walking-time bands (GET /resources/{id}/reach), lightest the farthest:
 *  where the streets cannot be drawn (no tiles) they still show what is near. */
async function walkBands(map, id, p) {
  if (p.lat === null || p.lon === null) return;
  let answer;
  try {
    answer = await GS.api(`/resources/${encodeURIComponent(id)}/reach`);
  } catch (_) {
    return;  // the map keeps its marker
  }
  if (answer.kind !== "isochrones") return;
  const bands = answer.features.filter((f) => f.geometry)
    .sort((a, b) => b.properties.minutes - a.properties.minutes);
  if (!bands.length) return;
  const shades = ["#c6dbef", "#9ecae1", "#6baed6"];
  bands.forEach((f, k) => {
    L.geoJSON(f.geometry, { interactive: false, style: {
      color: "#2171b5", weight: 1, fillColor: shades[Math.min(k, shades.length - 1)],
      fillOpacity: 0.45 } }).addTo(map);  // largest first: the nearest band on top
  });
  map.fitBounds(L.geoJSON(bands[0].geometry).getBounds(), { padding: [6, 6], animate: false });
  document.getElementById("map-note").textContent = t("handout.bands", {
    minutes: bands.map((f) => f.properties.minutes).sort((a, b) => a - b).join("・") });
}

// ---------------------------------------------------------------- an area

async function areaSheet(layer, areaId) {
  const area = await GS.api(
    `/areas/${encodeURIComponent(layer)}/${encodeURIComponent(areaId)}/coverage`);
  const name = area.properties.name || areaId;
  document.getElementById("title").replaceChildren(
    el("span", { text: t("handout.title_area", { area: name }) }));
  document.title = t("handout.title_area", { area: name });
  const cats = area.properties.categories || {};
  const order = [...GS.config.categories.map((c) => c.id),
                 ...Object.keys(cats).filter((k) => !GS.config.categories.some((c) => c.id === k))];
  const located = [];
  const covering = [];
  for (const key of order) {
    if (!cats[key]) continue;
    for (const id of cats[key].located || []) if (!located.includes(id)) located.push(id);
    for (const id of cats[key].covering || []) if (!covering.includes(id)) covering.push(id);
  }
  const fetchAll = (ids) => Promise.all(ids.slice(0, MAX_ITEMS).map((id) =>
    GS.api(`/resources/${encodeURIComponent(id)}`).then((f) => f.properties).catch(() => null)));
  const [places, services] = [(await fetchAll(located)).filter(Boolean),
                              (await fetchAll(covering)).filter(Boolean)];
  const content = document.getElementById("content");
  content.replaceChildren();
  const map = makeMap();
  const outline = L.geoJSON(area.geometry, { style: { color: "#0b3d6e", weight: 3, fill: false },
                                              interactive: false }).addTo(map);
  let n = 0;
  for (const key of order) {
    const group = places.filter((p) => p.category === key);
    if (!group.length) continue;
    content.append(el("h2", { class: "h-group", text: GS.categoryLabel(key) }));
    const ul = el("ul", { class: "h-list" });
    for (const p of group) {
      const points = placePoints(p);  // a mobile route: its stops, under the route's number
      if (points.length) n += 1;
      ul.append(itemRow(p, points.length ? n : null));
      for (const at of points) {
        L.marker(at, { icon: numberIcon(n), keyboard: false, interactive: false,
                       title: p.name }).addTo(map);
      }
    }
    content.append(ul);
  }
  // the places counted are the places numbered (on the map and in the list)
  document.getElementById("subtitle").textContent =
    t("handout.area_summary", { places: n, services: services.length });
  if (services.length) {
    content.append(el("h2", { class: "h-group", text: t("handout.services") }));
    const ul = el("ul", { class: "h-list" });
    for (const p of services) ul.append(itemRow(p, null));
    content.append(ul);
  }
  if (!places.length && !services.length) content.append(el("p", { text: t("handout.empty") }));
  if (places.length + services.length > 7) {
    document.body.classList.add("h-many");
    map.invalidateSize();
  }
  const bounds = outline.getBounds();
  map.fitBounds(bounds, { padding: [8, 8], animate: false });
  const centre = bounds.getCenter();
  drawQr(residentLink(`at=${centre.lat.toFixed(6)},${centre.lng.toFixed(6)}`));
}

/** Where a place is on the map: its own point, or a mobile route's stops. */
function placePoints(p) {
  if (p.lat !== null && p.lon !== null) return [[p.lat, p.lon]];
  return ((p.schedule && p.schedule.stops) || [])
    .filter((s) => s.lat !== null && s.lon !== null).map((s) => [s.lat, s.lon]);
}

function itemRow(p, n) {
  const tel = p.contact && p.contact.tel;
  const when = [GS.formatSchedule(p.schedule), ...stopsText(p.schedule)].filter(Boolean).join(t("list.sep"));
  const info = [when, GS.formatFee(p.fee), p.address || (p.service_area && p.service_area.text)]
    .filter(Boolean).join(t("list.sep"));
  // the phone number is kept on one line (it broke at a hyphen: 「0948-22-」「5500」)
  const phone = tel ? el("span", { class: "h-nowrap", text: t("handout.tel", { tel }) }) : null;
  return el("li", {},
    n === null ? el("span", { "aria-hidden": "true" }) : el("span", { class: "h-num", text: String(n) }),
    el("span", { class: "h-item-name", text: p.name }),
    info || phone ? el("span", { class: "h-item-info" }, info,
                       info && phone ? t("list.sep") : "", phone) : null);
}

// ---------------------------------------------------------------- start

async function start() {
  await GS.init("handout");
  document.getElementById("lang").append(GS.languageLink());
  document.getElementById("print").addEventListener("click", () => window.print());
  const q = new URLSearchParams(location.search);
  const made = new Date();
  document.getElementById("made").textContent = t("handout.made", {
    date: made.toLocaleDateString(GS.lang === "en" ? "en-GB" : "ja-JP"),
    region: (GS.config.region && GS.config.region.name) || "" });
  try {
    if (q.get("place")) {
      await placeSheet(q.get("place"));
      document.getElementById("back").href = `/#place=${encodeURIComponent(q.get("place"))}`;
    } else if (q.get("layer") && q.get("area")) {
      await areaSheet(q.get("layer"), q.get("area"));
    } else {
      throw new GS.ApiError(400, t("handout.usage"));
    }
  } catch (e) {
    document.getElementById("title").textContent = t("handout.error_title");
    document.getElementById("content").replaceChildren(el("p", { class: "h-error",
      text: e.status === 404 ? t("handout.not_found") : e.status === 400 ? e.message
        : e.status ? t("error.load", { detail: e.message }) : t("error.network") }));
  }
  GS.ready();
}

document.addEventListener("DOMContentLoaded", start);
