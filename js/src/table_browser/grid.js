// A DOM table for one page of rows: click a header to ask for a sort (onSort; the widget
// decides how far it reaches: the whole result, or this page only, said on the header),
// click rows to select them (shift-click: range, ctrl/cmd-click: toggle). The selection is
// a set of stable keys (ids as strings), so it survives sorting and paging.
import { h } from "../lib/dom.js";
import { clickSelection, formatValue, nextSort, sortOrder } from "./model.js";

export function createGrid({ onSelectionChange = () => {}, onSort = () => {} } = {}) {
  let columns = [];
  let rows = [];
  let keyIndex = -1;
  // {name, direction, local, note}: local → sorted here, within the page; else the rows
  // arrive sorted (the whole result) and are shown as they come.
  let sort = null;
  let order = [];
  let selection = new Set();
  let anchor = null;
  let stale = new Set(); // root ids on the page that are not the latest roots now

  const head = h("thead");
  const body = h("tbody");
  const table = h("table", { className: "cw-grid-table" }, head, body);
  const empty = h("div", { className: "cw-grid-empty" }, "No rows on this page.");
  const el = h("div", { className: "cw-grid", tabindex: "0" }, table, empty);

  function keyOf(rowIndex) {
    return keyIndex >= 0 ? String(rows[rowIndex][keyIndex]) : null;
  }

  function renderHead() {
    const cells = columns.map((col) => {
      const state = sort && sort.name === col.name ? sort.direction : "none";
      const arrow = state === "asc" ? " ▲" : state === "desc" ? " ▼" : "";
      const pageOnly = state !== "none" && sort.local;
      const sortable = col.kind !== "position";
      return h("th", {
        className: `cw-grid-th cw-kind-${col.kind}`,
        "aria-sort": state === "asc" ? "ascending" : state === "desc" ? "descending" : "none",
        "data-column": col.name,
        title: !sortable ? `${col.name} (${col.kind})`
          : pageOnly ? `${col.name}: ${sort.note || "sorted within this page only"}`
            : `${col.name} (${col.kind}): click to sort all matching rows`,
        onClick: () => { if (sortable) onSort(nextSort(sort, col.name)); },
      }, col.name, h("span", { className: "cw-grid-arrow" }, arrow),
      pageOnly ? h("span", { className: "cw-grid-page-only" }, "this page only") : null);
    });
    head.replaceChildren(h("tr", {}, cells));
  }

  function renderBody() {
    const index = sort && sort.local ? columns.findIndex((c) => c.name === sort.name) : -1;
    order = sortOrder(rows, index, index >= 0 ? columns[index].kind : "string", sort?.direction);
    const trs = order.map((r) => {
      const key = keyOf(r);
      const tr = h("tr", {
        className: key !== null && selection.has(key) ? "cw-grid-row cw-selected" : "cw-grid-row",
        "data-key": key ?? "",
        "aria-selected": key !== null && selection.has(key) ? "true" : "false",
      }, rows[r].map((value, c) => {
        const old = columns[c].name.endsWith("root_id") && stale.has(String(value));
        return h("td", {
          className: `cw-kind-${columns[c].kind}${old ? " cw-stale" : ""}`,
          title: old ? "not the latest root id: this cell was edited since" : undefined,
        }, formatValue(value, columns[c].kind), old ? h("span", { className: "cw-stale-badge" }, "changed") : null);
      }));
      return tr;
    });
    body.replaceChildren(...trs);
    empty.style.display = rows.length ? "none" : "";
  }

  function paintSelection() {
    for (const tr of body.children) {
      const on = selection.has(tr.dataset.key);
      tr.classList.toggle("cw-selected", on);
      tr.setAttribute("aria-selected", on ? "true" : "false");
    }
  }

  body.addEventListener("mousedown", (event) => {
    if (event.shiftKey) event.preventDefault(); // no text selection on shift-click
  });
  body.addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (!tr || keyIndex < 0 || !tr.dataset.key) return;
    const visible = order.map(keyOf);
    ({ selection, anchor } = clickSelection(selection, anchor, visible, tr.dataset.key, {
      shift: event.shiftKey,
      toggle: event.ctrlKey || event.metaKey,
    }));
    paintSelection();
    onSelectionChange(selection);
  });

  return {
    el,
    // columns: [{name, kind}], rows: arrays of values, key: the key column's name
    setData(next) {
      columns = next.columns;
      rows = next.rows;
      keyIndex = next.key ? columns.findIndex((c) => c.name === next.key) : -1;
      stale = new Set(next.stale || []);
      renderHead();
      renderBody();
    },
    setSort(next) {
      sort = next;
      renderHead();
      renderBody();
    },
    setSelection(keys) {
      selection = new Set(keys);
      if (!selection.has(anchor)) anchor = null;
      paintSelection();
    },
    get sort() {
      return sort;
    },
  };
}
