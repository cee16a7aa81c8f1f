// A chosen element's time series: the series that belong to it, one picked, drawn with zoom.

import { h, clear, errorText } from "./dom.js";
import { TimeChart, points } from "./chart.js";
import { defaultRange, listSeries, seriesRows } from "./seriesdata.js";

/** Draws into `host` a picker of the series matching `patterns` and the chosen one's chart. */
export async function seriesPanel(ctx, host, patterns, { prefer = [], limits = [] } = {}) {
  clear(host);
  const found = ctx.config.served.series ? await listSeries(ctx.api, patterns) : [];
  if (!found.length) {
    host.append(h("p", { class: "muted" }, "No stored time series for it."));
    return null;
  }
  const words = [...(ctx.config.series_first || []), ...prefer];
  const ranked = [...found].sort((a, b) => rank(a.series_id, words) - rank(b.series_id, words) || a.series_id.localeCompare(b.series_id));
  const picker = h("select", { "aria-label": "series" },
    ranked.map((one) => h("option", { value: one.series_id }, `${one.series_id} (${one.unit})`)));
  const status = h("span", { class: "muted" });
  const area = h("div", { class: "chart-host" });
  host.append(h("div", { class: "toolbar" }, picker, status), area);
  let chart = null;
  const show = async () => {
    const chosen = ranked.find((one) => one.series_id === picker.value);
    status.textContent = "loading…";
    clear(area);
    chart = new TimeChart(area, { unit: chosen.unit, limits: limits.filter((l) => l.unit === chosen.unit) });
    try {
      const rows = await seriesRows(ctx.api, chosen.series_id, defaultRange(ctx.config));
      chart.setSeries([{ name: chosen.series_id, points: points(rows) }]);
      status.textContent = `${rows.length} points · drag to zoom, double-click to reset`;
    } catch (error) {
      status.textContent = errorText(error);
    }
  };
  picker.addEventListener("change", show);
  await show();
  return chart;
}

/** A series' place in the picker: by each preferred word in turn (holding it first), then by id. */
function rank(id, prefer) {
  return prefer.reduce((score, word) => score * 2 + (id.includes(word) ? 0 : 1), 0);
}
