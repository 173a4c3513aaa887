// One panel: one target, one tool, one source per vantage node (or the one
// WebSocket), each with its run state (run.js), statistics (stats.js) or hop
// table (hops.js), events (for export), a series in the chart (chart.js, RTT
// series only); the DOM is panel-view.js's. What the panel shows follows the
// tool's display kind (tools.js), never its name.

import { Chart, NO_CHART } from "./chart.js";
import { clockTime, schedule, unschedule } from "./dom.js";
import { csvColumns, download, exportRows, fileStem, toCSV, toJSON } from "./export.js";
import { hopsSnapshot, hopsStep, initialHops } from "./hops.js";
import { PanelView } from "./panel-view.js";
import { STOPPED_HOW, capitalize, initial, isActive, outcome, panelStatus, step } from "./run.js";
import { RunStats } from "./stats.js";
import { RECENT } from "./summary.js";
import { HOP_TABLE, buildRequest, describeOptions, displayOf, isPathDisplay, toolOf } from "./tools.js";

let panelIds = 0;

export const panelKey = (target, options, nodes) => JSON.stringify([target, options, nodes]);


function countTypes(events) {
  const counts = {};
  for (const e of events) counts[e.type] = (counts[e.type] || 0) + 1;
  return counts;
}

const plural = (count, one, many) => (count === 1 ? one : many);

export class Panel {
  /**
   * openSource(node, request, sink): a run source (ws-source.js, wamp-source.js);
   * hooks: changed(panel, source, before), refusal(panel, text, field), remove(panel), about() -> {version, mode},
   * rendered() (after each frame's render, for the summary), tools() -> the page's tools (tools.js's toolSet).
   */
  constructor(target, options, nodes, { openSource, hooks }) {
    this.id = ++panelIds;
    this.target = target;
    this.options = options; // {tool (not the default), the tool's fields, family}
    this.tools = hooks.tools();
    this.tool = toolOf(this.tools, options.tool) ?? "";
    this.display = displayOf(this.tools, this.tool);
    this.path = isPathDisplay(this.display);
    this.nodes = nodes; // [] in WebSocket mode
    this.openSource = openSource;
    this.hooks = hooks;
    this.sources = (nodes.length ? nodes : [null]).map((node, index) => ({ node, index, run: initial(), token: 0, conn: null }));
    this.multi = this.sources.length > 1;
    const subtitle = describeOptions(this.tools, options, nodes, this.tool);
    this.view = new PanelView({ id: this.id, target, subtitle, nodes, tool: this.tool, display: this.display }, {
      stop: () => this.stop(),
      restart: () => this.start(),
      remove: () => hooks.remove(this),
      exportCSV: () => this.exportCSV(),
      exportJSON: () => this.exportJSON(),
    });
    this.el = this.view.el;
    this.chart = this.path ? NO_CHART : new Chart(this.view.chartParts, this.sources.map((s) => s.node ?? "RTT"), { changed: () => schedule(this) });
    this.reset();
  }

  get request() {
    return buildRequest(this.tools, this.target, this.tool, this.options);
  }

  get key() {
    return panelKey(this.target, this.options, this.nodes);
  }

  get active() {
    return this.sources.some((s) => isActive(s.run));
  }

  /** Every live source of this panel waits its turn in the start queue (paced-source.js). */
  get waiting() {
    const live = this.sources.filter((s) => isActive(s.run));
    return live.length > 0 && live.every((s) => s.conn?.waiting);
  }

  reset() {
    for (const source of this.sources) Object.assign(source, { stats: new RunStats(), hops: initialHops(this.display), events: [], recent: [] });
    this.view.clearLines();
    this.chart.reset();
    this.chart.setZoomed(false);
    this.statsDirty = this.stateDirty = true;
  }

  start() {
    this.hooks.refusal(this, null);
    for (const source of this.sources) this.abortSource(source);
    this.reset();
    const request = this.request;
    for (const source of this.sources) {
      const token = ++source.token; // a connection of an earlier run has no say any more
      source.run = step(source.run, { type: "begin" });
      source.conn = this.openSource(source.node, request, (action) => token === source.token && this.act(source, action));
    }
    this.changed();
  }

