// The network view: the graph laid out from the network model, nodes coloured by the latest
// estimated voltage, branches by loading; a click opens an element's detail and time series.

import { h, s, clear, num, pct, props, errorText, utc } from "./dom.js";
import { voltageColour, loadingColour, worstVoltage, NO_VALUE } from "./colours.js";
import { seriesPanel } from "./detail.js";

export async function networkView(ctx, root) {
  if (!ctx.config.served.network) {
    root.append(h("div", { class: "panel" }, h("p", {}, "This API serves no network model.")));
    return;
  }
  const graph = await ctx.api.get("/network/graph");
  const limits = ctx.config.voltage_limits_pu;
  const status = h("span", { class: "muted", id: "estimate-status" });
  const svg = s("svg", { class: "network", id: "network", role: "img", "aria-label": `network ${graph.network}` });
  const detail = h("div", { class: "panel stack", id: "detail" }, h("p", { class: "muted" }, "Click a node or a branch to see its values and time series."));
  root.append(
    h("div", { class: "grid2" },
      h("div", { class: "panel" },
        h("div", { class: "toolbar" }, h("h2", {}, `Network ${graph.network}`), status),
        svg, legend(limits, ctx.config.loading_limit)),
      detail),
  );

  const drawn = draw(svg, graph, (kind, id) => open(ctx, detail, kind, id, drawn));
  const recolour = async () => {
    const estimate = await latestEstimate(ctx);
    paint(drawn, estimate, limits, ctx.config.loading_limit);
    status.textContent = estimate
      ? `estimate of ${utc(estimate.estimated_at)} (${estimate.status})`
      : "no estimate yet: grey";
  };
  await recolour();
  ctx.onEvent("grid.estimate", recolour);
}

/** The latest estimate, or null before the first (asked for only once there is one). */
export async function latestEstimate(ctx) {
  if (!ctx.config.served.network) return null;
  const network = await ctx.api.get("/network");
  return network.estimate ? ctx.api.get("/network/estimate") : null;
}

function draw(svg, graph, onPick) {
  const nodes = graph.nodes.filter((n) => Number.isFinite(n.x) && Number.isFinite(n.y));
  const xs = nodes.map((n) => n.x);
  const ys = nodes.map((n) => -n.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0) || 1;
  const pad = span * 0.06;
  const box = [x0 - pad, y0 - pad, x1 - x0 + 2 * pad || span, y1 - y0 + 2 * pad || span];
  svg.setAttribute("viewBox", box.join(" "));
  const where = new Map(nodes.map((n) => [n.id, [n.x, -n.y]]));
  // Circles a fifth of a typical edge, within bounds of the drawing's size.
  const lengths = graph.edges
    .map((e) => [where.get(e.from), where.get(e.to)])
    .filter(([a, b]) => a && b)
    .map(([a, b]) => Math.hypot(a[0] - b[0], a[1] - b[1]))
    .filter((d) => d > 0)
    .sort((a, b) => a - b);
  const typical = lengths.length ? lengths[Math.floor(lengths.length / 2)] : span / 10;
  const radius = Math.min(Math.max(typical / 5, span / 400), span / 60);
  const edges = s("g", {});
  const circles = s("g", {});
  const labels = s("g", {});
  const byEdge = new Map();
  const byNode = new Map();
  for (const edge of graph.edges) {
    const a = where.get(edge.from);
    const b = where.get(edge.to);
    if (!a || !b) continue;
    const line = s("line", {
      class: `edge ${edge.kind}${edge.in_service ? "" : " off"}`, x1: a[0], y1: a[1], x2: b[0], y2: b[1],
      stroke: NO_VALUE, dataset: { id: edge.id, kind: edge.kind },
    }, s("title", {}, `${edge.kind} ${edge.id}`));
    line.addEventListener("click", () => onPick("branch", edge.id));
    edges.append(line);
    if (!byEdge.has(edge.id)) byEdge.set(edge.id, []);
    byEdge.get(edge.id).push(line);
  }
  for (const node of nodes) {
    const [x, y] = where.get(node.id);
    const circle = s("circle", { class: "node", cx: x, cy: y, r: radius, fill: NO_VALUE, dataset: { id: node.id } },
      s("title", {}, node.name ? `${node.id} · ${node.name}` : node.id));
    circle.addEventListener("click", () => onPick("node", node.id));
    circles.append(circle);
    byNode.set(node.id, circle);
    if (nodes.length <= 80) {
      labels.append(s("text", { x: x + radius * 1.3, y: y - radius * 1.1, "font-size": radius * 1.5 }, node.id));
    }
  }
  svg.append(edges, circles, labels);
  if (nodes.length <= 80) box[2] += radius * 8; // room for the labels right of the last nodes
  svg.setAttribute("viewBox", box.join(" "));
  panZoom(svg, box);
  return { svg, byEdge, byNode };
}

