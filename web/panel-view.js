// One panel's DOM: built from index.html's templates, rendered from plain
// data. It never inserts server text as HTML: textContent and text nodes only.

import { $, el, fromTemplate, seriesVar, textNodes } from "./dom.js";
import { HopTableView } from "./hop-table-view.js";
import { HttpTimingsView, statusText } from "./http-timings-view.js";
import { formatLoss, formatRtt } from "./stats.js";
import { HTTP_TIMINGS, RTT_SERIES, isPathDisplay } from "./tools.js";

const MAX_DOM_LINES = 2000; // output lines kept on screen per panel (all are kept for export)
const RTT_KEYS = ["last_ms", "min_ms", "avg_ms", "max_ms", "p95_ms", "mdev_ms", "mean_delta_ms"];

export class PanelView {
  /** tool: its name; display: its display kind (tools.js); nodes: one name per source ([] for the one WebSocket source); on: the buttons' handlers. */
  constructor({ id, target, subtitle, nodes, tool, display = RTT_SERIES }, on) {
    const root = fromTemplate("panel-template");
    this.el = root;
    root.dataset.tool = tool;
    root.dataset.display = display;
    this.nodes = nodes;
    this.multi = nodes.length > 1;
    this.pending = [];
    this.domLines = 0;
    this.totalLines = 0;
    root.id = `run-${id}`;
    root.setAttribute("aria-labelledby", `run-${id}-title`);
    const title = $(".target-name", root);
    title.id = `run-${id}-title`;
    title.textContent = target;
    title.title = target;
    $(".options-text", root).textContent = subtitle;
    for (const name of ["badge:.state-badge", "notice:.notice", "lines:.lines", "lineCount:.line-count", "address:.address",
      "stopButton:.stop", "restartButton:.restart", "restartLabel:.restart-label"]) {
      const [key, selector] = name.split(":");
      this[key] = $(selector, root);
    }
    this.lines.setAttribute("aria-label", `${tool} output for ${target}`);
    this.stopButton.addEventListener("click", on.stop);
    this.restartButton.addEventListener("click", () => {
      on.restart();
      this.stopButton.focus();
    });
    $(".remove", root).addEventListener("click", on.remove);
    $(".export-csv", root).addEventListener("click", on.exportCSV);
    $(".export-json", root).addEventListener("click", on.exportJSON);
    for (const b of root.querySelectorAll("button[title]")) b.setAttribute("aria-label", `${b.title} (${target})`);
    this.chartParts = { wrap: $(".chart-wrap", root), box: $(".chart", root), legend: $(".chart-legend", root) };
    this.timings = null;
    if (isPathDisplay(display)) {
      // a path: a hop table instead of the figures and the RTT chart
      this.statGroups = [];
      $(".stats", root).hidden = this.chartParts.wrap.hidden = true;
      this.hops = new HopTableView($(".hops", root), { tool, display, nodes, target });
      return;
    }
    this.hops = null;
    // HTTP timings: the RTT series (each request's total), and each request's phases
    if (display === HTTP_TIMINGS) this.timings = new HttpTimingsView($(".timings", root), { nodes, target });
    this.statGroups = (nodes.length ? nodes : [null]).map((node, i) => this.buildStats(node, i));
    this.chartParts.box.setAttribute("aria-label", `Round-trip times for ${target}`);
  }

  /** tables: hops.js states, one per source (path tools only). */
  renderHops(tables) {
    this.hops?.render(tables);
  }

  /** One group of statistics tiles for one source. */
  buildStats(node, index) {
    const group = fromTemplate("stats-template");
    let address = null;
    if (this.multi) {
      const heading = $(".stat-node", group);
      heading.hidden = false;
      const swatch = el("span", "swatch");
      swatch.style.setProperty("--swatch", seriesVar(index));
      address = el("span", "stat-node-address muted");
      heading.append(swatch, el("span", "", node), " ", address);
    }
    $(".stats", this.el).append(group);
    const cells = {};
    for (const dd of group.querySelectorAll("dd[data-k]")) {
      // the number and its unit, apart, so that the unit can stay small
      const value = el("span", "v", "—");
      dd.replaceChildren(value);
      if (dd.dataset.unit) dd.append(el("span", "u", dd.dataset.unit));
      dd.classList.add("none");
      cells[dd.dataset.k] = value;
    }
    return { cells, address, loss: cells.loss_pct.closest(".stat"), details: $(".stat-details", group) };
  }

  /**
   * What each source's events said besides the RTT (stats.js RunStats, one
   * per source): lost probes by reason, replies by rcode or status, the last
   * number of answers; and the HTTP timings' bars.
   */
  renderDetails(stats) {
    stats.forEach((s, i) => {
      const { details } = this.statGroups[i];
      const parts = [];
      const counted = (counts) => [...counts].map(([k, n]) => `${k} ×${n}`).join(" · ");
      if (s.tallies.reason.size) parts.push(`lost: ${counted(s.tallies.reason)}`);
      if (s.tallies.rcode.size) parts.push(`rcode: ${counted(s.tallies.rcode)}`);
      if (s.answers != null) parts.push(`answers: ${s.answers}`);
      if (s.tallies.status.size && !this.timings) parts.push(`status: ${statusText(Object.fromEntries(s.tallies.status))}`);
      const text = parts.join("  —  ");
      if (details.textContent !== text) details.textContent = text;
      details.hidden = !text;
    });
    this.timings?.render(stats);
  }

