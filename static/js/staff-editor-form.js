/*
 * Coordinator pages, the editor: the open editor's state (``ed``, one resource at a time)
 * and the form's building blocks its parts share — a labelled field with its error slot,
 * inputs, reading values back, the map's message line.
 */
import * as GS from "./common.js";

const { el } = GS;

export let ed = null; // the open editor: {resource, map, layers, form nodes …}

/** Open an editor (``ed`` of every part follows), or none (null). */
export function setEditor(editor) {
  ed = editor;
}

/** Something was changed and not saved (leaving the editor then asks first). */
export function touched() {
  if (ed) ed.dirty = true;
}

/** A message under the editor's map (read out: aria-live). */
export function info(message) {
  const node = document.getElementById("map-info");
  if (node) node.textContent = message;
}

/** A labelled input with its error slot; ``field`` is the server's name of it. */
export function field(id, fieldName, label, input, hint) {
  input.id = id;
  input.dataset.field = fieldName;
  const hintNode = hint ? el("p", { id: `${id}-hint`, class: "staff-hint", text: hint }) : null;
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return el("div", { class: "staff-field" }, el("label", { for: id, text: label }), hintNode,
    input, el("p", { id: `${id}-error`, class: "staff-field-error", hidden: true }));
}

export const text = (value, attrs = {}) => el("input", { type: "text", value: value ?? "", ...attrs });

export const area = (value, attrs = {}) => {
  const node = el("textarea", { rows: 3, ...attrs });
  node.value = value ?? "";
  return node;
};

export const select = (value, options) => {
  const node = el("select", null, options.map(([v, label]) => el("option", { value: v, text: label })));
  node.value = value ?? "";
  return node;
};

export const val = (id) => {
  const v = document.getElementById(id).value.trim();
  return v === "" ? null : v;
};

export const num = (id) => {
  const v = val(id);
  return v === null ? null : Number(v);
};
