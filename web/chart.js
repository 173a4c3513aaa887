// The RTT chart of one panel: uPlot (node_modules/uplot, loaded as a classic
// script: window.uPlot), one series per source, losses marked as red bars
// with a small triangle on the top edge. A drag zooms in on a stretch of
// time and live data does not undo it; a double-click follows live again.
//
// Once a run has more points than the chart is wide enough to show one by
// one, it draws the run's smoke instead (smoke.js): per time bucket the
// median as a line, p10–p90 and min–max as shaded bands, and the bucket's
// loss as a red tint (deeper for more loss). A button shows the raw points
// of the stretch in view, and goes back to the smoke.

import { clockTime, cssVar, el, PALETTE } from "./dom.js";
import { Smoke, lowerBound } from "./smoke.js";
import { formatMs } from "./stats.js";

/** Whole seconds and up: a ping chart never needs tick marks between seconds. */
const TIME_INCRS = [0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const PHONE = "(max-width: 600px)";

// the canvas's colours: CSS custom properties, read again when the scheme changes
let theme = readTheme();
const charts = new Set();

function readTheme() {
  return {
    text: cssVar("--muted") || "#667",
    grid: cssVar("--grid") || "rgba(0,0,0,.08)",
    loss: cssVar("--danger") || "#d33",
    series: PALETTE.map((name) => cssVar(name) || "#2f6df6"),
  };
}

matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  theme = readTheme();
  for (const chart of charts) chart.plot?.redraw(false, true);
});
matchMedia(PHONE).addEventListener("change", () => {
  for (const chart of charts) chart.fit();
});

const chartHeight = () => (matchMedia(PHONE).matches ? 180 : 230);

/** Points the chart shows one by one before it shows smoke: one per 4 px of width (a point is 5 px across). */
export const PX_PER_POINT = 4;
export const rawCapacity = (width) => Math.max(60, Math.floor(width / PX_PER_POINT));

/** A CSS colour with alpha `a`, whatever notation the custom property used. */
const colourCanvas = typeof document === "undefined" ? null : document.createElement("canvas").getContext("2d");
export function withAlpha(colour, a) {
  if (!colourCanvas) return colour;
  colourCanvas.fillStyle = "#000";
  colourCanvas.fillStyle = colour; // the canvas says it back as #rrggbb (or rgba())
  const text = colourCanvas.fillStyle;
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(text);
  if (hex) return `rgba(${parseInt(hex[1], 16)}, ${parseInt(hex[2], 16)}, ${parseInt(hex[3], 16)}, ${a})`;
  return text.replace(/rgba?\(([^,]+),([^,]+),([^,)]+)(,[^)]*)?\)/, `rgba($1,$2,$3, ${a})`);
}

/** The y axis as wide as its longest label. */
function axisSize(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size; // settle after one round
  let size = (axis.ticks.size || 0) + (axis.gap || 0) + 8;
  const longest = (values || []).reduce((a, b) => (b.length > a.length ? b : a), "");
  u.ctx.save();
  u.ctx.font = axis.font[0];
  size += u.ctx.measureText(longest).width / (window.devicePixelRatio || 1);
  u.ctx.restore();
  return Math.ceil(size);
}

export function niceCeil(max) {
  if (max == null || !Number.isFinite(max) || max <= 0) return 1;
  const padded = max * 1.15;
  const magnitude = 10 ** Math.floor(Math.log10(padded));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (step * magnitude >= padded) return step * magnitude;
  }
  return 10 * magnitude;
}

function drawLosses(u, losses) {
  if (!losses.length) return;
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  const px = window.devicePixelRatio || 1;
  ctx.save();
  ctx.fillStyle = theme.loss;
  for (const [x] of losses) {
    const cx = u.valToPos(x, "x", true);
    if (cx < left - 1 || cx > left + width + 1) continue;
    ctx.globalAlpha = 0.22;
    ctx.fillRect(Math.round(cx - px), top, Math.max(2, 2 * px), height);
    ctx.globalAlpha = 1;
    const s = 5 * px; // a small downward triangle on the top edge
    ctx.beginPath();
    ctx.moveTo(cx - s, top);
    ctx.lineTo(cx + s, top);
    ctx.lineTo(cx, top + s * 1.4);
    ctx.closePath();
    ctx.fill();
  }
  ctx.restore();
}

