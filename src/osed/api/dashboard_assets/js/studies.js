// Scenario runs, newest first, with their KPIs; each finished run's report is fetched with the
// user's token and saved as the offline HTML file it is (a plain link would carry no token).

import { h, clear, table, utc, num } from "./dom.js";

const STATES = { succeeded: "ok", failed: "bad", cancelled: "warn" };

function progress(run) {
  if (run.status !== "running") return "";
  return run.progress && run.progress.share !== null ? `${num(run.progress.share * 100, 0)} %` : "starting";
}

function kpi(run, name, digits = 1) {
  return run.kpis ? num(run.kpis[name], digits) : "–";
}

async function saveReport(ctx, run, button) {
  button.disabled = true;
  try {
    const blob = await ctx.api.blob(run.links.report, "text/html");
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `study-${run.id}-${run.scenario}.html` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    ctx.notify(`The report cannot be read: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

function reportCell(ctx, run) {
  if (run.status !== "succeeded") return run.error ? h("span", { class: "muted", title: run.error }, "error") : "";
  const button = h("button", { type: "button", class: "link" }, "report");
  button.addEventListener("click", () => saveReport(ctx, run, button));
  return button;
}

export async function studiesView(ctx, root) {
  const box = h("div");
  const note = h("span", { class: "muted" });
  root.append(h("div", { class: "panel" }, h("div", { class: "toolbar" }, h("h2", {}, "Studies"), note), box));
  const load = async () => {
    if (!ctx.config.served.studies) {
      clear(box).append(h("p", { class: "muted" }, "No scenario runs here (the studies service)."));
      return false;
    }
    const answer = await ctx.api.get("/studies", { limit: 100 });
    clear(box).append(table([
      { title: "study", value: (r) => r.id, num: true },
      { title: "scenario", value: (r) => `${r.scenario} (seed ${r.seed})` },
      { title: "households", value: (r) => r.households, num: true },
      { title: "status", value: (r) => h("span", { class: `badge ${STATES[r.status] || ""}` }, r.status) },
      { title: "progress", value: progress, num: true },
      { title: "finished", value: (r) => utc(r.finished_at) },
      { title: "peak reduction %", value: (r) => kpi(r, "peak_reduction_pct"), num: true },
      { title: "cost/household", value: (r) => kpi(r, "cost_per_household_managed", 2), num: true },
      { title: "voltage violations", value: (r) => kpi(r, "voltage_violations_managed", 0), num: true },
      { title: "market kWh", value: (r) => kpi(r, "market_volume_kwh"), num: true },
      { title: "", value: (r) => reportCell(ctx, r) },
    ], answer.items, { empty: "No study yet." }));
    note.textContent = `updated ${utc(new Date())}`;
    return true;
  };
  if (await load()) ctx.every(3000, load);
}