  stop() {
    for (const source of this.sources) {
      const before = source.run;
      source.run = step(before, { type: "stop" });
      if (source.run !== before) source.conn?.stop();
    }
    this.changed();
  }

  abortSource(source) {
    source.token += 1;
    source.conn?.abort();
    source.conn = null;
    source.run = step(source.run, { type: "abort" });
  }

  /** WAMP: the router connection is gone (suspend) or back (resume). */
  suspend(detail) {
    for (const s of this.sources) if (isActive(s.run)) s.conn?.suspend?.(detail);
  }

  resume() {
    for (const s of this.sources) if (isActive(s.run)) s.conn?.resume?.();
  }

  destroy() {
    this.hooks.refusal(this, null);
    for (const source of this.sources) this.abortSource(source);
    this.chart.destroy();
    this.el.remove();
    unschedule(this);
  }

  changed() {
    this.stateDirty = true;
    schedule(this);
  }

  /** What a source says: a run machine action, or a note for the output. */
  act(source, action) {
    const before = source.run;
    if (action.type === "event") this.took(source, action.event);
    source.run = step(before, action);
    const meta = (text, kind = "meta") => this.view.line({ index: source.index, type: kind, text, meta: true });
    switch (action.type) {
      case "event":
        this.eventLines(source, action.event, meta);
        break;
      case "close": {
        // refusals and ends are already in the output; say what only the close tells
        const { notice } = outcome(source.run);
        if (notice && !source.run.error && !source.run.end) meta(notice, source.run.phase === "stopped" ? "meta" : "meta error");
        source.conn = null;
        break;
      }
      case "suspend":
        meta(`Router connection lost${action.detail ? ` (${action.detail})` : ""}: reconnecting…`, "meta error");
        break;
      case "resume":
        meta("Reconnected: following the run again, nothing missed");
        break;
      case "retry": {
        const who = source.node != null ? `Node ${source.node}` : "The server";
        meta(`${who} is busy (${action.reason}): trying again in ${(action.delay / 1000).toFixed(1)} s`, "meta error");
        break;
      }
      case "joined": {
        const when = typeof action.since === "number" ? ` since ${clockTime(action.since).replace(/\.\d$/, "")}` : "";
        meta(`Joined the run going on ${source.node}${when}: the lines above are its backlog, live from here`);
        break;
      }
      case "skipped": {
        const n = action.count;
        meta(`${n} earlier event${plural(n, "", "s")} of this run ${plural(n, "is", "are")} no longer kept by node ${source.node}: figures count from here`);
        break;
      }
      default:
        break;
    }
    this.changed();
    if (source.run !== before) this.hooks.changed(this, source, before);
  }

  /** One server event into the figures, the chart and the export. */
  took(source, event) {
    source.events.push({ ...event, t_client: Date.now() / 1000 });
    if (this.path) {
      source.hops = hopsStep(source.hops, event);
      this.statsDirty = true;
      return;
    }
    const point = source.stats.add(event);
    if (point) {
      this.chart.add(source.index, event, point);
      source.recent.push(point.lost ? null : point.rtt); // the summary's sparkline
      if (source.recent.length > RECENT) source.recent.shift();
    }
    this.statsDirty = true;
  }

  eventLines(source, event, meta) {
    if (event.raw != null) {
      // a summary is two of ping's lines: one row each, each with its node tag
      for (const text of String(event.raw).split("\n")) {
        this.view.line({ index: source.index, type: event.type, text, dup: !!event.dup, icmpError: event.error != null });
      }
    } else if (event.type === "start") {
      const fam = event.family ? ` over IPv${event.family}` : "";
      const address = event.address && event.address !== event.target ? ` (${event.address})` : "";
      const what = this.display === HOP_TABLE ? "Tracing the route to" : `Running ${event.tool ?? this.tool} to`;
      meta(`${what} ${event.target}${address}${fam}`);
    } else if (event.type === "error") {
      meta(`${event.message || event.reason || "error"}${event.code ? ` (${event.code})` : ""}`, "meta error");
    } else if (event.type === "end") {
      const took = event.duration_s != null ? ` after ${event.duration_s.toFixed(1)} s` : "";
      const stopped = source.run.userStopped && STOPPED_HOW.has(event.how);
      const ok = event.how === "completed" || stopped;
      meta(`${stopped ? "Stopped" : capitalize(event.message || event.how)}${took}`, ok ? "meta" : "meta error");
    }
    if (event.type === "error") {
      // refusals are said next to the form too (and the field in question marked)
      const node = this.multi ? ` (node ${source.node})` : "";
      const text = `refused${node}: ${event.message || event.reason || "error"}${event.code ? ` (${event.code})` : ""}`;
      this.hooks.refusal(this, text, event.field);
    }
  }