/** Smoke: each bucket's loss as a red column, deeper for more of its packets lost, and a strip on the top edge. */
function drawSmokeLosses(u, smoke) {
  const { xs, series } = smoke.data;
  if (!xs.length) return;
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  const half = smoke.width / 2;
  const strip = 6 * (window.devicePixelRatio || 1);
  ctx.save();
  ctx.fillStyle = theme.loss;
  for (let i = 0; i < xs.length; i += 1) {
    let loss = 0;
    for (const s of series) loss = Math.max(loss, s.loss[i] || 0);
    if (!loss) continue;
    const x0 = Math.max(left, u.valToPos(xs[i] - half, "x", true));
    const x1 = Math.min(left + width, u.valToPos(xs[i] + half, "x", true));
    if (x1 <= x0) continue;
    // square-root scale: one loss in a bucket of 150 shows faintly, 15% boldly, all of them fully
    ctx.globalAlpha = 0.4 * Math.sqrt(loss);
    ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
    ctx.globalAlpha = Math.min(1, 0.15 + 2 * Math.sqrt(loss));
    ctx.fillRect(x0, top, Math.max(1, x1 - x0), strip);
  }
  ctx.restore();
}

/** Smoke's y scale: up to the highest max, but not past 3 × the highest p90 (one outlier must not flatten the rest). */
function smokeRange(smoke) {
  let p90 = 0;
  let max = 0;
  for (const s of smoke.data.series) {
    for (const v of s.p90) if (v != null && v > p90) p90 = v;
    for (const v of s.max) if (v != null && v > max) max = v;
  }
  return [0, niceCeil(p90 > 0 ? Math.min(max, 3 * p90) : max)];
}

function axis(extra) {
  return {
    stroke: () => theme.text,
    font: `12px ${cssVar("--font-mono") || "ui-monospace, monospace"}`,
    grid: { stroke: () => theme.grid, width: 1 },
    ticks: { stroke: () => theme.grid, width: 1 },
    ...extra,
  };
}

/** What raw and smoke charts share: size, axes, cursor, legend, zoom. */
function commonOptions(chart, series, yRange, drawHooks) {
  return {
    width: Math.max(240, chart.wrap.clientWidth || 600),
    height: chartHeight(),
    series: [{ label: "Time", value: (u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleTimeString()) }, ...series],
    scales: { x: { time: true }, y: { range: yRange } },
    axes: [
      axis({ space: 110, incrs: TIME_INCRS, values: (u, splits) => splits.map(clockTime) }),
      axis({ size: axisSize, values: (u, values) => values.map((v) => `${+v.toPrecision(3)} ms`) }),
    ],
    cursor: { drag: { x: true, y: false }, points: { size: 7 } },
    // the legend is a read-out over the plot while the pointer is on it
    legend: { live: true, mount: (u, legend) => chart.wrap.append(legend) },
    hooks: {
      ...drawHooks,
      // a drag zooms in on a stretch of time: live data must not undo that
      setSelect: [(u) => u.select.width > 0 && chart.setZoomed(true)],
    },
  };
}

const colour = (i) => () => theme.series[i % theme.series.length];
const msValue = (u, v) => (v == null ? "—" : formatMs(v));

/** uPlot's options for the raw points of these series labels. */
function rawOptions(chart, labels) {
  const series = labels.map((label, i) => ({
    label,
    stroke: colour(i),
    width: 1.5,
    spanGaps: false,
    points: { size: 5, width: 1, fill: colour(i) },
    value: msValue,
  }));
  return commonOptions(chart, series, (u, min, max) => [0, niceCeil(max)], {
    draw: [(u) => drawLosses(u, chart.losses)],
  });
}

/** The smoke's series per label: median (a line), p10, p90, min, max (band edges, no line). */
export const SMOKE_FIGURES = Object.freeze(["median", "p10", "p90", "min", "max"]);