function paint(drawn, estimate, limits, loadingLimit) {
  for (const [id, circle] of drawn.byNode) {
    const pu = estimate ? worstVoltage(estimate.nodes[id]) : null;
    circle.setAttribute("fill", voltageColour(pu, limits));
    circle.dataset.voltage = pu === null ? "" : String(pu);
    circle.querySelector("title").textContent = `${id}: ${pu === null ? "no estimate" : `${num(pu, 4)} pu`}`;
  }
  for (const [id, lines] of drawn.byEdge) {
    const branch = estimate ? estimate.branches[id] : null;
    const loading = branch ? branch.loading : null;
    for (const line of lines) {
      line.setAttribute("stroke", loadingColour(loading, loadingLimit));
      line.querySelector("title").textContent = `${line.dataset.kind} ${id}: ${loading === null ? "no estimate" : pct(loading)}`;
    }
  }
}

/** Wheel zooms around the pointer, dragging pans; a drag does not count as a click. */
function panZoom(svg, initial) {
  let box = [...initial];
  const apply = () => svg.setAttribute("viewBox", box.join(" "));
  const toUser = (event) => {
    const rect = svg.getBoundingClientRect();
    const scale = Math.max(box[2] / rect.width, box[3] / rect.height);
    return { scale, x: box[0] + (event.clientX - rect.left) * scale, y: box[1] + (event.clientY - rect.top) * scale };
  };
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const at = toUser(event);
    const factor = event.deltaY > 0 ? 1.2 : 1 / 1.2;
    box = [at.x - (at.x - box[0]) * factor, at.y - (at.y - box[1]) * factor, box[2] * factor, box[3] * factor];
    apply();
  }, { passive: false });
  svg.addEventListener("dblclick", () => { box = [...initial]; apply(); });
  let start = null;
  let moved = false;
  svg.addEventListener("pointerdown", (event) => {
    start = { x: event.clientX, y: event.clientY, box: [...box], id: event.pointerId };
    moved = false;
  });
  svg.addEventListener("pointermove", (event) => {
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    if (!moved && Math.hypot(dx, dy) < 4) return;
    if (!moved) { svg.setPointerCapture(start.id); svg.classList.add("panning"); }
    moved = true;
    const { scale } = toUser(event);
    box = [start.box[0] - dx * scale, start.box[1] - dy * scale, box[2], box[3]];
    apply();
  });
  const end = () => { start = null; svg.classList.remove("panning"); };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  svg.addEventListener("click", (event) => { if (moved) { event.stopPropagation(); moved = false; } }, true);
}

