// SkeletonView front end (Python side: cave_widgets.widgets.skeleton_view): the skeleton's
// edges on a canvas, the soma as a disc, outputs (presynaptic sites) and inputs
// (postsynaptic sites) as dots, in the xy, xz or yz plane or a 3D view turned by dragging.
import "../lib/messages.css";
import "./skeleton_view.css";
import { errorBox, h } from "../lib/dom.js";
import { centreOf, fitTo, projectAll, projector, typed } from "./project.js";

const COLOURS = { edge: "#4a5a6a", axon: "#b8860b", soma: "#2b2b2b", output: "#d62728", input: "#1f77b4" };
const WIDTH = 520;
const HEIGHT = 360;

function render({ model, el }) {
  let yaw = 0.6;
  let pitch = -0.4;
  const canvas = h("canvas", { className: "cw-sk-canvas", width: WIDTH, height: HEIGHT,
    role: "img", "aria-label": "skeleton plot" });
  const status = h("div", { className: "cw-sk-status", "aria-live": "polite" });
  const summary = h("div", { className: "cw-sk-summary" });
  const errorSlot = h("div");
  const views = ["xy", "xz", "yz", "3d"].map((name) => h("button", {
    className: "cw-button cw-sk-view", "data-view": name, title: `view ${name}`,
    onClick: () => { model.set("view", name); model.save_changes(); },
  }, name.toUpperCase()));
  const legend = h("div", { className: "cw-sk-legend" },
    h("span", { className: "cw-sk-key", style: `color:${COLOURS.output}` }, "● outputs"),
    h("span", { className: "cw-sk-key", style: `color:${COLOURS.input}` }, "● inputs"),
    h("span", { className: "cw-sk-key", style: `color:${COLOURS.soma}` }, "⬤ soma"));
  el.classList.add("cw-skeleton-view");
  el.append(h("div", { className: "cw-sk-bar" }, ...views, summary), status, errorSlot,
    canvas, legend);

  function draw() {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, WIDTH, HEIGHT);
    const vertices = typed(model.get("vertices"), Float32Array);
    if (!vertices.length) return;
    const edges = typed(model.get("edges"), Uint32Array);
    const compartment = typed(model.get("compartment"), Uint8Array);
    const outputs = typed(model.get("outputs"), Float32Array);
    const inputs = typed(model.get("inputs"), Float32Array);
    const project = projector(model.get("view"), centreOf(vertices), yaw, pitch);
    const sk = projectAll(vertices, project);
    const fit = fitTo(sk.box, WIDTH, HEIGHT);
    const at = (uv, i) => fit.toPx(uv[2 * i], uv[2 * i + 1]);
    ctx.lineWidth = 1.2;
    for (const axon of [false, true]) { // two passes: one stroke per colour
      ctx.strokeStyle = axon ? COLOURS.axon : COLOURS.edge;
      ctx.beginPath();
      for (let e = 0; e < edges.length / 2; e++) {
        const [a, b] = [edges[2 * e], edges[2 * e + 1]];
        if ((compartment[a] === 2) !== axon) continue;
        const [x0, y0] = at(sk.uv, a);
        const [x1, y1] = at(sk.uv, b);
        ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
      }
      ctx.stroke();
    }
    for (const [points, colour] of [[inputs, COLOURS.input], [outputs, COLOURS.output]]) {
      const uv = projectAll(points, project).uv;
      ctx.fillStyle = colour;
      for (let i = 0; i < points.length / 3; i++) {
        const [x, y] = at(uv, i);
        ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
      }
    }
    const soma = model.get("summary").soma;
    if (soma >= 0 && soma < vertices.length / 3 && compartment[soma] === 1) {
      const [x, y] = at(sk.uv, soma);
      ctx.fillStyle = COLOURS.soma;
      ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill();
    }
  }

  function show() {
    const s = model.get("status");
    const info = model.get("summary");
    const texts = {
      empty: "Pick a neuron: select one row in the table browser, or view.show(root_id).",
      loading: `Loading the skeleton of ${model.get("root_id")}…`,
      signed_out: "Sign in to see skeletons.",
      error: "",
      ready: "",
    };
    const note = s === "ready" ? info.note || "" : "";
    status.textContent = note || (texts[s] ?? "");
    status.className = `cw-sk-status${s === "signed_out" || note ? " cw-text-warn" : ""}`;
    errorSlot.replaceChildren(s === "error" ? errorBox(model.get("error")) : "");
    summary.textContent = s === "ready" ? `${info.root_id}: ${info.vertices} vertices, ` +
      `${info.cable_um} µm of cable` + (info.outputs === undefined ? "" :
      `, ${info.outputs} outputs, ${info.inputs} inputs`) : "";
    for (const b of views) b.classList.toggle("cw-active", b.dataset.view === model.get("view"));
    canvas.style.cursor = model.get("view") === "3d" ? "grab" : "default";
    draw();
  }

  let dragging = null;
  canvas.addEventListener("pointerdown", (event) => {
    if (model.get("view") !== "3d") return;
    dragging = [event.clientX, event.clientY];
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    yaw += (event.clientX - dragging[0]) * 0.01;
    pitch = Math.max(-1.5, Math.min(1.5, pitch + (event.clientY - dragging[1]) * 0.01));
    dragging = [event.clientX, event.clientY];
    draw();
  });
  canvas.addEventListener("pointerup", () => { dragging = null; });

  const names = ["status", "summary", "vertices", "edges", "outputs", "inputs", "view", "error"];
  for (const name of names) model.on(`change:${name}`, show);
  show();
  return () => { for (const name of names) model.off(`change:${name}`, show); };
}

export default { render };
