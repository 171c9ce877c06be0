// DatastackSelector's view (Python side: cave_widgets/widgets/datastack.py).
// Everything shown comes from the model's traits, which follow the CAVEclient; a click
// sends a request (select_datastack, select_version, select_mode, select_live, reload) and
// the answer arrives as trait changes. Times are shown and entered in UTC, as CAVE keeps them.
import { createRequester } from "./lib/request.js";
import { h, errorBox } from "./lib/dom.js";
import "./lib/messages.css";
import "./datastack.css";

// Python sends microseconds; Date wants at most milliseconds.
export function parseTime(iso) {
  if (!iso) return null;
  const when = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(when.getTime()) ? null : when;
}

export function formatUTC(iso) {
  const when = parseTime(iso);
  return when ? `${when.toISOString().slice(0, 16).replace("T", " ")} UTC` : "";
}

export function expiryText(v) {
  if (v.expired) return v.expires_on ? `expired ${v.expires_on.slice(0, 10)}` : "expired";
  if (v.expires_on === null || v.expires_on === undefined) return "never expires";
  const days = v.expires_in_days;
  if (days === null || days === undefined || days < 1) return "expires within a day";
  return days === 1 ? "expires in 1 day" : `expires in ${days} days`;
}

function latestValid(versions) {
  const valid = versions.filter((v) => !v.expired).map((v) => v.version);
  return valid.length ? Math.max(...valid) : null;
}

// Rows act as options: click, Enter or Space chooses.
function option(attrs, onChoose, ...children) {
  return h("li", {
    role: "option", tabindex: "0", ...attrs,
    onClick: onChoose,
    onKeydown: (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        onChoose();
      }
    },
  }, ...children);
}

