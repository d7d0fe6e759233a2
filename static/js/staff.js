/*
 * Coordinator pages (/staff): login, the list of resources, deleted resources, routing.
 * Views by hash: #list, #new, #edit=<id>, #deleted, #import. The editor is in
 * staff-editor.js, the import in staff-import.js, both loaded when a view first needs them
 * (the login form and the list do without). DOM through el only (no innerHTML).
 */
import * as GS from "./common.js";
import { areaName, areas, canEdit, errorText, setStatus, state } from "./staff-session.js";

const { el, t } = GS;
const view = () => document.getElementById("view");
let editor = null; // staff-editor.js, once a view has needed it

/** Is the resource's last verification older than 12 months (or never)? */
function isStale(p) {
  if (!p.last_verified) return true;
  const limit = new Date();
  limit.setFullYear(limit.getFullYear() - 1);
  return new Date(p.last_verified) < limit;
}

// ------------------------------------------------------------------ session

async function start() {
  await GS.init("staff");
  document.getElementById("lang-slot").append(GS.languageLink());
  document.getElementById("login-form").addEventListener("submit", onLogin);
  document.getElementById("logout").addEventListener("click", () => GS.logout());
  document.addEventListener("gs:logged-out", showLogin);
  window.addEventListener("hashchange", route);
  if (GS.token()) {
    try {
      state.user = await GS.api("/auth/me");
    } catch (_) { /* expired: the login form */ }
  }
  if (state.user) showApp(); else showLogin();
  GS.ready();
}

async function onLogin(event) {
  event.preventDefault();
  const box = document.getElementById("login-error");
  box.hidden = true;
  try {
    state.user = await GS.login(document.getElementById("login-user").value,
                                document.getElementById("login-pass").value);
    document.getElementById("login-pass").value = "";
    showApp();
  } catch (e) {
    box.textContent = e.status === 401 || e.status === 422 ? t("login.failed") : errorText(e);
    box.hidden = false;
  }
}

function showLogin() {
  state.user = null;
  state.offset = 0;
  document.getElementById("app").hidden = true;
  document.getElementById("user-box").hidden = true;
  document.getElementById("login-view").hidden = false;
  view().replaceChildren();
  document.getElementById("login-user").focus();
}

function showApp() {
  document.getElementById("login-view").hidden = true;
  document.getElementById("app").hidden = false;
  document.getElementById("user-box").hidden = false;
  const u = state.user;
  document.getElementById("user-name").textContent =
    `${u.username}（${t(`role.${u.role}`)}）`;
  state.filters.mine = u.role !== "admin";
  route();
}

// ------------------------------------------------------------------ routing

/** Leaving an editor with unsaved changes asks first (in the page, not a dialog). */
function guard() {
  if (state.leaving || !editor || !editor.isDirty()) return false;
  const target = location.hash;
  history.replaceState(null, "", state.hash || "#list");
  const status = document.getElementById("status");
  status.replaceChildren(el("span", { class: "staff-guard", role: "alert" },
    t("edit.unsaved"), " ",
    el("button", { type: "button", class: "secondary", id: "guard-stay", text: t("edit.stay"),
                   onclick: () => { status.replaceChildren(); document.getElementById("save").focus(); } }),
    " ",
    el("button", { type: "button", class: "danger", id: "guard-leave", text: t("edit.leave"),
                   onclick: () => { state.leaving = true; location.hash = target; } })));
  document.getElementById("guard-stay").focus();
  return true;
}

