// The time-series view: find series by pattern, draw several over a range, raw or in buckets,
// with drag to zoom and double-click to reset.

import { h, clear, errorText, table } from "./dom.js";
import { TimeChart, points } from "./chart.js";
import { defaultRange, listSeries, seriesRows } from "./seriesdata.js";

export async function seriesView(ctx, root) {
  const range = defaultRange(ctx.config);
  const match = h("input", { id: "series-match", value: ctx.config.series_hint || "#", size: 30, "aria-label": "pattern" });
  const start = h("input", { id: "series-start", value: range.start, size: 24, "aria-label": "start" });
  const end = h("input", { id: "series-end", value: range.end, size: 24, "aria-label": "end" });
  const every = h("select", { id: "series-every", "aria-label": "bucket" },
    [["", "raw points"], ["PT1M", "1 min mean"], ["PT15M", "15 min mean"], ["PT1H", "1 h mean"], ["P1D", "1 day mean"]]
      .map(([v, t]) => h("option", { value: v }, t)));
  const listBox = h("div", { class: "scroll", id: "series-list" });
  const chartHost = h("div", { id: "series-chart" });
  const note = h("p", { class: "muted" }, "Choose series (same unit) to draw; drag on the chart to zoom, double-click to reset.");
  const chosen = new Set();
  let found = [];
  const search = h("form", { class: "toolbar" }, h("label", {}, "series ", match), h("button", { type: "submit" }, "Find"));
  root.append(h("div", { class: "grid2" },
    h("div", { class: "panel" },
      h("div", { class: "toolbar" }, h("h2", {}, "Time series"), h("label", {}, "from ", start), h("label", {}, "to ", end), every),
      chartHost, note),
    h("div", { class: "panel" }, search, listBox)));
  const chart = new TimeChart(chartHost, {});

  const draw = async () => {
    const picked = found.filter((one) => chosen.has(one.series_id));
    chart.options.unit = picked.length ? picked[0].unit : "";
    if (!picked.length) return chart.setSeries([]);
    note.textContent = "loading…";
    try {
      const wanted = { start: start.value.trim(), end: end.value.trim() };
      const rows = await Promise.all(picked.map((one) => seriesRows(ctx.api, one.series_id, wanted, { every: every.value || null })));
      chart.setSeries(picked.map((one, i) => ({ name: one.series_id, points: points(rows[i]) })));
      note.textContent = `${rows.reduce((n, r) => n + r.length, 0)} points · drag to zoom, double-click to reset`;
    } catch (error) {
      note.textContent = errorText(error);
    }
  };
  const list = async () => {
    if (!ctx.config.served.series) {
      clear(listBox).append(h("p", { class: "muted" }, "This API keeps no time series."));
      return;
    }
    try {
      found = await listSeries(ctx.api, [match.value.trim() || "#"]);
    } catch (error) {
      clear(listBox).append(h("p", { class: "error" }, errorText(error)));
      return;
    }
    const unit = () => found.find((one) => chosen.has(one.series_id))?.unit;
    clear(listBox).append(table([
      {
        title: "",
        value: (one) => {
          const box = h("input", { type: "checkbox", "aria-label": one.series_id, checked: chosen.has(one.series_id) });
          box.addEventListener("change", () => {
            if (box.checked && unit() && unit() !== one.unit) chosen.clear(); // one unit per chart
            if (box.checked) chosen.add(one.series_id); else chosen.delete(one.series_id);
            list().then(draw);
          });
          return box;
        },
      },
      { title: "series", value: (one) => one.series_id },
      { title: "unit", value: (one) => one.unit },
    ], found, { empty: "No series matches." }));
  };
  search.addEventListener("submit", (event) => { event.preventDefault(); list(); });
  for (const input of [start, end, every]) input.addEventListener("change", draw);
  await list();
  if (found.length && ctx.config.series_hint) {
    chosen.add(found[0].series_id);
    await list();
    await draw();
  }
}
