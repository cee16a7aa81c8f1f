// Time series through the API: which series there are, and one series' points over a range.

import { ApiError } from "./api.js";

/** The time range views show: the configured one, else the last day up to now. */
export function defaultRange(config) {
  if (config.time_range) return { start: config.time_range.start, end: config.time_range.end };
  const end = new Date(Math.ceil(Date.now() / 60e3) * 60e3 + 60e3);
  const start = new Date(end.getTime() - 24 * 3600e3);
  return { start: start.toISOString(), end: end.toISOString() };
}

/** Series matching any of `patterns` ([] when the API keeps no time series). */
export async function listSeries(api, patterns) {
  const found = new Map();
  for (const match of patterns) {
    try {
      for (const item of await api.all("/series", { match, limit: 1000 }, 5)) found.set(item.series_id, item);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return [];
      throw error;
    }
  }
  return [...found.values()].sort((a, b) => a.series_id.localeCompare(b.series_id));
}

/** One series' rows over the range (raw, or per `every` bucket), at most `pages` pages. */
export async function seriesRows(api, seriesId, range, { every = null, agg = null, pages = 10 } = {}) {
  const rows = [];
  let cursor = null;
  for (let page = 0; page < pages; page += 1) {
    const answer = await api.get("/series/data", {
      series: seriesId, start: range.start, end: range.end, every, agg, cursor, format: "json",
    });
    rows.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return rows;
}
