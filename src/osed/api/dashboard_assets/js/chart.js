// Time-series line charts in SVG: time axis in UTC, drag across the plot to zoom into a time
// range, double-click to show everything again. Limits draw as dashed lines.

import { h, s, clear, num } from "./dom.js";

export const COLOURS = ["#1f6feb", "#d1242f", "#2da44e", "#8250df", "#bf8700", "#0a7ea4", "#cf222e", "#6e7781"];
const MARGIN = { left: 56, right: 16, top: 12, bottom: 28 };
const MINUTE = 60e3;
const STEPS = [
  1e3, 5e3, 15e3, 30e3, MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, 60 * MINUTE,
  3 * 60 * MINUTE, 6 * 60 * MINUTE, 12 * 60 * MINUTE, 24 * 60 * MINUTE, 7 * 24 * 60 * MINUTE,
];

/** About `count` round values covering [low, high]. */
export function niceTicks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= raw);
  if (!(step > 0)) return [low, high];
  const ticks = [];
  const first = Math.ceil(low / step);
  for (let k = 0; k <= count * 3 && (first + k) * step <= high + step * 1e-9; k += 1) {
    ticks.push(Number(((first + k) * step).toPrecision(12)));
  }
  return ticks;
}

export function timeTicks(start, end, count = 6) {
  const step = STEPS.find((v) => (end - start) / v <= count) || STEPS[STEPS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) ticks.push(t);
  return { ticks, step };
}

function timeLabel(t, step) {
  const iso = new Date(t).toISOString();
  if (step >= 24 * 60 * MINUTE) return iso.slice(5, 10);
  if (step < MINUTE) return iso.slice(11, 19);
  return iso.slice(11, 16) === "00:00" ? iso.slice(5, 10) : iso.slice(11, 16);
}

export class TimeChart {
  /**
   * @param {HTMLElement} host where the chart goes
   * @param {{unit?: string, limits?: {value: number, label: string}[], height?: number}} options
   */
  constructor(host, options = {}) {
    this.host = host;
    this.options = options;
    this.series = [];
    this.full = null;
    this.domain = null;
    this.svg = s("svg", { class: "chart", role: "img" });
    this.legend = h("div", { class: "chart-legend" });
    host.append(this.svg, this.legend);
    this.svg.addEventListener("dblclick", () => this.reset());
    this.svg.addEventListener("pointerdown", (event) => this.brushStart(event));
    this.observer = new ResizeObserver(() => this.draw());
    this.observer.observe(this.svg);
  }

  /** Series [{name, points: [[time ms, value]]}] in time order; resets the zoom. */
  setSeries(series) {
    this.series = series.filter((one) => one.points.length);
    const times = this.series.flatMap((one) => [one.points[0][0], one.points.at(-1)[0]]);
    this.full = times.length ? [Math.min(...times), Math.max(...times)] : null;
    if (this.full && this.full[0] === this.full[1]) this.full = [this.full[0] - MINUTE, this.full[1] + MINUTE];
    this.domain = this.full;
    clear(this.legend);
    this.series.forEach((one, i) => {
      const entry = h("span", {}, one.name);
      entry.style.setProperty("--swatch", COLOURS[i % COLOURS.length]);
      this.legend.append(entry);
    });
    this.draw();
  }

  zoom(start, end) {
    if (!(end > start)) return;
    this.domain = [start, end];
    this.draw();
  }

  reset() {
    this.domain = this.full;
    this.draw();
  }

  size() {
    const box = this.svg.getBoundingClientRect();
    return { width: Math.max(box.width, 200), height: Math.max(box.height, 120) };
  }