function render({ model, el }) {
  const requester = createRequester(model);
  let pending = null; // {kind, value}: a choice sent, not answered yet
  let actionError = null; // {info, retry}: the last choice that failed

  function choose(kind, payload, value) {
    pending = { kind, value };
    actionError = null;
    draw();
    const { promise } = requester.request(kind, payload);
    promise.then(
      () => { pending = null; draw(); },
      (err) => {
        if (err.stale) return; // a newer choice replaced this one
        pending = null;
        actionError = { info: err.info || { message: err.message }, retry: () => choose(kind, payload, value) };
        draw();
      },
    );
  }

  // --- the parts that stay (inputs keep focus and what is typed) --------------------------
  const server = h("code", { className: "cw-ds-server-address" });
  const status = h("span", { className: "cw-ds-status", role: "status", "aria-live": "polite" });
  const loadError = h("div", { className: "cw-ds-load-error" });

  const search = h("input", {
    type: "search", className: "cw-ds-search", placeholder: "Search datastacks",
    "aria-label": "Search datastacks", onInput: () => drawDatastacks(),
  });
  const datastackList = h("ul", { className: "cw-ds-datastacks", role: "listbox", "aria-label": "Datastacks" });

  const modeButton = (mode, label) => h("button", {
    type: "button", className: "cw-ds-mode", role: "radio", "data-mode": mode,
    onClick: () => choose("select_mode", { mode }, mode),
  }, label);
  const modeVersion = modeButton("version", "Version");
  const modeLive = modeButton("live", "Live");
  const modes = h("div", { className: "cw-ds-modes", role: "radiogroup", "aria-label": "Version or live" },
    modeVersion, modeLive);

  const notice = h("div", { className: "cw-ds-notice cw-banner-warn", role: "alert" });
  const actionErrorSlot = h("div", { className: "cw-ds-action-error" });

  const versionList = h("ul", { className: "cw-ds-versions", role: "listbox", "aria-label": "Materialization versions" });
  const versionPanel = h("div", { className: "cw-ds-version-panel" }, versionList);

  const liveInput = h("input", {
    type: "datetime-local", step: "1", className: "cw-ds-live-time", "aria-label": "Live timestamp (UTC)",
    onChange: () => {
      if (liveInput.value) choose("select_live", { timestamp: `${liveInput.value}Z` }, liveInput.value);
    },
  });
  const nowButton = h("button", {
    type: "button", className: "cw-button cw-ds-now",
    onClick: () => choose("select_live", { timestamp: null }, "now"),
  }, "now");
  const pinned = h("div", { className: "cw-ds-pinned" });
  const livePanel = h("div", { className: "cw-ds-live-panel" },
    h("label", { className: "cw-ds-live-row" }, "Pinned at ", liveInput, h("span", { className: "cw-ds-utc" }, "UTC")),
    nowButton, pinned);

  const summary = h("div", { className: "cw-ds-summary" });

  const root = h("div", { className: "cw-ds" },
    h("div", { className: "cw-ds-header" },
      h("span", { className: "cw-ds-title" }, "CAVE server"), server, status),
    loadError,
    h("section", { className: "cw-ds-section" },
      h("h4", { className: "cw-ds-heading" }, "Datastack"), search, datastackList),
    h("section", { className: "cw-ds-section" },
      h("h4", { className: "cw-ds-heading" }, "Materialization"), modes, notice, actionErrorSlot,
      versionPanel, livePanel),
    summary);
  el.append(root);

  // --- drawing -----------------------------------------------------------------------------
  function drawHeader() {
    server.textContent = model.get("server_address") || "";
    const state = model.get("status");
    const busy = model.get("busy") || pending !== null;
    status.textContent = state === "loading" ? "loading…" : state === "error" ? "" : busy ? "working…" : "";
    status.dataset.state = state;
    root.classList.toggle("cw-ds-busy", busy || state === "loading");
    loadError.replaceChildren();
    if (state === "error") {
      loadError.append(errorBox(model.get("error") || {}, () => {
        requester.request("reload", {}).promise.catch(() => {}); // the outcome arrives as traits
      }));
    } else if (state === "signed_out") {
      // Not an error: nobody may list datastacks before signing in.
      loadError.append(h("div", { className: "cw-banner-info cw-ds-signed-out", role: "status" },
        "Not signed in: sign in (the Sign in button of a LoginWidget on this client) and the "
        + "datastacks and versions load by themselves."));
    }
  }

  function drawDatastacks() {
    const all = model.get("datastacks") || [];
    const current = model.get("datastack");
    const needle = search.value.trim().toLowerCase();
    const shown = all.filter((d) => !needle ||
      [d.name, d.description, d.aligned_volume].some((t) => (t || "").toLowerCase().includes(needle)));
    datastackList.replaceChildren(...shown.map((d) => {
      const selected = d.name === current;
      const waiting = pending && pending.kind === "select_datastack" && pending.value === d.name;
      return option({
        className: `cw-ds-datastack${selected ? " cw-ds-selected" : ""}${waiting ? " cw-ds-pending" : ""}`,
        "data-name": d.name, "aria-selected": selected ? "true" : "false",
      }, () => { if (d.name !== current) choose("select_datastack", { name: d.name }, d.name); },
      h("div", { className: "cw-ds-name" }, d.name),
      d.details
        ? [d.description ? h("div", { className: "cw-ds-description" }, d.description) : null,
          d.aligned_volume ? h("div", { className: "cw-ds-volume" }, `aligned volume: ${d.aligned_volume}`) : null]
        : h("div", { className: "cw-ds-description cw-ds-muted" }, "loading details…"));
    }));
    if (!shown.length) {
      const text = model.get("status") === "loading" ? "loading datastacks…"
        : all.length ? "No datastack matches the search." : model.get("status") === "ready"
          ? "No datastacks are visible to this account."
          : model.get("status") === "signed_out" ? "Sign in to see the datastacks." : "";
      if (text) datastackList.append(h("li", { className: "cw-ds-empty" }, text));
    }
  }

  function drawVersions() {
    const versions = model.get("versions") || [];
    const mode = model.get("mode");
    const current = model.get("version");
    const live = mode === "live";
    modeVersion.setAttribute("aria-checked", live ? "false" : "true");
    modeLive.setAttribute("aria-checked", live ? "true" : "false");
    versionPanel.hidden = live;
    livePanel.hidden = !live;
    notice.textContent = model.get("notice") || "";
    notice.hidden = !notice.textContent;
    actionErrorSlot.replaceChildren(actionError ? errorBox(actionError.info, actionError.retry) : "");

    const waitingFor = (v) => pending && pending.kind === "select_version" && pending.value === v;
    const rows = [];
    if (!model.get("datastack")) {
      rows.push(h("li", { className: "cw-ds-empty" }, "Pick a datastack to see its versions."));
    } else if (!versions.length) {
      const state = model.get("status");
      rows.push(h("li", { className: "cw-ds-empty" }, state === "loading" ? "loading versions…"
        : state === "signed_out" ? "Sign in to see the versions." : "No versions."));
    } else {
      const latest = latestValid(versions);
      const selected = !live && current === null;
      rows.push(option({
        className: `cw-ds-version cw-ds-latest${selected ? " cw-ds-selected" : ""}${waitingFor(null) ? " cw-ds-pending" : ""}`,
        "data-version": "latest", "aria-selected": selected ? "true" : "false",
      }, () => choose("select_version", { version: null }, null),
      h("span", { className: "cw-ds-vnum" }, "latest"),
      h("span", { className: "cw-ds-vdate" }, latest === null ? "no valid version" : `currently v${latest}`),
      h("span", { className: "cw-ds-vexpiry" }, "newest valid version, per query")));
      for (const v of versions) {
        const isSelected = !live && current === v.version;
        rows.push(option({
          className: `cw-ds-version${v.expired ? " cw-ds-expired" : ""}${isSelected ? " cw-ds-selected" : ""}${waitingFor(v.version) ? " cw-ds-pending" : ""}`,
          "data-version": String(v.version), "aria-selected": isSelected ? "true" : "false",
          "aria-disabled": v.expired ? "true" : null,
          title: v.expired ? `Version ${v.version} has expired and cannot be queried` : null,
        }, () => choose("select_version", { version: v.version }, v.version),
        h("span", { className: "cw-ds-vnum" }, `v${v.version}`),
        h("span", { className: "cw-ds-vdate" }, formatUTC(v.time_stamp)),
        h("span", { className: "cw-ds-vexpiry" }, v.expired ? h("span", { className: "cw-ds-badge" }, "expired") : expiryText(v))));
      }
    }
    versionList.replaceChildren(...rows);

    const stamp = model.get("timestamp");
    const when = parseTime(stamp);
    if (document.activeElement !== liveInput) {
      liveInput.value = live && when ? when.toISOString().slice(0, 19) : "";
    }
    pinned.textContent = live && when ? `Live: queries see the data as of ${formatUTC(stamp)}` : "";
    nowButton.classList.toggle("cw-ds-pending", Boolean(pending && pending.kind === "select_live"));
  }

  function drawSummary() {
    const ds = model.get("datastack");
    const stamp = model.get("timestamp");
    let text;
    if (!ds) text = "No datastack selected.";
    else if (model.get("mode") === "live") text = `${ds} · live at ${formatUTC(stamp)}`;
    else if (model.get("version") === null) text = `${ds} · latest version`;
    else text = `${ds} · version ${model.get("version")} (snapshot of ${formatUTC(stamp)})`;
    summary.textContent = `client: ${text}`;
  }

  function draw() {
    drawHeader();
    drawDatastacks();
    drawVersions();
    drawSummary();
  }

  const traits = ["server_address", "datastacks", "datastack", "versions", "version", "mode",
    "timestamp", "status", "error", "notice", "busy"];
  for (const name of traits) model.on(`change:${name}`, draw);
  draw();

  return () => {
    for (const name of traits) model.off(`change:${name}`, draw);
    requester.dispose();
  };
}

export default { render };