/** uPlot's options for the smoke of these series labels: five series each, two bands. */
function smokeOptions(chart, labels) {
  const series = [];
  const bands = [];
  labels.forEach((label, i) => {
    const name = labels.length > 1 ? `${label} ` : "";
    const base = 1 + i * SMOKE_FIGURES.length; // uPlot's index of this label's median
    series.push({ label: `${name}median`, stroke: colour(i), width: 2, spanGaps: false, points: { show: false }, value: msValue });
    for (const figure of SMOKE_FIGURES.slice(1)) {
      series.push({ label: `${name}${figure}`, stroke: "transparent", width: 0, spanGaps: false, points: { show: false }, value: msValue });
    }
    const fill = (a) => () => withAlpha(theme.series[i % theme.series.length], a);
    bands.push({ series: [base + 2, base + 1], fill: fill(0.32) }); // p90 over p10
    bands.push({ series: [base + 4, base + 3], fill: fill(0.13) }); // max over min
  });
  return { ...commonOptions(chart, series, () => smokeRange(chart.smoke), {
    drawClear: [(u) => drawSmokeLosses(u, chart.smoke)], // under the grid and the bands
  }), bands };
}

/** A panel without a chart (traceroute, mtr): every call a chart takes, doing nothing. */
export const NO_CHART = Object.freeze({
  reset() {},
  add() {},
  fit() {},
  setZoomed() {},
  render() {},
  destroy() {},
  snapshot: () => ({
    series: [], points: 0, losses: 0, drawn: 0, xMin: null, xMax: null, lastX: null, zoomed: false,
    view: "none", buckets: 0, bucketWidth: null, rawRange: null,
  }), // fmt: skip
});

export class Chart {
  /** wrap: .chart-wrap; box: .chart; legend: .chart-legend; labels: one per series. */
  constructor({ wrap, box, legend }, labels, { changed }) {
    this.wrap = wrap;
    this.box = box;
    this.changed = changed; // ask for a render()
    this.labels = labels;
    this.view = "raw"; // "raw": every point; "smoke": the buckets (smoke.js)
    this.rawRange = null; // in smoke: [min, max] of the raw points shown instead, while asked
    this.reset();
    if (!window.uPlot) {
      box.textContent = "Chart unavailable: node_modules/uplot is missing (run npm ci in web/).";
      box.classList.add("chart-missing");
      return;
    }
    this.zoomHint = el("span", "zoom-hint", "zoomed in · double-click the chart to follow live");
    this.zoomHint.hidden = true;
    this.smokeKey = el("span", "smoke-key");
    this.smokeKey.append(el("span", "smoke-swatch smoke-band"), el("span", "", "p10–p90"), el("span", "smoke-swatch smoke-range"), el("span", "", "min–max"));
    this.smokeKey.hidden = true;
    this.lossKey = el("span", "loss-key");
    this.lossKey.append(el("span", "loss-swatch"), el("span", "", "lost"));
    this.lossKey.hidden = true;
    this.viewButton = el("button", "chart-view", "show raw points");
    this.viewButton.type = "button";
    this.viewButton.hidden = true;
    this.viewButton.addEventListener("click", () => this.toggleRaw());
    legend.append(this.zoomHint, this.smokeKey, this.lossKey, this.viewButton);
    this.build();
    this.resizeObserver = new ResizeObserver(() => this.fit());
    this.resizeObserver.observe(wrap);
    charts.add(this);
  }

  reset() {
    this.xs = [];
    this.ys = this.labels.map(() => []);
    this.losses = []; // [x, series index]
    this.smoke = new Smoke(this.labels.length);
    this.lastX = -Infinity;
    this.dirty = true;
    if (this.lossKey) this.lossKey.hidden = true;
    if (this.plot && (this.view !== "raw" || this.rawRange)) {
      this.view = "raw";
      this.rawRange = null;
      this.build();
    }
  }

  /** A new uPlot for the view (raw, smoke, or the raw points of a range). */
  build() {
    const zoomed = this.zoomed;
    this.plot?.destroy();
    const smoke = this.view === "smoke" && !this.rawRange;
    const make = smoke ? smokeOptions : rawOptions;
    this.plot = new window.uPlot(make(this, this.labels), this.data(), this.box);
    // uPlot's own double-click shows everything again: follow live from there
    this.plot.over.addEventListener("dblclick", () => this.setZoomed(false));
    if (this.rawRange) this.plot.setScale("x", { min: this.rawRange[0], max: this.rawRange[1] });
    this.zoomed = !!this.rawRange || (zoomed && !smoke);
    this.showKeys();
  }