  /** Queue one output row: {index (source), type, text, dup, icmpError, meta}. */
  line(row) {
    this.pending.push(row);
  }

  clearLines() {
    this.lines.replaceChildren();
    this.pending = [];
    this.domLines = 0;
    this.totalLines = 0;
    this.lineCount.textContent = "";
  }

  renderLines() {
    if (!this.pending.length) return;
    const box = this.lines;
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
    let rows = this.pending;
    this.pending = [];
    this.totalLines += rows.filter((r) => !r.meta).length;
    if (rows.length > MAX_DOM_LINES) rows = rows.slice(-MAX_DOM_LINES);
    const fragment = document.createDocumentFragment();
    for (const line of rows) {
      const row = el("div", `line ${line.type}`);
      if (line.dup) row.classList.add("dup");
      if (line.icmpError) row.classList.add("icmp-error");
      if (this.multi) {
        const tag = el("span", "node-tag", this.nodes[line.index]);
        tag.style.setProperty("--swatch", seriesVar(line.index));
        row.append(tag);
      }
      if (line.type === "timeout") row.append(el("span", "lost-tag", "lost"));
      const text = el("span", "text");
      text.append(...textNodes(line.text));
      row.append(text);
      fragment.append(row);
    }
    box.append(fragment);
    this.domLines += rows.length;
    while (this.domLines > MAX_DOM_LINES) {
      box.firstElementChild?.remove();
      this.domLines -= 1;
    }
    if (stick) box.scrollTop = box.scrollHeight;
    this.lineCount.textContent = this.totalLines ? `· ${this.totalLines} line${this.totalLines === 1 ? "" : "s"}` : "";
  }

  /** figures: stats.js snapshots, one per source; addresses: each source's address ("" for none yet). */
  renderStats(figures, addresses) {
    figures.forEach((s, i) => {
      const { cells, address, loss } = this.statGroups[i];
      setStat(cells.sent, String(s.sent));
      setStat(cells.received, String(s.received));
      setStat(cells.loss_pct, formatLoss(s.loss_pct));
      loss.dataset.level = s.loss_pct == null ? "" : s.loss_pct === 0 ? "ok" : s.loss_pct < 5 ? "warn" : "bad";
      for (const k of RTT_KEYS) setStat(cells[k], formatRtt(s[k]));
      if (address) address.textContent = addresses[i] || "";
    });
  }

  /** status: run.js's panelStatus; address: the subtitle's address text; noData: nothing pinged yet. */
  renderStatus(status, address, noData) {
    if (status.active) {
      this.notice.hidden = true;
    } else {
      this.notice.textContent = status.notice;
      this.notice.hidden = !status.notice;
      this.notice.dataset.tone = status.tone;
      this.restartLabel.textContent = status.restartLabel;
    }
    this.el.dataset.state = status.state;
    // no statistics or chart until something was pinged (a refusal has neither)
    this.el.classList.toggle("no-data", noData);
    this.badge.textContent = status.badge;
    // the keyboard stays on the button that applies when Stop turns into Run again
    const hadFocus = document.activeElement === this.stopButton || document.activeElement === this.restartButton;
    this.stopButton.hidden = !status.active;
    this.restartButton.hidden = status.active;
    if (hadFocus) (status.active ? this.stopButton : this.restartButton).focus({ preventScroll: true });
    if (!this.multi) this.address.textContent = address;
  }

  /** The button that applies now (for the keyboard, after a neighbour is removed). */
  action() {
    return $(".panel-actions button:not([hidden])", this.el);
  }

  /** What the panel shows, as plain data. */
  snapshot() {
    const count = (selector) => this.lines.querySelectorAll(selector).length;
    return {
      state: this.el.dataset.state,
      badge: this.badge.textContent,
      notice: this.notice.hidden ? "" : this.notice.textContent,
      stats: this.statGroups.map(({ cells }) => Object.fromEntries(Object.entries(cells).map(([k, v]) => [k, v.textContent]))),
      details: this.statGroups.map(({ details }) => (details.hidden ? "" : details.textContent)),
      timings: this.timings ? this.timings.snapshot() : null,
      lossLevel: this.statGroups.map((g) => g.loss.dataset.level || ""),
      lines: {
        shown: count(".line"),
        total: this.totalLines,
        reply: count(".line.reply"),
        timeout: count(".line.timeout"),
        summary: count(".line.summary"),
        meta: count(".line.meta"),
      },
      text: this.lines.textContent,
      stopVisible: !this.stopButton.hidden,
      restartVisible: !this.restartButton.hidden,
      restartLabel: this.restartLabel.textContent,
      noData: this.el.classList.contains("no-data"),
      hopTable: this.hops ? this.hops.snapshot() : null,
    };
  }
}

function setStat(cell, text) {
  if (cell.textContent === text) return;
  cell.textContent = text;
  cell.parentElement.classList.toggle("none", text === "—");
}
