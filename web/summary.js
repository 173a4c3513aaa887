// One summary of every run, above the panels: a compact table with one row
// per run (a panel's source: the WebSocket, or one WAMP node), live, sortable
// by any column; a row's target brings its panel into view; one CSV of every
// run's events. The rows, their order and the CSV are pure (node unit tests,
// web/test/summary.test.js); SummaryView is their DOM. Server text enters
// only as textContent.

import { $, cssVar, el } from "./dom.js";
import { csvColumns, download, exportRows, toCSV } from "./export.js";
import { formatLoss, formatRtt } from "./stats.js";

/** The columns, in order: key, heading, numeric (sorts as a number), a cell's text. */
export const COLUMNS = Object.freeze([
  { key: "target", label: "Target", numeric: false, text: (r) => r.target },
  { key: "tool", label: "Tool", numeric: false, text: (r) => r.tool },
  { key: "node", label: "Node", numeric: false, text: (r) => r.node ?? "", wamp: true },
  { key: "state", label: "State", numeric: false, text: (r) => r.state },
  { key: "sent", label: "Sent", numeric: true, text: (r) => (r.sent == null ? "—" : String(r.sent)) },
  { key: "loss", label: "Loss %", numeric: true, text: (r) => formatLoss(r.loss) },
  { key: "last", label: "Last ms", numeric: true, text: (r) => formatRtt(r.last) },
  { key: "avg", label: "Avg ms", numeric: true, text: (r) => formatRtt(r.avg) },
  { key: "p95", label: "P95 ms", numeric: true, text: (r) => formatRtt(r.p95) },
  { key: "jitter", label: "Jitter ms", numeric: true, text: (r) => formatRtt(r.jitter) },
  { key: "recent", label: "Recent", numeric: false, sortable: false },
  { key: "detail", label: "Detail", numeric: false, text: (r) => r.detail },
]);

/** What a run's events said besides the RTT, in a few words: HTTP statuses, DNS rcodes, lost probes by reason. */
export function detailText(f) {
  if (!f) return "";
  const counted = (counts) => Object.entries(counts || {}).map(([k, n]) => `${k} ×${n}`);
  return [...counted(f.statuses), ...counted(f.rcodes), ...counted(f.reasons).map((t) => `lost ${t}`)].join(" · ");
}

/** How many of a run's latest RTTs its sparkline draws. */
export const RECENT = 48;

/**
 * One row per source of every panel: panels are [{id, target, tool, sources:
 * [{node, phase, waiting, figures (stats.js snapshot, or null for a path
 * tool), recent: [rtt | null]}]}].
 */
export function summaryRows(panels) {
  const rows = [];
  for (const panel of panels) {
    panel.sources.forEach((source, index) => {
      const f = source.figures;
      rows.push({
        key: `${panel.id}:${index}`,
        panel: panel.id,
        target: panel.target,
        tool: panel.tool,
        node: source.node,
        state: source.waiting ? "queued" : source.phase,
        sent: f ? f.sent : null,
        loss: f ? f.loss_pct : null,
        last: f ? f.last_ms : null,
        avg: f ? f.avg_ms : null,
        p95: f ? f.p95_ms : null,
        jitter: f ? f.mean_delta_ms : null,
        recent: source.recent || [],
        detail: detailText(f),
      });
    });
  }
  return rows;
}

/** The rows ordered by column `key` (ascending, or descending with dir -1); no value sorts last either way; ties keep the panels' order. */
export function sortRows(rows, key, dir = 1) {
  const column = COLUMNS.find((c) => c.key === key);
  if (!column || column.sortable === false) return [...rows];
  const missing = (v) => v == null || (typeof v === "number" && !Number.isFinite(v));
  const indexed = rows.map((row, i) => ({ row, i }));
  indexed.sort((a, b) => {
    const x = a.row[key];
    const y = b.row[key];
    if (missing(x) || missing(y)) return missing(x) - missing(y) || a.i - b.i;
    const order = column.numeric ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return order * dir || a.i - b.i;
  });
  return indexed.map((entry) => entry.row);
}

/** Every panel's events as one CSV: a target column first, then the union of the tools' columns. */
export function allRunsCSV(panels) {
  const columns = ["target"];
  const rows = [];
  for (const panel of panels) {
    for (const c of csvColumns(panel.display)) if (!columns.includes(c)) columns.push(c);
    for (const row of exportRows(panel.sources, panel.tool)) rows.push({ target: panel.target, ...row });
  }
  return toCSV(rows, columns);
}

