// Electric areas and the EDCs that run them: each area's live state from the latest estimate,
// each EDC's grid functions and their status, the grid intelligence's decisions. Estimates and
// decisions arriving as events refresh the view.

import { h, clear, num, pct, table, props, errorText, utc } from "./dom.js";
import { worstVoltage } from "./colours.js";
import { latestEstimate } from "./network.js";

export async function areasView(ctx, root) {
  const areasBox = h("div", { class: "panel" }, h("h2", {}, "Electric areas"));
  const edcsBox = h("div", { class: "panel" }, h("h2", {}, "EDCs"));
  const detailBox = h("div", { class: "panel", id: "edc-detail" }, h("h2", {}, "EDC"), h("p", { class: "muted" }, "Choose an EDC."));
  const functionsBox = h("div", { class: "panel" }, h("h2", {}, "Grid functions installed"));
  const decisionsBox = h("div", { class: "panel" }, h("h2", {}, "Grid intelligence decisions"));
  root.append(h("div", { class: "grid2e" },
    h("div", { class: "stack" }, areasBox, functionsBox),
    h("div", { class: "stack" }, edcsBox, detailBox, decisionsBox)));

  let chosen = null;
  const areas = async () => {
    const served = ctx.config.served.network;
    const [listed, estimate] = await Promise.all([
      served ? ctx.api.get("/areas", { limit: 1000 }) : null, latestEstimate(ctx),
    ]);
    const body = listed ? areaRows(listed.items, estimate, ctx.config) : h("p", { class: "muted" }, "No network model here.");
    replace(areasBox, body, estimate ? `estimate of ${utc(estimate.estimated_at)}` : "no estimate yet");
  };
  const edcs = async () => {
    const listed = ctx.config.served.edcs ? await ctx.api.get("/edcs") : null;
    if (!listed) return replace(edcsBox, h("p", { class: "muted" }, "No EDC manager here."));
    replace(edcsBox, table([
      { title: "EDC", value: (e) => e.id },
      { title: "element", value: (e) => e.element },
      { title: "functions", value: (e) => e.functions.map((f) => h("span", { class: "badge" }, f)) },
      { title: "since", value: (e) => utc(e.created_at) },
    ], listed.items, { onRow: (e) => { chosen = e.id; edc(); }, key: (e) => e.id, empty: "No EDC runs." }));
  };
  const edc = async () => {
    if (!chosen) return;
    try {
      const found = await ctx.api.get(`/edcs/${encodeURIComponent(chosen)}`);
      const statuses = Object.entries(found.function_status || {}).map(([name, status]) =>
        h("div", {}, h("h3", {}, name), props(Object.entries(status || {}).map(([k, v]) => [k, text(v)]))));
      replace(detailBox, [
        props([["element", found.element], ["enrolled", String((found.enrolled || []).length)],
          ...Object.entries(found.aggregate || {}).map(([k, v]) => [k, text(v)])]),
        statuses,
      ], `EDC ${found.id}`);
    } catch (error) {
      replace(detailBox, h("p", { class: "error" }, errorText(error)));
    }
  };
  const functions = async () => {
    const listed = ctx.config.served.edcs ? await ctx.api.get("/grid-functions") : null;
    replace(functionsBox, listed ? table([
      { title: "function", value: (f) => f.name },
      { title: "version", value: (f) => f.version ?? "–" },
      { title: "what it does", value: (f) => f.description ?? "" },
    ], listed.items) : h("p", { class: "muted" }, "No EDC manager here."));
  };
  const decisions = async () => {
    const listed = ctx.config.served.decisions
      ? await ctx.api.get("/grid-intelligence/decisions", { limit: 20 })
      : null;
    replace(decisionsBox, listed ? table([
      { title: "#", value: (d) => d.seq, num: true },
      { title: "decided", value: (d) => utc(d.decided_at) },
      { title: "action", value: (d) => d.action },
      { title: "area", value: (d) => d.area },
      { title: "EDC", value: (d) => d.edc ?? "–" },
      { title: "why", value: (d) => d.reason },
    ], listed.items.slice(-20).reverse(), { empty: "No decision yet." }) : h("p", { class: "muted" }, "The grid intelligence does not run here."));
  };
  await Promise.all([areas(), edcs(), functions(), decisions()]);
  ctx.onEvent("grid.estimate", () => { areas(); edc(); });
  ctx.onEvent("intelligence.decision", () => { edcs(); decisions(); edc(); });
}

function areaRows(items, estimate, config) {
  const [lower, upper] = config.voltage_limits_pu;
  const rows = items.map((area) => {
    const volts = estimate ? area.nodes.map((n) => worstVoltage(estimate.nodes[n])).filter((v) => v !== null) : [];
    const loads = estimate ? area.branches.map((b) => estimate.branches[b]?.loading).filter((v) => v !== null && v !== undefined) : [];
    return { ...area, low: volts.length ? Math.min(...volts) : null, high: volts.length ? Math.max(...volts) : null, loading: loads.length ? Math.max(...loads) : null };
  });
  const state = (row) => {
    if (row.low === null && row.loading === null) return h("span", { class: "badge" }, "no estimate");
    const bad = row.low < lower || row.high > upper || row.loading > config.loading_limit;
    return h("span", { class: `badge ${bad ? "bad" : "ok"}` }, bad ? "limit violated" : "within limits");
  };
  return table([
    { title: "area", value: (a) => a.element },
    { title: "kind", value: (a) => a.kind },
    { title: "rating", value: (a) => (a.rating_kw === null ? "–" : `${num(a.rating_kw, 0)} kW`), num: true },
    { title: "nodes", value: (a) => a.nodes.length, num: true },
    { title: "voltage pu", value: (a) => (a.low === null ? "–" : `${num(a.low, 3)} – ${num(a.high, 3)}`), num: true },
    { title: "max loading", value: (a) => pct(a.loading), num: true },
    { title: "state", value: state },
  ], rows, { key: (a) => a.element });
}

function text(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return num(value, 3);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function replace(box, body, note) {
  const title = box.querySelector("h2");
  clear(box);
  box.append(title);
  if (note) box.append(h("p", { class: "muted" }, note));
  box.append(...[body].flat());
}