  /** uPlot's data for the view. */
  data() {
    if (this.view === "smoke" && !this.rawRange) {
      const { xs, series } = this.smoke.data;
      return [xs, ...series.flatMap((s) => SMOKE_FIGURES.map((f) => s[f]))];
    }
    if (this.rawRange) {
      // only the points in the range: uPlot holds no more than the stretch asked for
      const from = lowerBound(this.xs, this.rawRange[0]);
      const to = lowerBound(this.xs, this.rawRange[1] + 1e-6);
      return [this.xs.slice(from, to), ...this.ys.map((ys) => ys.slice(from, to))];
    }
    return [this.xs, ...this.ys];
  }

  /** One point of series `index`: point is stats.js's {rtt} or {lost: true}. */
  add(index, event, point) {
    let x = typeof event.t === "number" ? event.t : Date.now() / 1000;
    if (x < this.lastX) x = this.lastX; // uPlot wants x ascending; nodes' clocks differ a little
    this.lastX = x;
    this.xs.push(x);
    // null breaks this series' line at a loss; undefined lets the others run on
    this.ys.forEach((ys, i) => ys.push(i === index ? (point.lost ? null : point.rtt) : undefined));
    const seq = typeof event.seq === "number" ? event.seq : null;
    if (point.lost) {
      this.losses.push([x, index]);
      this.smoke.loss(index, x, seq);
    } else {
      this.smoke.reply(index, x, point.rtt, seq);
    }
    this.dirty = true;
  }

  /** Fit the width of the panel (it may have been measured detached). */
  fit() {
    if (!this.plot) return;
    const w = Math.floor(this.wrap.clientWidth);
    if (w > 0 && (w !== this.plot.width || chartHeight() !== this.plot.height)) this.plot.setSize({ width: w, height: chartHeight() });
  }

  setZoomed(zoomed) {
    this.zoomed = zoomed;
    if (this.zoomHint) this.zoomHint.hidden = !zoomed || !!this.rawRange;
    if (!zoomed) {
      this.dirty = true;
      this.changed();
    }
  }

  /** Smoke: show the raw points of the stretch in view instead; raw: back to the smoke. */
  toggleRaw() {
    if (this.view !== "smoke") return;
    const { min, max } = this.plot.scales.x;
    this.rawRange = this.rawRange ? null : [min ?? -Infinity, max ?? Infinity];
    this.build();
    this.dirty = true;
    this.changed();
  }

  showKeys() {
    if (!this.lossKey) return;
    const smoke = this.view === "smoke" && !this.rawRange;
    this.lossKey.hidden = !this.losses.length;
    this.smokeKey.hidden = !smoke;
    this.lossKey.lastChild.textContent = smoke ? `lost per ${this.smoke.width} s` : "lost";
    this.viewButton.hidden = this.view !== "smoke";
    this.viewButton.textContent = this.rawRange ? "show smoke" : "show raw points";
    this.viewButton.setAttribute("aria-pressed", String(!!this.rawRange));
    this.zoomHint.hidden = !this.zoomed || !!this.rawRange;
  }

  render() {
    if (!this.plot) return;
    if (this.view === "raw" && this.xs.length > rawCapacity(this.plot.bbox.width / (window.devicePixelRatio || 1))) {
      this.view = "smoke"; // too many points to tell apart: the smoke from now on
      this.build();
    }
    this.showKeys();
    if (!this.dirty || this.rawRange) return; // the raw points of a range: what was asked for, not live
    this.dirty = false;
    this.plot.setData(this.data(), !this.zoomed);
  }

  destroy() {
    charts.delete(this);
    this.resizeObserver?.disconnect();
    this.plot?.destroy();
  }

  snapshot() {
    const scale = this.plot?.scales.x;
    return {
      series: this.plot ? this.plot.series.map((s) => s.label) : ["Time", ...this.labels],
      points: this.xs.filter((x, i) => this.ys.some((ys) => ys[i] != null)).length,
      losses: this.losses.length,
      drawn: this.plot ? this.plot.data[0].length : 0, // what uPlot holds
      xMin: scale?.min ?? null,
      xMax: scale?.max ?? null,
      lastX: this.xs.length ? this.lastX : null,
      zoomed: !!this.zoomed,
      view: this.rawRange ? "raw-range" : this.view,
      buckets: this.smoke.data.xs.length,
      bucketWidth: this.smoke.width,
      rawRange: this.rawRange,
      smoke: this.view === "smoke" ? this.smoke.data.series.map((s) => ({ replies: s.replies, lost: s.lost, median: s.median })) : null,
    };
  }
}