  /** Once per animation frame (dom.js's schedule). */
  render() {
    this.view.renderLines();
    if (this.statsDirty && this.path) {
      this.statsDirty = false;
      this.view.renderHops(this.sources.map((s) => s.hops));
    } else if (this.statsDirty) {
      this.statsDirty = false;
      this.view.renderStats(
        this.sources.map((s) => s.stats.snapshot()),
        this.sources.map((s) => s.run.start?.address || ""),
      );
      this.view.renderDetails?.(this.sources.map((s) => s.stats));
    }
    this.chart.render();
    if (this.stateDirty) {
      this.stateDirty = false;
      const start = this.sources[0].run.start;
      const address = start ? [start.address !== this.target ? start.address : "", start.family ? `IPv${start.family}` : ""].filter(Boolean).join(" · ") : "";
      const noData = !this.sources.some((s) => s.run.start || s.stats.sent > 0 || s.hops.rows.length > 0);
      let status = panelStatus(this.sources.map((s) => s.run), this.nodes);
      if (status.active && this.waiting) {
        // not started yet: its place in the page's own queue (start-queue.js)
        const place = Math.min(...this.sources.map((s) => s.conn?.position || Infinity));
        status = { ...status, state: "queued", badge: `queued · #${place}` };
      }
      this.view.renderStatus(status, address, noData);
    }
    this.hooks.rendered?.();
  }

  exportCSV() {
    const rows = exportRows(this.sources, this.tool);
    const named = this.tool !== this.tools.default ? this.tool : "";
    download(`${fileStem(this.target, undefined, named)}.csv`, "text/csv;charset=utf-8", toCSV(rows, csvColumns(this.display)));
  }

  exportJSON() {
    const sources = this.sources.map((s) => ({
      node: s.node,
      state: s.run.phase,
      close: s.run.close,
      ...(this.path ? { hops: hopsSnapshot(s.hops) } : { stats: s.stats.snapshot() }),
      events: s.events,
    }));
    const text = toJSON({ ...this.hooks.about(), tool: this.tool, target: this.target, request: this.request, sources });
    download(`${fileStem(this.target)}.json`, "application/json", text);
  }

  /** What the summary shows of this panel (summary.js's summaryRows). */
  summary() {
    return {
      id: this.id,
      target: this.target,
      tool: this.tool,
      display: this.display,
      sources: this.sources.map((s) => ({
        node: s.node,
        phase: s.run.phase,
        waiting: !!s.conn?.waiting && isActive(s.run),
        figures: this.path ? null : s.stats.snapshot(),
        recent: s.recent,
      })),
    };
  }

  /** This panel as plain data (the browser tests' hook, tests/harness/test-hook.js). */
  snapshot() {
    return {
      id: this.id,
      target: this.target,
      tool: this.tool,
      display: this.display,
      options: { ...this.options },
      nodes: [...this.nodes],
      active: this.active,
      ended: this.sources.every((s) => s.run.end != null || s.run.close != null),
      waiting: this.waiting,
      ...this.view.snapshot(),
      chart: this.chart.snapshot(),
      sources: this.sources.map((s) => ({
        node: s.node,
        phase: s.run.phase,
        events: s.events.length,
        types: countTypes(s.events),
        figures: s.stats.snapshot(),
        close: s.run.close,
        address: s.run.start?.address ?? null,
      })),
      // traceroute, mtr: each source's hop rows (hops.js), and what the table shows (hopTable)
      hops: this.path ? this.sources.map((s) => ({ node: s.node, ...hopsSnapshot(s.hops) })) : null,
    };
  }
}