/** A run's latest RTTs as a line (losses as red ticks), on a small canvas. */
function drawSparkline(canvas, recent) {
  const px = window.devicePixelRatio || 1;
  const w = 72;
  const h = 16;
  if (canvas.width !== w * px) {
    canvas.width = w * px;
    canvas.height = h * px;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(px, 0, 0, px, 0, 0);
  ctx.clearRect(0, 0, w, h);
  let max = 0;
  for (const v of recent) if (v != null && v > max) max = v;
  const step = w / Math.max(1, RECENT - 1);
  const x0 = w - (recent.length - 1) * step;
  ctx.strokeStyle = cssVar("--series-1") || "#2f63e8";
  ctx.lineWidth = 1.25;
  ctx.beginPath();
  let drawing = false;
  recent.forEach((v, i) => {
    const x = x0 + i * step;
    if (v == null) {
      drawing = false;
      return;
    }
    const y = h - 1.5 - (max ? (v / max) * (h - 3) : 0);
    if (drawing) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    drawing = true;
  });
  ctx.stroke();
  ctx.fillStyle = cssVar("--danger") || "#c01f2c";
  recent.forEach((v, i) => v == null && ctx.fillRect(x0 + i * step - 0.75, 0, 1.5, h));
}

/** The table's DOM, above #panels: shown once there are two runs or more. */
export class SummaryView {
  /** panels(): the board's panels; wamp(): whether a node column applies. */
  constructor({ panels, wamp }) {
    this.panels = panels;
    this.wamp = wamp;
    this.sortKey = null; // the panels' order until a heading is clicked
    this.sortDir = 1;
    this.timer = null;
    this.rows = new Map(); // row key -> {tr, cells, canvas}
    this.el = el("section", "runs-summary");
    this.el.setAttribute("aria-label", "Summary of every run");
    this.el.hidden = true;
    const bar = el("div", "summary-bar");
    bar.append(el("h2", "summary-title", "Summary"));
    const csv = el("button", "summary-csv", "CSV of all runs");
    csv.type = "button";
    csv.addEventListener("click", () => this.exportCSV());
    bar.append(csv);
    const scroller = el("div", "summary-scroll");
    this.table = el("table", "summary-table");
    this.head = el("tr");
    this.headers = new Map();
    for (const column of COLUMNS) {
      const th = el("th");
      th.scope = "col";
      th.dataset.key = column.key;
      if (column.numeric) th.className = "num";
      if (column.sortable === false) {
        th.textContent = column.label;
      } else {
        const sort = el("button", "summary-sort", column.label);
        sort.type = "button";
        sort.addEventListener("click", () => this.sortBy(column.key));
        th.append(sort);
      }
      this.headers.set(column.key, th);
      this.head.append(th);
    }
    const thead = el("thead");
    thead.append(this.head);
    this.body = el("tbody");
    this.table.append(thead, this.body);
    scroller.append(this.table);
    this.el.append(bar, scroller);
    const panels$ = $("#panels");
    panels$.parentNode.insertBefore(this.el, panels$);
  }

  sortBy(key) {
    this.sortDir = this.sortKey === key ? -this.sortDir : 1;
    this.sortKey = key;
    this.render();
  }

  /** Something changed: render within a quarter second (a table need not follow every reply at 100 a second). */
  touch() {
    if (this.timer != null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.render();
    }, 250);
  }

  render() {
    const panels = this.panels();
    this.el.hidden = panels.length < 2;
    this.table.classList.toggle("summary-wamp", !!this.wamp());
    if (this.el.hidden) return;
    const byId = new Map(panels.map((p) => [p.id, p]));
    let rows = summaryRows(panels.map((p) => p.summary()));
    if (this.sortKey) rows = sortRows(rows, this.sortKey, this.sortDir);
    for (const [key, th] of this.headers) th.setAttribute("aria-sort", key === this.sortKey ? (this.sortDir > 0 ? "ascending" : "descending") : "none");
    const seen = new Set();
    rows.forEach((row, index) => {
      seen.add(row.key);
      let view = this.rows.get(row.key);
      if (!view) view = this.makeRow(row, byId.get(row.panel));
      COLUMNS.forEach((column, i) => {
        if (column.sortable === false) return;
        const text = column.text(row);
        const holder = column.key === "target" ? view.cells[i].firstChild : view.cells[i];
        if (holder.textContent !== text) holder.textContent = text;
      });
      view.tr.dataset.state = row.state;
      drawSparkline(view.canvas, row.recent);
      if (this.body.children[index] !== view.tr) this.body.insertBefore(view.tr, this.body.children[index] || null);
    });
    for (const [key, view] of this.rows) {
      if (!seen.has(key)) {
        view.tr.remove();
        this.rows.delete(key);
      }
    }
  }

  makeRow(row, panel) {
    const tr = el("tr");
    const cells = COLUMNS.map((column) => {
      const td = el(column.key === "target" ? "th" : "td", column.numeric ? "num" : "");
      td.dataset.key = column.key;
      if (column.key === "target") {
        td.scope = "row";
        const go = el("button", "summary-go");
        go.type = "button";
        go.title = "Show this run's panel";
        go.addEventListener("click", (e) => {
          e.stopPropagation();
          this.show(panel);
        });
        td.append(go);
      }
      tr.append(td);
      return td;
    });
    const canvas = el("canvas", "sparkline");
    canvas.setAttribute("aria-hidden", "true");
    cells[COLUMNS.findIndex((c) => c.key === "recent")].append(canvas);
    tr.addEventListener("click", () => this.show(panel));
    const view = { tr, cells, canvas };
    this.rows.set(row.key, view);
    return view;
  }

  /** Bring a run's panel into view, and the keyboard with it. */
  show(panel) {
    if (!panel?.el.isConnected) return;
    panel.el.scrollIntoView({ behavior: "smooth", block: "start" });
    panel.view.action()?.focus({ preventScroll: true });
  }

  exportCSV() {
    const panels = this.panels();
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
    download(`pingu-all-${stamp}.csv`, "text/csv;charset=utf-8", allRunsCSV(panels));
  }

  snapshot() {
    return {
      shown: !this.el.hidden,
      sort: this.sortKey ? { key: this.sortKey, dir: this.sortDir } : null,
      rows: [...this.body.children].map((tr) => [...tr.children].map((cell) => cell.textContent)),
    };
  }
}
