// The balancer's optimisation jobs, newest first, refreshed while the view is open.

import { h, clear, table, utc } from "./dom.js";

const STATES = { succeeded: "ok", failed: "bad", cancelled: "warn", expired: "warn" };

export async function jobsView(ctx, root) {
  const filter = h("select", { "aria-label": "status" },
    ["", "queued", "running", "succeeded", "failed", "cancelled", "expired"].map((v) => h("option", { value: v }, v || "every status")));
  const box = h("div");
  const note = h("span", { class: "muted" });
  root.append(h("div", { class: "panel" }, h("div", { class: "toolbar" }, h("h2", {}, "Optimisations"), filter, note), box));
  const load = async () => {
    const answer = ctx.config.served.optimizations
      ? await ctx.api.get("/optimizations", { status: filter.value || null, limit: 200 })
      : null;
    if (!answer) {
      clear(box).append(h("p", { class: "muted" }, "No balancer here."));
      return false;
    }
    clear(box).append(table([
      { title: "job", value: (j) => j.id, num: true },
      { title: "status", value: (j) => h("span", { class: `badge ${STATES[j.status] || ""}` }, j.status) },
      { title: "submitted", value: (j) => utc(j.submitted_at) },
      { title: "started", value: (j) => utc(j.started_at) },
      { title: "finished", value: (j) => utc(j.finished_at) },
      { title: "attempts", value: (j) => j.attempts, num: true },
      { title: "error", value: (j) => (j.error ? JSON.stringify(j.error) : "") },
    ], answer.items, { empty: "No optimisation yet." }));
    note.textContent = `updated ${utc(new Date())}`;
    return true;
  };
  filter.addEventListener("change", load);
  if (await load()) ctx.every(5000, load);
}
