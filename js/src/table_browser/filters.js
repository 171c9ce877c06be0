// The grid's query controls: a filter editor built from the table's columns (one row per
// filter, inputs fit the column kind and operator) and a column picker. Both keep a local
// draft until Apply; Python checks the draft and sends back per-filter messages.
import { h } from "../lib/dom.js";

const OP_LABELS = {
  equal: "equals",
  in: "is one of",
  not_in: "is not one of",
  range: "between",
  regex: "matches regex",
  bbox: "inside box",
};
const SPLIT = /[\s,;]+/;

function countValues(text, kind) {
  const parts = String(text || "").replace(/^[\s[({]+|[\s\])}]+$/g, "")
    .split(kind === "string" ? /\s*[,;\n]\s*/ : SPLIT).filter((p) => p.trim());
  return new Set(parts).size;
}

export function createFilterEditor({ onApply }) {
  let columns = []; // [{name, kind, ops}]
  let suggestions = {};
  let draft = [];
  let errors = {};
  let errorFields = {}; // row index -> the inputs at fault ("min", "max min", "value", ...)
  let listId = `cw-suggest-${Math.random().toString(36).slice(2, 9)}`;

  const rowsEl = h("div", { className: "cw-filter-rows" });
  const addColumn = h("select", { className: "cw-filter-add-column", "aria-label": "column to filter" });
  const addButton = h("button", { className: "cw-button cw-filter-add", onClick: () => add(addColumn.value) }, "+ Add filter");
  const applyButton = h("button", { className: "cw-button cw-primary cw-filter-apply", onClick: () => onApply() }, "Apply");
  const clearButton = h("button", { className: "cw-button cw-filter-clear", onClick: () => { draft = []; render(); onApply(); } }, "Clear filters");
  const summary = h("div", { className: "cw-filter-summary" });
  const el = h("div", { className: "cw-filters" },
    rowsEl, h("div", { className: "cw-filter-bar" }, addColumn, addButton, applyButton, clearButton), summary);

  function kindOf(name) {
    return columns.find((c) => c.name === name)?.kind || "string";
  }
  function opsOf(name) {
    return columns.find((c) => c.name === name)?.ops || [];
  }
  function add(name) {
    if (!name) return;
    draft.push({ column: name, op: opsOf(name)[0] });
    render();
    rowsEl.lastElementChild?.querySelector("input, textarea")?.focus();
  }
  function onKey(event) {
    if (event.key === "Enter" && (event.target.tagName !== "TEXTAREA" || event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      onApply();
    }
  }
  function input(spec, field, attrs = {}) {
    const node = h(attrs.multiline ? "textarea" : "input", {
      className: `cw-filter-${field}`,
      "data-field": field,
      placeholder: attrs.placeholder || "",
      list: attrs.list,
      rows: attrs.multiline ? 2 : undefined,
      "aria-label": `${spec.column} ${field}`,
      onKeydown: onKey,
    });
    node.value = spec[field] ?? "";
    node.addEventListener("input", () => {
      spec[field] = node.value;
      attrs.onInput?.();
      el.classList.add("cw-dirty");
    });
    return node;
  }

  function rowFor(spec, index) {
    const kind = kindOf(spec.column);
    const columnSelect = h("select", { className: "cw-filter-column", "aria-label": "column" },
      columns.map((c) => h("option", { value: c.name, selected: c.name === spec.column }, c.name)));
    columnSelect.addEventListener("change", () => {
      spec.column = columnSelect.value;
      if (!opsOf(spec.column).includes(spec.op)) spec.op = opsOf(spec.column)[0];
      render();
    });
    const opSelect = h("select", { className: "cw-filter-op", "aria-label": "operator" },
      opsOf(spec.column).map((op) => h("option", { value: op, selected: op === spec.op }, OP_LABELS[op] || op)));
    opSelect.addEventListener("change", () => {
      spec.op = opSelect.value;
      render();
    });
    const hint = h("span", { className: "cw-filter-hint" });
    let inputs;
    if (spec.op === "range") {
      inputs = [input(spec, "min", { placeholder: "min" }), h("span", {}, "and"), input(spec, "max", { placeholder: "max" })];
    } else if (spec.op === "bbox") {
      inputs = [input(spec, "min", { placeholder: "min x, y, z" }), h("span", {}, "to"), input(spec, "max", { placeholder: "max x, y, z" })];
    } else if (spec.op === "in" || spec.op === "not_in") {
      const showCount = () => {
        const n = countValues(spec.value, kind);
        hint.textContent = n ? `${n.toLocaleString()} value${n === 1 ? "" : "s"}` : "";
      };
      inputs = [input(spec, "value", {
        multiline: true,
        placeholder: kind === "string" ? "values, separated by commas or lines" : "paste ids or numbers (spaces, commas or lines between)",
        onInput: showCount,
      })];
      showCount();
    } else {
      const list = kind === "string" && suggestions[spec.column] ? `${listId}-${index}` : undefined;
      inputs = [input(spec, "value", { placeholder: spec.op === "regex" ? "regular expression, e.g. ^5P" : "value", list })];
      if (list) inputs.push(h("datalist", { id: list }, suggestions[spec.column].map((v) => h("option", { value: v }))));
      if (kind === "boolean" && !spec.value) spec.value = "true";
    }
    const remove = h("button", {
      className: "cw-button cw-filter-remove", title: "remove this filter", "aria-label": "remove filter",
      onClick: () => { draft.splice(index, 1); render(); onApply(); },
    }, "×");
    const message = errors[String(index)];
    // Only the inputs at fault are outlined (a bad minimum is not the maximum's fault).
    const atFault = new Set(String(errorFields[String(index)] || "").split(" ").filter(Boolean));
    const mark = (node, field) => { if (message && atFault.has(field)) node.classList.add("cw-invalid-field"); };
    mark(columnSelect, "column");
    mark(opSelect, "op");
    for (const node of inputs) if (node.dataset?.field) mark(node, node.dataset.field);
    return h("div", { className: message ? "cw-filter-row cw-invalid" : "cw-filter-row", "data-index": String(index) },
      h("div", { className: "cw-filter-line" }, columnSelect, opSelect, inputs, hint, remove),
      message ? h("div", { className: "cw-filter-error cw-text-error", role: "alert" }, message) : null);
  }

  function render() {
    rowsEl.replaceChildren(...draft.map(rowFor));
    summary.textContent = draft.length ? "" : "No filters: all rows.";
  }

  return {
    el,
    setColumns(next, nextSuggestions = {}) {
      columns = next;
      suggestions = nextSuggestions;
      addColumn.replaceChildren(...columns.map((c) => h("option", { value: c.name }, `${c.name} (${c.kind})`)));
      render();
    },
    setFilters(specs) {
      draft = (specs || []).map((s) => ({ ...s }));
      el.classList.remove("cw-dirty");
      render();
    },
    setErrors(next, fields = {}) {
      errors = next || {};
      errorFields = fields || {};
      render();
    },
    get specs() {
      return draft.map((s) => ({ ...s }));
    },
  };
}

export function createColumnPicker({ onApply }) {
  let columns = [];
  let chosen = new Set();
  let key = "";
  const list = h("div", { className: "cw-columns-list" });
  const el = h("details", { className: "cw-columns" },
    h("summary", {}, "Columns"), list,
    h("div", { className: "cw-filter-bar" },
      h("button", { className: "cw-button", onClick: () => { chosen = new Set(columns.map((c) => c.name)); render(); } }, "All"),
      h("button", { className: "cw-button cw-primary", onClick: () => onApply() }, "Apply columns")));

  function render() {
    list.replaceChildren(...columns.map((c) => {
      const box = h("input", { type: "checkbox", checked: chosen.has(c.name), disabled: c.name === key });
      box.addEventListener("change", () => {
        if (box.checked) chosen.add(c.name);
        else chosen.delete(c.name);
      });
      return h("label", { className: "cw-column-choice", title: c.name === key ? "the id is always shown (paging and selection use it)" : "" },
        box, h("span", {}, c.name), h("span", { className: "cw-kind-badge" }, c.kind));
    }));
  }

  return {
    el,
    set(nextColumns, selected, keyColumn) {
      columns = nextColumns;
      key = keyColumn || "";
      chosen = new Set(selected && selected.length ? selected : columns.map((c) => c.name));
      render();
    },
    get selected() {
      return columns.map((c) => c.name).filter((n) => chosen.has(n) || n === key);
    },
  };
}