async function route() {
  if (!state.user) return;
  if (guard()) return;
  state.leaving = false;
  state.hash = location.hash;
  const hash = decodeURIComponent(location.hash.slice(1)) || "list";
  const [name, arg] = hash.split("=", 2);
  for (const a of document.querySelectorAll(".staff-tabs a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  setStatus(state.flash || "");
  state.flash = null;
  if (editor) editor.close();
  if (state.listMap) {
    state.listMap.stop();
    state.listMap.remove();
    state.listMap = null;
  }
  // a newer route (another hash) may start while this one waits for the server: each
  // renders into its own container, shown only while it is the latest
  const seq = ++state.routeSeq;
  const live = () => seq === state.routeSeq;
  const box = el("div", null, el("p", { class: "gs-muted", text: t("loading") }));
  view().replaceChildren(box);
  try {
    await areas();
    if (!live()) return;
    if ((name === "edit" && arg) || name === "new") {
      editor = await import("./staff-editor.js");
      if (live()) await editor.open(box, name === "edit" ? arg : null, live);
    } else if (name === "deleted") {
      await renderDeleted(box, live);
    } else if (name === "import") {
      const { render } = await import("./staff-import.js");
      if (live()) render(box);
    } else {
      await renderList(box, live);
    }
  } catch (e) {
    if (live()) box.replaceChildren(el("p", { class: "gs-error", role: "alert", text: errorText(e) }));
  }
}

// ------------------------------------------------------------------ the list

/** Resources per page of the list: the server searches, filters, sorts and pages. */
const PAGE = 50;

/** The list's query: the filters, the order and the page, as /resources parameters. */
function listQuery(extra = {}) {
  const f = state.filters;
  const params = new URLSearchParams({ sort: state.sort.key, order: state.sort.dir > 0 ? "asc" : "desc",
                                       limit: PAGE, offset: state.offset, ...extra });
  if (f.q.trim()) params.set("q", f.q.trim());
  if (f.category) params.set("category", f.category);
  if (f.area) params.set("area", f.area);
  if (f.visibility) params.set("visibility", f.visibility);
  if (f.mine) params.set("mine", "true");
  if (f.stale) params.set("unverified_months", "12");
  return `/resources?${params}`;
}

async function renderList(box, live) {
  const f = state.filters;
  const table = el("div", { class: "gs-table-wrap" });
  const count = el("p", { class: "gs-muted", "aria-live": "polite" });
  const pager = el("nav", { class: "staff-pager", "aria-label": t("list.pages") });
  const mapBox = el("div", { id: "list-map", class: "gs-map staff-list-map" });
  let map = null;
  let markers = null;
  let seq = 0;
  let fitted = false;
  const cats = el("select", { id: "f-category" },
    el("option", { value: "", text: t("list.all_categories") }),
    GS.config.categories.map((c) => el("option", { value: c.id, text: GS.categoryLabel(c.id) })));
  cats.value = f.category;
  const areaSelect = el("select", { id: "f-area" },
    el("option", { value: "", text: t("list.all_areas") }),
    (state.areas ? state.areas.features : []).map((a) => el("option", { value: a.id, text: a.properties.name })));
  areaSelect.value = f.area;
  const visibility = el("select", { id: "f-visibility" },
    el("option", { value: "", text: t("list.all_visibility") }),
    el("option", { value: "public", text: t("list.public_only") }),
    el("option", { value: "staff", text: t("list.staff_only_filter") }));
  visibility.value = f.visibility;
  /** Load and draw the current page (an older answer arriving late is dropped). */
  const redraw = async () => {
    const mine = ++seq;
    let page;
    try {
      page = await GS.api(listQuery());
    } catch (e) {
      if (live() && mine === seq) setStatus(errorText(e));
      return;
    }
    if (!live() || mine !== seq) return;
    if (!page.features.length && state.offset > 0 && page.total > 0) {  // past the end
      state.offset = Math.floor((page.total - 1) / PAGE) * PAGE;
      redraw();
      return;
    }
    const rows = page.features.map((x) => x.properties);
    count.textContent = rows.length
      ? t("list.range", { from: state.offset + 1, to: state.offset + rows.length, total: page.total })
      : t("list.count", { n: 0, total: 0 });
    table.replaceChildren(listTable(rows, () => { state.offset = 0; return redraw(); }));
    pager.replaceChildren(...pagerControls(page.total, redraw));
    if (map) {
      drawMarkers(map, markers, rows);
      if (!fitted && markers.getLayers().length) {
        map.fitBounds(markers.getBounds().pad(0.3), { maxZoom: 17, animate: false });
        fitted = true;
      }
    }
  };
  const again = () => { state.offset = 0; redraw(); };
  let typing = null;
  const search = el("input", { id: "f-q", type: "search", value: f.q,
                               oninput: (e) => { f.q = e.target.value; clearTimeout(typing);
                                                 typing = setTimeout(again, 250); } });
  const mineBox = el("input", { id: "f-mine", type: "checkbox",
                                onchange: (e) => { f.mine = e.target.checked; again(); } });
  mineBox.checked = f.mine;
  const stale = el("input", { id: "f-stale", type: "checkbox",
                              onchange: (e) => { f.stale = e.target.checked; again(); } });
  stale.checked = f.stale;
  cats.addEventListener("change", () => { f.category = cats.value; again(); });
  areaSelect.addEventListener("change", () => { f.area = areaSelect.value; again(); });
  visibility.addEventListener("change", () => { f.visibility = visibility.value; again(); });
  const field = (id, label, input) => el("div", { class: "staff-field" }, el("label", { for: id, text: label }), input);
  box.replaceChildren(
    el("h2", { text: t("list.title") }),
    el("div", { class: "staff-filters" },
      field("f-q", t("list.search"), search),
      field("f-category", t("list.category"), cats),
      field("f-area", t("list.area"), areaSelect),
      field("f-visibility", t("list.visibility"), visibility),
      el("div", { class: "staff-check" }, mineBox, el("label", { for: "f-mine", text: t("list.mine") })),
      el("div", { class: "staff-check" }, stale, el("label", { for: "f-stale", text: t("list.stale_only") })),
      el("div", { class: "staff-actions" },
        el("a", { class: "gs-button", href: "#new", text: t("tabs.new") }),
        el("button", { type: "button", class: "secondary", text: t("list.export_list"),
                       onclick: () => exportList() }),
        el("button", { type: "button", class: "secondary", text: t("list.export_all"),
                       onclick: () => exportAll() }))),
    count, table, pager,
    el("h3", { text: t("list.map") }), mapBox);
  map = GS.makeMap(mapBox);
  state.listMap = map;
  markers = L.featureGroup().addTo(map);
  await redraw();
}

/** Previous / next and the page number: buttons a thumb can hit on a 360 px phone. */
function pagerControls(total, redraw) {
  const pages = Math.max(1, Math.ceil(total / PAGE));
  const current = Math.floor(state.offset / PAGE) + 1;
  const go = (n) => { state.offset = (n - 1) * PAGE; redraw(); };
  return [
    el("button", { type: "button", class: "secondary", id: "page-prev", text: t("list.prev"),
                   disabled: current <= 1 ? "" : null, onclick: () => go(current - 1) }),
    el("span", { class: "staff-pager-at", text: t("list.page", { page: current, pages }) }),
    el("button", { type: "button", class: "secondary", id: "page-next", text: t("list.next"),
                   disabled: current >= pages ? "" : null, onclick: () => go(current + 1) })];
}

function listTable(rows, redraw) {
  const cols = [["name", t("col.name")], ["category", t("col.category")],
                ["area", t("col.area")], ["last_verified", t("col.verified")],
                ["updated_at", t("col.updated")]];
  const head = el("tr", null, cols.map(([key, label]) => {
    const sorted = state.sort.key === key;
    return el("th", { scope: "col", "aria-sort": sorted ? (state.sort.dir > 0 ? "ascending" : "descending") : "none" },
      el("button", { type: "button", onclick: async () => {
        state.sort = { key, dir: sorted ? -state.sort.dir : 1 };
        await redraw();
        const again = document.querySelector(`th button[data-key="${key}"]`);
        if (again) again.focus();
      }, "data-key": key }, label, el("span", { "aria-hidden": "true",
        text: sorted ? (state.sort.dir > 0 ? " ▲" : " ▼") : " ↕" })));
  }), el("th", { scope: "col", text: t("col.location") }));
  // data-label: the column's name, shown before each cell where rows become cards (phones)
  const body = rows.map((p) => el("tr", { class: isStale(p) ? "staff-stale" : null },
    el("td", { class: "staff-cell-name" },
      el("a", { href: `#edit=${encodeURIComponent(p.id)}`, text: p.name }),
      p.visibility === "staff" ? el("span", { class: "staff-badge", text: t("list.staff_only") }) : null),
    el("td", { "data-label": t("col.category"), text: GS.categoryLabel(p.category) }),
    el("td", { "data-label": t("col.area"), text: areaName(p.area) }),
    el("td", { "data-label": t("col.verified") }, p.last_verified
      ? [p.last_verified, isStale(p) ? el("span", { class: "staff-badge warn", text: t("list.stale") }) : null]
      : el("span", { class: "staff-badge warn", text: t("list.never") })),
    el("td", { "data-label": t("col.updated"), text: GS.formatDateTime(p.updated_at) }),
    el("td", { "data-label": t("col.location"), class: p.lat === null ? null : "staff-cell-empty",
               text: p.lat === null ? t("list.no_location") : "" })));
  if (!rows.length) {
    body.push(el("tr", null, el("td", { colspan: 6, text: t("list.empty") })));
  }
  return el("table", { class: "gs-table staff-table" },
    el("caption", { class: "gs-visually-hidden", text: t("list.title") }),
    el("thead", null, head), el("tbody", null, body));
}

/** A popup's content: the name as text and a link to the editor. */
function popupNode(p) {
  return el("div", { class: "staff-popup" },
    el("strong", { text: p.name }), el("br"),
    el("span", { text: GS.categoryLabel(p.category) }), el("br"),
    canEdit(p) ? el("a", { href: `#edit=${encodeURIComponent(p.id)}`, text: t("list.edit") }) : null);
}

function drawMarkers(map, group, rows) {
  group.clearLayers();
  for (const p of rows) {
    if (p.lat === null || p.lon === null) continue;
    L.marker([p.lat, p.lon], { icon: GS.markerIcon(p.category), title: p.name, alt: p.name })
      .bindPopup(() => popupNode(p)).addTo(group);
  }
}

/** Every resource of the list's filters and order (all pages), as CSV. */
async function exportList() {
  const rows = [];
  for (let offset = 0; ; offset += 500) {
    const page = await GS.api(listQuery({ limit: 500, offset }));
    rows.push(...page.features.map((f) => f.properties));
    if (rows.length >= page.total || !page.features.length) break;
  }
  GS.downloadCsv("resources-list.csv", [
    ["id", t("col.name"), t("col.category"), t("col.area"), t("col.verified"),
     t("col.updated"), "lat", "lon"],
    ...rows.map((p) => [p.id, p.name, GS.categoryLabel(p.category), areaName(p.area),
                        p.last_verified || "", GS.formatDateTime(p.updated_at), p.lat, p.lon])]);
}

async function exportAll() {
  const response = await GS.api("/resources/export?format=csv", { response: true });
  GS.saveBlob("resources.csv", await response.blob());
}

// ------------------------------------------------------------------ deleted resources

async function renderDeleted(box, live) {
  const page = await GS.api("/resources?deleted=true&limit=500");
  if (!live()) return;
  const rows = page.features.map((f) => f.properties);
  const body = rows.map((p) => el("tr", null,
    el("td", { text: p.name }), el("td", { text: GS.categoryLabel(p.category) }),
    el("td", { text: areaName(p.area) }), el("td", { text: GS.formatDateTime(p.updated_at) }),
    el("td", null, canEdit(p) ? el("button", {
      type: "button", class: "secondary", "aria-label": t("deleted.restore_named", { name: p.name }),
      text: t("deleted.restore"), onclick: () => restore(p) }) : null)));
  if (!rows.length) body.push(el("tr", null, el("td", { colspan: 5, text: t("deleted.empty") })));
  box.replaceChildren(el("h2", { text: t("deleted.title") }),
    el("p", { class: "gs-muted", text: t("deleted.help") }),
    el("div", { class: "gs-table-wrap" }, el("table", { class: "gs-table" },
      el("caption", { class: "gs-visually-hidden", text: t("deleted.title") }),
      el("thead", null, el("tr", null, [t("col.name"), t("col.category"), t("col.area"),
        t("deleted.when"), t("deleted.action")].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", null, body))));
}

async function restore(p) {
  try {
    await GS.api(`/resources/${encodeURIComponent(p.id)}/undo`, {
      method: "POST", headers: { "If-Match": `"${p.version}"` } });
    state.flash = t("deleted.restored", { name: p.name });
    location.hash = `#edit=${encodeURIComponent(p.id)}`;
  } catch (e) {
    setStatus(errorText(e));
  }
}

document.addEventListener("DOMContentLoaded", start);