  draw() {
    const svg = clear(this.svg);
    const { width, height } = this.size();
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    if (!this.domain) {
      svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data in this range"));
      delete svg.dataset.start;
      return;
    }
    const [t0, t1] = this.domain;
    svg.dataset.start = String(t0);
    svg.dataset.end = String(t1);
    const visible = this.series.map((one) => one.points.filter(([t]) => t >= t0 && t <= t1));
    const values = visible.flat().map(([, v]) => v).filter(Number.isFinite);
    for (const limit of this.options.limits || []) values.push(limit.value);
    let low = values.length ? Math.min(...values) : 0;
    let high = values.length ? Math.max(...values) : 1;
    if (high - low <= 1e-9 * Math.max(Math.abs(low), Math.abs(high))) {
      // One value (up to rounding): a band around it.
      const middle = (low + high) / 2;
      const half = Math.abs(middle) * 0.05 || 1;
      [low, high] = [middle - half, middle + half];
    }
    const pad = (high - low) * 0.05;
    low -= pad; high += pad;
    const x = (t) => MARGIN.left + ((t - t0) / (t1 - t0)) * plotW;
    const y = (v) => MARGIN.top + (1 - (v - low) / (high - low)) * plotH;
    this.x = x;
    this.invert = (px) => t0 + ((px - MARGIN.left) / plotW) * (t1 - t0);

    const grid = s("g", { class: "grid" });
    const axis = s("g", { class: "axis" });
    for (const v of niceTicks(low, high, Math.max(2, Math.floor(plotH / 45)))) {
      grid.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }));
      axis.append(s("text", { x: MARGIN.left - 6, y: y(v) + 4, "text-anchor": "end" }, num(v, 4)));
    }
    const { ticks, step } = timeTicks(t0, t1, Math.max(2, Math.floor(plotW / 90)));
    for (const t of ticks) {
      grid.append(s("line", { x1: x(t), x2: x(t), y1: MARGIN.top, y2: height - MARGIN.bottom }));
      axis.append(s("text", { x: x(t), y: height - 8, "text-anchor": "middle" }, timeLabel(t, step)));
    }
    axis.append(s("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: height - MARGIN.bottom }));
    axis.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: height - MARGIN.bottom, y2: height - MARGIN.bottom }));
    if (this.options.unit) {
      axis.append(s("text", { x: 4, y: MARGIN.top + 2, "dominant-baseline": "hanging" }, this.options.unit));
    }
    svg.append(grid, axis);

    const clip = `clip-${Math.random().toString(36).slice(2)}`;
    svg.append(s("clipPath", { id: clip }, s("rect", { x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH })));
    const lines = s("g", { "clip-path": `url(#${clip})` });
    for (const limit of this.options.limits || []) {
      lines.append(s("line", { class: "limit", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(limit.value), y2: y(limit.value) }, s("title", {}, limit.label)));
    }
    visible.forEach((points, i) => {
      // One point either side of the range keeps lines running to the edges when zoomed.
      const all = this.series[i].points;
      const first = all.findIndex(([t]) => t >= t0);
      const shown = all.slice(Math.max(first - 1, 0), first < 0 ? 0 : first + points.length + 1);
      let d = "";
      let pen = "M";
      for (const [t, v] of shown) {
        if (!Number.isFinite(v)) { pen = "M"; continue; }
        d += `${pen}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
        pen = "L";
      }
      const colour = COLOURS[i % COLOURS.length];
      lines.append(s("path", { class: "series", d, stroke: colour }, s("title", {}, this.series[i].name)));
      if (points.length <= 60) {
        // Few points: each one marked, so that a single point shows too.
        for (const [t, v] of points) {
          if (Number.isFinite(v)) lines.append(s("circle", { class: "marker", cx: x(t), cy: y(v), r: 3, fill: colour }));
        }
      }
    });
    svg.append(lines);
    this.plot = s("rect", { class: "plot", x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, fill: "transparent" });
    svg.append(this.plot);
  }

  brushStart(event) {
    if (!this.domain || event.button !== 0) return;
    const box = this.svg.getBoundingClientRect();
    const scale = this.size().width / box.width;
    const at = (e) => (e.clientX - box.left) * scale;
    const from = at(event);
    const { height } = this.size();
    const brush = s("rect", { class: "brush", x: from, y: MARGIN.top, width: 0, height: height - MARGIN.top - MARGIN.bottom });
    this.svg.append(brush);
    this.svg.setPointerCapture(event.pointerId);
    const move = (e) => {
      const to = at(e);
      brush.setAttribute("x", Math.min(from, to));
      brush.setAttribute("width", Math.abs(to - from));
    };
    const up = (e) => {
      this.svg.removeEventListener("pointermove", move);
      this.svg.removeEventListener("pointerup", up);
      brush.remove();
      const to = at(e);
      if (Math.abs(to - from) > 4) {
        const [a, b] = [this.invert(Math.min(from, to)), this.invert(Math.max(from, to))];
        this.zoom(Math.max(a, this.domain[0]), Math.min(b, this.domain[1]));
      }
    };
    this.svg.addEventListener("pointermove", move);
    this.svg.addEventListener("pointerup", up);
  }
}

/** API rows ({time, value}) as chart points. */
export function points(rows) {
  return rows.map((row) => [Date.parse(row.time), row.value === null ? NaN : Number(row.value)]);
}
