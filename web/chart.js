// The RTT chart of one panel: uPlot (node_modules/uplot, loaded as a classic
// script: window.uPlot), one series per source, losses marked as red bars
// with a small triangle on the top edge. A drag zooms in on a stretch of
// time and live data does not undo it; a double-click follows live again.

import { clockTime, cssVar, el, PALETTE } from "./dom.js";
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

function axis(extra) {
  return {
    stroke: () => theme.text,
    font: `12px ${cssVar("--font-mono") || "ui-monospace, monospace"}`,
    grid: { stroke: () => theme.grid, width: 1 },
    ticks: { stroke: () => theme.grid, width: 1 },
    ...extra,
  };
}

/** uPlot's options for these series labels; `chart` gives the losses and takes the zoom. */
function options(chart, labels) {
  const colour = (i) => () => theme.series[i % theme.series.length];
  return {
    width: Math.max(240, chart.wrap.clientWidth || 600),
    height: chartHeight(),
    series: [
      { label: "Time", value: (u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleTimeString()) },
      ...labels.map((label, i) => ({
        label,
        stroke: colour(i),
        width: 1.5,
        spanGaps: false,
        points: { size: 5, width: 1, fill: colour(i) },
        value: (u, v) => (v == null ? "—" : formatMs(v)),
      })),
    ],
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, niceCeil(max)] } },
    axes: [
      axis({ space: 110, incrs: TIME_INCRS, values: (u, splits) => splits.map(clockTime) }),
      axis({ size: axisSize, values: (u, values) => values.map((v) => `${+v.toPrecision(3)} ms`) }),
    ],
    cursor: { drag: { x: true, y: false }, points: { size: 7 } },
    // the legend is a read-out over the plot while the pointer is on it
    legend: { live: true, mount: (u, legend) => chart.wrap.append(legend) },
    hooks: {
      draw: [(u) => drawLosses(u, chart.losses)],
      // a drag zooms in on a stretch of time: live data must not undo that
      setSelect: [(u) => u.select.width > 0 && chart.setZoomed(true)],
    },
  };
}

/** A panel without a chart (traceroute, mtr): every call a chart takes, doing nothing. */
export const NO_CHART = Object.freeze({
  reset() {},
  add() {},
  fit() {},
  setZoomed() {},
  render() {},
  destroy() {},
  snapshot: () => ({ series: [], points: 0, losses: 0, drawn: 0, xMin: null, xMax: null, lastX: null, zoomed: false }),
});

export class Chart {
  /** wrap: .chart-wrap; box: .chart; legend: .chart-legend; labels: one per series. */
  constructor({ wrap, box, legend }, labels, { changed }) {
    this.wrap = wrap;
    this.box = box;
    this.changed = changed; // ask for a render()
    this.labels = labels;
    this.reset();
    if (!window.uPlot) {
      box.textContent = "Chart unavailable: node_modules/uplot is missing (run npm ci in web/).";
      box.classList.add("chart-missing");
      return;
    }
    this.plot = new window.uPlot(options(this, labels), [this.xs, ...this.ys], box);
    // uPlot's own double-click shows everything again: follow live from there
    this.plot.over.addEventListener("dblclick", () => this.setZoomed(false));
    this.zoomHint = el("span", "zoom-hint", "zoomed in · double-click the chart to follow live");
    this.zoomHint.hidden = true;
    this.lossKey = el("span", "loss-key");
    this.lossKey.append(el("span", "loss-swatch"), el("span", "", "lost"));
    this.lossKey.hidden = true;
    legend.append(this.zoomHint, this.lossKey);
    this.resizeObserver = new ResizeObserver(() => this.fit());
    this.resizeObserver.observe(wrap);
    charts.add(this);
  }

  reset() {
    this.xs = [];
    this.ys = this.labels.map(() => []);
    this.losses = []; // [x, series index]
    this.lastX = -Infinity;
    this.dirty = true;
    if (this.lossKey) this.lossKey.hidden = true;
  }

  /** One point of series `index`: point is stats.js's {rtt} or {lost: true}. */
  add(index, event, point) {
    let x = typeof event.t === "number" ? event.t : Date.now() / 1000;
    if (x < this.lastX) x = this.lastX; // uPlot wants x ascending; nodes' clocks differ a little
    this.lastX = x;
    this.xs.push(x);
    // null breaks this series' line at a loss; undefined lets the others run on
    this.ys.forEach((ys, i) => ys.push(i === index ? (point.lost ? null : point.rtt) : undefined));
    if (point.lost) this.losses.push([x, index]);
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
    if (this.zoomHint) this.zoomHint.hidden = !zoomed;
    if (!zoomed) {
      this.dirty = true;
      this.changed();
    }
  }

  render() {
    if (this.lossKey) this.lossKey.hidden = !this.losses.length;
    if (!this.dirty || !this.plot) return;
    this.dirty = false;
    this.plot.setData([this.xs, ...this.ys], !this.zoomed);
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
    };
  }
}