async function open(ctx, detail, kind, id, drawn) {
  for (const element of drawn.svg.querySelectorAll(".selected")) element.classList.remove("selected");
  for (const element of kind === "node" ? [drawn.byNode.get(id)] : drawn.byEdge.get(id) || []) {
    element?.classList.add("selected");
  }
  clear(detail);
  const title = h("h2", {}, `${kind === "node" ? "Node" : "Branch"} ${id}`);
  const charts = h("div", { id: "detail-series" }, h("p", { class: "muted" }, "loading…"));
  detail.append(title);
  try {
    const row = await ctx.api.get(`/network/${kind === "node" ? "nodes" : "branches"}/${encodeURIComponent(id)}`);
    detail.append(props(describe(kind, row)));
  } catch (error) {
    detail.append(h("p", { class: "error" }, errorText(error)));
  }
  detail.append(h("h3", {}, "Time series"), charts);
  const patterns = (ctx.config.series[kind] || []).map((p) => p.replaceAll("{id}", id));
  const [lower, upper] = ctx.config.voltage_limits_pu;
  try {
    await seriesPanel(ctx, charts, patterns, {
      prefer: kind === "node" ? ["voltage", "voltmagnitude"] : ["loading", "currmagnitude", "activepower"],
      limits: [
        { value: lower, unit: "pu", label: `lower limit ${lower} pu` },
        { value: upper, unit: "pu", label: `upper limit ${upper} pu` },
      ],
    });
  } catch (error) {
    clear(charts).append(h("p", { class: "error" }, errorText(error)));
  }
}

function describe(kind, row) {
  const estimate = row.estimate || {};
  const pairs = [["name", row.name || "–"], ["area", row.area || "–"]];
  if (kind === "node") {
    pairs.push(["rated voltage", `${num(row.u_rated / 1000, 3)} kV`]);
    pairs.push(["voltage (estimate)", row.estimate
      ? `${num(estimate.voltage_min_pu, 4)} – ${num(estimate.voltage_max_pu, 4)} pu`
      : "no estimate"]);
  } else {
    pairs.push(["kind", row.kind]);
    pairs.push(["from → to", `${row.from_node ?? "?"} → ${row.to_node ?? "?"}`]);
    pairs.push(["loading (estimate)", row.estimate ? pct(estimate.loading) : "no estimate"]);
  }
  if (row.estimate) pairs.push(["estimated at", utc(estimate.estimated_at)]);
  return pairs;
}

function legend(limits, loadingLimit) {
  const [lower, upper] = limits;
  const steps = 24;
  const width = 200;
  const bar = s("svg", { width: width + 20, height: 34, "aria-label": "voltage legend" });
  for (let i = 0; i < steps; i += 1) {
    const pu = lower + ((upper - lower) * (i + 0.5)) / steps;
    bar.append(s("rect", { x: 10 + (i * width) / steps, y: 2, width: width / steps + 0.5, height: 12, fill: voltageColour(pu, limits) }));
  }
  for (const [pu, text] of [[lower, `${lower}`], [1, "1.0"], [upper, `${upper}`]]) {
    const x = 10 + ((pu - lower) / (upper - lower)) * width;
    bar.append(s("line", { x1: x, x2: x, y1: 0, y2: 16, stroke: "#1d2330" }), s("text", { x, y: 30, "text-anchor": "middle", "font-size": 11 }, text));
  }
  const load = s("svg", { width: width + 20, height: 34, "aria-label": "loading legend" });
  for (let i = 0; i < steps; i += 1) {
    const share = ((loadingLimit * 1.2) * (i + 0.5)) / steps;
    load.append(s("rect", { x: 10 + (i * width) / steps, y: 2, width: width / steps + 0.5, height: 12, fill: loadingColour(share, loadingLimit) }));
  }
  for (const share of [0, loadingLimit]) {
    const x = 10 + (share / (loadingLimit * 1.2)) * width;
    load.append(s("line", { x1: x, x2: x, y1: 0, y2: 16, stroke: "#1d2330" }), s("text", { x, y: 30, "text-anchor": "middle", "font-size": 11 }, `${Math.round(share * 100)} %`));
  }
  return h("div", { class: "legend" },
    h("div", {}, `Node voltage (pu), limits ${lower} and ${upper}`, bar),
    h("div", {}, "Branch loading (share of rating)", load),
    h("div", {}, h("span", { class: "badge" }, "grey: no estimate"), h("span", { class: "badge" }, "dashed: out of service")));
}
