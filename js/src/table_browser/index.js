// TableBrowser front end (Python side: cave_widgets.widgets.table_browser): a table list,
// filters and columns, "N rows match", a pager and one page of rows at a time (Arrow IPC, ids
// as strings), selection, the full fetch and the code. Everything the kernel does is asked
// for with a request id; stale answers are dropped. The grid (grid.js), its query controls
// (filters.js) and its DOM-free logic (model.js) serve only this widget, so they live here.
import "../lib/messages.css";
import "./table_browser.css";
import { errorBox, h } from "../lib/dom.js";
import { createGrid } from "./grid.js";
import { createColumnPicker, createFilterEditor } from "./filters.js";
import { decodePage } from "./model.js";
import { createRequester } from "../lib/request.js";

const fmt = (n) => Number(n).toLocaleString("en-US");

function render({ model, el }) {
  const requester = createRequester(model); // its ids are unique per view
  const listeners = [];
  const on = (name, fn) => { model.on(name, fn); listeners.push([name, fn]); };
  let page = 0;
  let pageMeta = null;
  let pageRequest = null;

  // --- elements ---------------------------------------------------------------------------
  const atEl = h("span", { className: "cw-tb-at" });
  const busyEl = h("span", { className: "cw-tb-busy", "aria-live": "polite" });
  const messageEl = h("div", { className: "cw-tb-message" });
  const errorSlot = h("div", { className: "cw-tb-error-slot" });
  const tableList = h("div", { className: "cw-tb-tables", role: "list" });
  const titleEl = h("div", { className: "cw-tb-title" });
  const filters = createFilterEditor({ onApply: apply });
  const columnPicker = createColumnPicker({ onApply: apply });
  const queryError = h("div", { className: "cw-tb-query-error cw-text-error", role: "alert" });
  const staleEl = h("div", { className: "cw-tb-stale cw-text-warn", role: "status" });
  const staleFilterEl = h("div", { className: "cw-tb-stale-filter" });
  const countEl = h("div", { className: "cw-count", "aria-live": "polite" });
  const rangeEl = h("span", { className: "cw-tb-range" });
  const pageInput = h("input", { className: "cw-page-input", type: "number", min: "1", "aria-label": "page" });
  const pagesEl = h("span", { className: "cw-tb-pages" });
  const button = (label, title, fn, cls = "") => h("button", { className: `cw-button ${cls}`, title, onClick: fn }, label);
  const firstButton = button("«", "first page", () => loadPage(0), "cw-first");
  const prevButton = button("‹ Prev", "previous page", () => loadPage(page - 1), "cw-prev");
  const nextButton = button("Next ›", "next page", () => loadPage(page + 1), "cw-next");
  const lastButton = button("»", "last page", () => loadPage(lastPage()), "cw-last");
  const sizeSelect = h("select", { className: "cw-page-size", "aria-label": "rows per page" });
  const cancelPage = button("Cancel", "stop waiting for this page", () => pageRequest?.cancel(), "cw-cancel-page");
  const grid = createGrid({
    onSelectionChange(selection) {
      model.set("selection", [...selection]);
      model.save_changes();
      renderSelection();
    },
    onSort(next) { // Python decides how far the sort reaches; the page reloads in order
      requester.request("sort", next ? { column: next.name, descending: next.direction === "desc" }
        : { column: null }).promise.catch(quiet);
    },
  });
  const gridWrap = h("div", { className: "cw-grid-wrap" }, grid.el,
    h("div", { className: "cw-grid-loading" }, h("span", {}, "Loading page…"), cancelPage));
  const selectionEl = h("span", { className: "cw-selection" });
  const clearSelection = button("Clear selection", "", () => {
    model.set("selection", []);
    model.save_changes();
  }, "cw-clear-selection");
  // "Open in neuroglancer": the kernel stores the state and answers with the link; this
  // page opens it (a tab opened at the click, while it counts as one for popup blockers).
  const nglSelected = button("Open selected in neuroglancer", "the selected rows: their points and their segments (browser.neuroglancer_url())", () => openNeuroglancer("selected"), "cw-ngl-selected");
  const nglQuery = button("Open all matching rows in neuroglancer", "", () => openNeuroglancer("query"), "cw-ngl-query");
  const nglStatus = h("span", { className: "cw-ngl-status", role: "status" });
  const fetchButton = button("Fetch all rows → browser.df", "fetch every matching row into the kernel, in chunks", startFetch, "cw-fetch");
  const fetchCancel = button("Cancel", "stop the fetch", () => model.send({ type: "cancel", target: "fetch" }), "cw-fetch-cancel");
  const fetchBar = h("progress", { className: "cw-progress", max: "1", value: "0" });
  const fetchText = h("span", { className: "cw-fetch-text" });
  const codeEl = h("pre", { className: "cw-code" });
  const copyButton = button("Copy", "copy the code", () => navigator.clipboard?.writeText(model.get("code")), "cw-copy");

  sizeSelect.addEventListener("change", apply);
  pageInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") loadPage(Math.max(0, Number(pageInput.value) - 1));
  });

  const main = h("div", { className: "cw-tb-main" },
    titleEl,
    h("div", { className: "cw-tb-query" }, filters.el, columnPicker.el, queryError, staleFilterEl),
    h("div", { className: "cw-tb-summary" }, countEl,
      h("div", { className: "cw-pager" }, firstButton, prevButton, h("span", {}, "Page "), pageInput, pagesEl,
        nextButton, lastButton, rangeEl, h("label", {}, "rows per page ", sizeSelect))),
    staleEl,
    gridWrap,
    h("div", { className: "cw-tb-footer" },
      h("div", { className: "cw-tb-selection" }, selectionEl, clearSelection),
      h("div", { className: "cw-tb-fetch" }, fetchButton, fetchBar, fetchText, fetchCancel),
      h("div", { className: "cw-tb-neuroglancer" }, nglSelected, nglQuery, nglStatus),
      h("details", { className: "cw-tb-code" }, h("summary", {}, "Python code for this query (browser.code)"), codeEl, copyButton)));
  const root = h("div", { className: "cw-table-browser" },
    h("div", { className: "cw-tb-header" }, h("strong", {}, "Table browser"), atEl, busyEl),
    messageEl, errorSlot,
    h("div", { className: "cw-tb-body" }, h("div", { className: "cw-tb-side" }, tableList), main));
  el.replaceChildren(root);

  // --- requests ---------------------------------------------------------------------------
  function quiet(err) {
    if (!err.stale) console.debug("cave_widgets table browser:", err.info || err);
  }

  function apply() {
    queryError.textContent = "";
    requester.request("query", {
      filters: filters.specs,
      columns: columnPicker.selected,
      page_size: Number(sizeSelect.value) || model.get("page_size"),
    }).promise.catch((err) => {
      if (err.stale) return;
      const invalid = err.info?.kind === "invalid";
      queryError.textContent = invalid && Object.keys(model.get("filter_errors") || {}).length
        ? "Fix the marked filters; nothing was sent to the server."
        : err.info?.message || err.message;
    });
  }

  function loadCount() {
    if (!model.get("table")) return;
    requester.request("count").promise.catch(quiet);
  }

  function lastPage() {
    const total = model.get("total");
    return total == null ? page : Math.max(0, Math.ceil(total / model.get("page_size")) - 1);
  }

  function loadPage(number) {
    if (!model.get("table") || number < 0) return;
    const generation = model.get("generation");
    const request = requester.request("page", { page: number });
    pageRequest = request;
    root.classList.add("cw-page-loading");
    request.promise.then(({ result, buffers }) => {
      if (result.generation !== model.get("generation") || generation !== model.get("generation")) return;
      grid.setData({ ...decodePage(buffers[0], result.columns), key: model.get("table_info").key,
        stale: result.stale });
      grid.setSelection(model.get("selection"));
      page = result.page;
      pageMeta = result;
      renderPager();
    }).catch(quiet).finally(() => {
      if (pageRequest === request) {
        pageRequest = null;
        root.classList.remove("cw-page-loading");
      }
    });
  }

  function startFetch() {
    requester.request("fetch", {}, { replaceStale: false }).promise.catch(quiet);
  }

  function openNeuroglancer(scope) {
    const tab = window.open("", "_blank");
    if (tab) {
      try {
        tab.opener = null; // the viewer gets no handle on this notebook page
        tab.document.title = "Opening neuroglancer…";
        tab.document.body.textContent = "Making the neuroglancer link…";
      } catch { /* a browser that gave us a cross-origin tab: navigate it all the same */ }
    }
    nglStatus.classList.remove("cw-text-error");
    nglStatus.textContent = "Making the neuroglancer link…";
    requester.request("neuroglancer", { scope }, { replaceStale: false }).promise.then(({ result }) => {
      if (tab && !tab.closed) tab.location.href = result.url;
      else window.open(result.url, "_blank", "noopener");
      const link = h("a", { className: "cw-ngl-link", href: result.url, target: "_blank", rel: "noopener" }, "open it again");
      nglStatus.replaceChildren("Opened in neuroglancer (", link, ")");
    }).catch((err) => {
      if (tab && !tab.closed) tab.close();
      if (err.stale) return;
      nglStatus.classList.add("cw-text-error");
      nglStatus.textContent = err.info?.message || err.message;
    });
  }

  function renderNeuroglancer() {
    const cap = model.get("neuroglancer_max_rows");
    const total = model.get("total");
    nglSelected.disabled = !model.get("selection").length;
    const over = total != null && (total > cap || !model.get("total_exact"));
    nglQuery.disabled = total === 0;
    nglQuery.title = over
      ? `${fmt(total)} rows match: a link holds at most ${fmt(cap)}. Narrow the filters, or select rows.`
      : `every matching row (at most ${fmt(cap)}): their points and their segments`;
  }

  function retry() {
    const what = model.get("error").retry;
    model.set("error", {});
    if (what === "page") loadPage(page);
    else if (what === "count") loadCount();
    else requester.request("refresh").promise.catch(quiet);
    renderError();
  }

  // --- rendering from the model -------------------------------------------------------------
  function renderTables() {
    const current = model.get("table");
    const live = String(model.get("at")).startsWith("live");
    tableList.replaceChildren(...model.get("tables").map((t) => {
      // Live, a table has no stored row count: none is shown until the open one is counted.
      const rows = t.rows != null ? `${t.approximate ? "≈" : ""}${fmt(t.rows)} rows`
        : live ? "" : "…";
      return h("button", {
        className: `cw-tb-table${t.name === current ? " cw-current" : ""}`,
        role: "listitem",
        "data-table": t.name,
        disabled: Boolean(t.disabled),
        title: t.disabled || t.description,
        onClick: () => {
          root.classList.add("cw-opening");
          requester.request("open", { table: t.name }).promise.catch(quiet)
            .finally(() => root.classList.remove("cw-opening"));
        },
      }, h("div", { className: "cw-tb-table-name" }, t.name, h("span", { className: "cw-kind-badge" }, t.kind)),
      h("div", { className: "cw-tb-table-meta" }, [t.schema, rows].filter(Boolean).join(" · ")),
      h("div", { className: "cw-tb-table-desc" }, t.description || ""));
    }));
  }

  function renderTable() {
    const info = model.get("table_info") || {};
    const open = Boolean(model.get("table"));
    main.classList.toggle("cw-hidden", !open);
    titleEl.replaceChildren(...(open ? [
      h("h3", {}, info.name, h("span", { className: "cw-kind-badge" }, info.kind)),
      h("div", { className: "cw-tb-desc" }, info.description || ""),
      info.notice ? h("div", { className: "cw-tb-notice cw-text-warn" }, `Notice: ${info.notice}`) : null,
      info.reference ? h("div", { className: "cw-tb-desc" }, `References ${info.reference} (its own rows are shown; join with client.materialize.join_query).`) : null,
      h("div", { className: "cw-tb-coltypes" }, model.get("columns").map((c) =>
        h("span", { className: "cw-coltype" }, c.name, h("span", { className: "cw-kind-badge" }, c.kind)))),
    ] : [h("div", { className: "cw-tb-desc" }, "Pick a table on the left.")]).filter(Boolean));
    filters.setColumns(model.get("columns"), model.get("suggestions"));
    filters.setFilters(model.get("filters"));
    filters.setErrors(model.get("filter_errors"), model.get("filter_error_fields"));
    columnPicker.set(model.get("columns"), model.get("selected_columns"), info.key);
  }

  function renderCount() {
    const total = model.get("total");
    if (!model.get("table")) countEl.textContent = "";
    else if (total == null) countEl.textContent = "Counting rows…";
    else if (!model.get("total_exact")) countEl.textContent = `More than ${fmt(total)} rows match (live counts stop there)`;
    else countEl.textContent = `${fmt(total)} ${total === 1 ? "row matches" : "rows match"}`;
    renderPager();
  }

  function renderPager() {
    const size = model.get("page_size");
    const total = model.get("total");
    sizeSelect.replaceChildren(...[...new Set([...model.get("page_sizes"), size])].sort((a, b) => a - b)
      .map((n) => h("option", { value: String(n), selected: n === size }, String(n))));
    pageInput.value = String(page + 1);
    pagesEl.textContent = total == null ? "" : ` of ${fmt(lastPage() + 1)}`;
    const rows = pageMeta ? pageMeta.rows : 0;
    const start = page * size;
    rangeEl.textContent = rows ? `rows ${fmt(start + 1)}–${fmt(start + rows)}${pageMeta.keyset ? "" : " (by offset)"}` : "";
    const staleCount = pageMeta?.stale?.length || 0;
    staleEl.textContent = staleCount
      ? `${fmt(staleCount)} root id${staleCount === 1 ? "" : "s"} on this page changed since ${model.get("at")} (marked "changed"): set a live time to see today's ids`
      : "";
    if (pageMeta?.truncated) rangeEl.textContent += " — the server's row cap cut this page short";
    const atEnd = (total != null && page >= lastPage()) || (pageMeta && rows < size);
    firstButton.disabled = prevButton.disabled = page <= 0;
    nextButton.disabled = lastButton.disabled = Boolean(atEnd);
  }

  function renderSelection() {
    // The count is of selected rows the current query holds (Python counts them on the
    // server): filters and version changes may have taken some out of the result.
    const n = model.get("selection").length;
    const inQuery = model.get("selected_in_query");
    let text = "Click rows to select (shift-click: range, ctrl-click: toggle)";
    if (n && inQuery == null) text = `${fmt(n)} selected — checking which match this query…`;
    else if (n && inQuery === n) text = `${fmt(n)} selected → browser.selected_df`;
    else if (n) text = `${fmt(inQuery)} of ${fmt(n)} selected rows match this query → browser.selected_df`;
    selectionEl.textContent = text;
    clearSelection.disabled = !n;
  }

  function renderStaleFilter() {
    const stale = model.get("stale_filter") || {};
    const ids = Object.values(stale).flat();
    staleFilterEl.replaceChildren(...(ids.length ? [h("div", { className: "cw-banner-warn" },
      `${ids.length} root id${ids.length === 1 ? "" : "s"} in the filters (${Object.keys(stale).join(", ")}) `
      + `${ids.length === 1 ? "is" : "are"} not a root at ${model.get("at")}, so ${ids.length === 1 ? "it matches" : "they match"} nothing there. `,
      h("button", { className: "cw-button cw-update-roots", onClick: () => {
        requester.request("update_roots").promise.catch(quiet);
      } }, "Update to the roots of that time"))] : []));
  }

  function renderSort() {
    const sort = model.get("sort") || {};
    grid.setSort(sort.column ? { name: sort.column, direction: sort.descending ? "desc" : "asc",
      local: sort.scope === "page", note: sort.note || "" } : null);
  }

  function renderProgress() {
    const p = model.get("progress") || {};
    const running = p.state === "running";
    fetchButton.disabled = running;
    fetchCancel.style.display = running ? "" : "none";
    fetchBar.style.display = p.state ? "" : "none";
    fetchBar.value = p.total ? Math.min(1, (p.fetched || 0) / p.total) : running ? 0 : 1;
    fetchText.textContent = p.message || "";
    root.dataset.fetch = p.state || "idle";
  }

  function renderError() {
    const info = model.get("error") || {};
    errorSlot.replaceChildren(...(info.message ? [errorBox(info, retry)] : []));
  }

  function renderStatus() {
    const signedOut = model.get("status") === "signed_out";
    atEl.textContent = model.get("at") && !signedOut ? `· ${model.get("at")}` : "";
    busyEl.textContent = model.get("busy") || model.get("status") === "loading" ? "working…" : "";
    root.dataset.status = model.get("status");
    messageEl.textContent = signedOut
      ? "Not signed in: sign in (the Sign in button of a LoginWidget on this client) and "
        + "this browser loads by itself."
      : model.get("message") || "";
  }

  on("change:tables", renderTables);
  on("change:table", () => { renderTables(); renderTable(); });
  on("change:columns change:table_info change:suggestions change:selected_columns", renderTable);
  on("change:filters", () => filters.setFilters(model.get("filters")));
  on("change:filter_errors change:filter_error_fields",
    () => filters.setErrors(model.get("filter_errors"), model.get("filter_error_fields")));
  on("change:total change:total_exact change:page_size", () => { renderCount(); renderNeuroglancer(); });
  on("change:selection", () => { grid.setSelection(model.get("selection")); renderSelection(); renderNeuroglancer(); });
  on("change:selected_in_query", renderSelection);
  on("change:sort", renderSort);
  on("change:stale_filter", renderStaleFilter);
  on("change:progress", renderProgress);
  on("change:error", renderError);
  on("change:status change:busy change:at change:message", renderStatus);
  on("change:at", renderTables);
  on("change:code", () => { codeEl.textContent = model.get("code"); });
  on("change:generation", () => {
    // Another query (or nothing): the rows of the previous one leave the screen at once.
    page = 0;
    pageMeta = null;
    grid.setData({ columns: [], rows: [], key: null });
    nglStatus.textContent = "";
    renderPager();
    loadCount();
    loadPage(0);
  });

  renderTables();
  renderTable();
  renderCount();
  renderSelection();
  renderNeuroglancer();
  renderSort();
  renderStaleFilter();
  renderProgress();
  renderError();
  renderStatus();
  codeEl.textContent = model.get("code");
  if (model.get("table")) {
    page = Math.floor(model.get("offset") / model.get("page_size"));
    if (model.get("total") == null) loadCount();
    loadPage(page);
  }

  return () => {
    for (const [name, fn] of listeners) model.off(name, fn);
    requester.dispose();
  };
}

export default { render };
