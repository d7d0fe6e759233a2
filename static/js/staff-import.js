/*
 * Coordinator pages: import a CSV/Excel list (#import). A dry run first
 * (POST /resources/import?dry_run=true) shows the row report; the import itself is all or
 * nothing and is offered only once the dry run of the chosen file found no problem.
 */
import * as GS from "./common.js";
import * as Staff from "./staff-session.js";

const { el, t } = GS;
let checked = null; // the File whose dry run had no problem

export function render(box) {
  checked = null;
  const file = el("input", { type: "file", id: "import-file", accept: ".csv,.xlsx,.xls,.tsv,.txt",
                             "aria-describedby": "import-hint",
                             onchange: () => { checked = null; commit.disabled = true; report.replaceChildren(); } });
  const report = el("div", { id: "import-report", "aria-live": "polite" });
  const commit = el("button", { type: "button", id: "import-commit", disabled: true,
                                text: t("import.commit"), onclick: () => send(file, report, commit, false) });
  box.replaceChildren(
    el("h2", { text: t("import.title") }),
    el("form", { class: "staff-import", onsubmit: (e) => { e.preventDefault(); send(file, report, commit, true); } },
      el("div", { class: "staff-field" },
        el("label", { for: "import-file", text: t("import.file") }),
        el("p", { id: "import-hint", class: "staff-hint", text: t("import.hint") }), file),
      el("div", { class: "staff-actions" },
        el("button", { type: "submit", id: "import-check", text: t("import.check") }), commit)),
    report);
}

async function send(fileInput, report, commit, dryRun) {
  const file = fileInput.files[0];
  if (!file) {
    report.replaceChildren(el("p", { class: "gs-error", role: "alert", text: t("import.no_file") }));
    fileInput.focus();
    return;
  }
  if (!dryRun && checked !== file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  report.replaceChildren(el("p", { class: "gs-muted", text: t("loading") }));
  try {
    const answer = await GS.api(`/resources/import?dry_run=${dryRun}`, { method: "POST", form });
    report.replaceChildren(...reportNodes(answer));
    const ok = answer.problems.length === 0 && answer.valid > 0;
    checked = dryRun && ok ? file : null;
    commit.disabled = !(dryRun && ok);
  } catch (e) {
    checked = null;
    commit.disabled = true;
    const detail = e.detail && e.detail.problems ? e.detail.problems : [];
    report.replaceChildren(el("p", { class: "gs-error", role: "alert", text: Staff.errorText(e) }),
      ...(detail.length ? [problemTable(detail.map((p) => ({ row: "", column: p.field, value: p.value, reason: p.reason })))] : []));
  }
}

/** The report's nodes (replaceChildren would print a null as the text "null"). */
function reportNodes(a) {
  const summary = el("dl", { class: "staff-summary" },
    el("dt", { text: t("import.rows") }), el("dd", { text: String(a.rows) }),
    el("dt", { text: t("import.valid") }), el("dd", { text: String(a.valid) }),
    el("dt", { text: t("import.problems") }), el("dd", { text: String(a.problems.length) }),
    el("dt", { text: t("import.written") }), el("dd", { text: String(a.written) }),
    a.needs_location_rows.length ? [el("dt", { text: t("import.needs_location") }),
      el("dd", { text: a.needs_location_rows.join(", ") })] : null,
    a.ignored_columns.length ? [el("dt", { text: t("import.ignored") }),
      el("dd", { text: a.ignored_columns.join(", ") })] : null);
  const head = a.dry_run
    ? (a.problems.length ? t("import.dry_bad", { n: a.problems.length }) : t("import.dry_ok", { n: a.valid }))
    : t("import.done", { n: a.written });
  return [
    el("h3", { text: a.dry_run ? t("import.report_dry") : t("import.report") }),
    el("p", { class: a.problems.length ? "gs-error" : "staff-ok", role: a.problems.length ? "alert" : "status",
              text: head }),
    el("p", { class: "gs-muted", text: `${a.file} (${a.encoding})` }),
    summary,
    ...(a.problems.length ? [problemTable(a.problems)] : []),
  ];
}

function problemTable(problems) {
  return el("div", { class: "gs-table-wrap" }, el("table", { class: "gs-table", id: "import-problems" },
    el("caption", { text: t("import.problem_table") }),
    el("thead", null, el("tr", null, [t("import.row"), t("import.column"), t("import.value"),
      t("import.reason")].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", null, problems.map((p) => el("tr", null,
      el("td", { text: String(p.row) }), el("td", { text: p.column || "" }),
      el("td", { text: p.value === null || p.value === undefined ? "" : String(p.value) }),
      el("td", { text: reasonText(p) }))))));
}

/** Why a row was refused, in the page's language where the service words it so. */
function reasonText(p) {
  return GS.lang === "ja" && p.reason_ja ? p.reason_ja : p.reason;
}
