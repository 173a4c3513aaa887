// pingu's page: a form, and one panel per run with live statistics, an RTT
// chart (uPlot) and ping's own output. Two modes, one page:
//   "ws"   served by `twistd pingu`: one WebSocket ("pingu.json") per run;
//   "wamp" served by a Crossbar router (or ?router=ws://…): see wamp.js.
// Text from the server is only ever put into the page with textContent.

import { RunStats, formatLoss, formatMs, formatRtt } from "./stats.js";
import * as wamp from "./wamp.js";

const MAX_DOM_LINES = 2000; // output lines kept on screen per panel (all are kept for export)
const WAMP_STOP_WAIT_MS = 6000; // how long a stopped WAMP run may take to send its end
const WAMP_CALL_MS = 10000; // a WAMP call that takes longer is taken as lost
const WAMP_RESUME_TRIES = 30; // after a reconnection, how often to look for a node not back yet
const WAMP_RESUME_DELAY_MS = 1000;
const PALETTE = ["--series-1", "--series-2", "--series-3", "--series-4", "--series-5", "--series-6"];

const HOW_TEXT = {
  completed: "done",
  "no-reply": "no reply",
  "ping-error": "ping error",
  signal: "killed",
  ceiling: "server limit",
  shutdown: "server stopped",
  "spawn-failed": "not started",
};

/** Ends that, after the user's Stop, simply mean "stopped" (a WAMP node whose
 * last viewer left ends ping with SIGTERM: no summary, how "signal"). */
const STOPPED_HOW = new Set(["completed", "signal", "no-reply"]);

const CLOSE_TEXT = {
  1000: "ping completed",
  1001: "the server is shutting down",
  1006: "the connection dropped",
  1011: "the server hit an internal error",
  4000: "ping got no reply",
  4001: "ping reported an error",
  4002: "ping was ended by a signal",
  4003: "a server limit ended the run",
  4400: "invalid request",
  4403: "target refused by the server's policy",
  4404: "the name does not resolve",
  4408: "no request in time",
  4409: "unexpected message",
  4413: "message too large",
  4415: "binary frame refused",
  4429: "too many runs — try again in a moment",
  4500: "ping could not be started",
};

/** The form's option fields, by request field name. */
const FIELDS = { count: "#count", interval: "#interval", size: "#size" };

const app = {
  mode: "ws",
  info: null,
  limits: {},
  wsUrl: null,
  routerUrl: null,
  realm: "pingu",
  wampReady: false,
  nodes: [],
  panels: [],
  refusals: new Map(),
  nodeChoice: null, // the vantage nodes the user chose (null: all)
  params: new URLSearchParams(location.search),
};

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;

/**
 * Ping's text as DOM nodes: text nodes, and control characters in caret
 * notation (ESC shows as ^[) in a dimmed span, so nothing is interpreted.
 */
function textNodes(text) {
  const out = [];
  let rest = String(text);
  while (rest) {
    const match = CONTROL.exec(rest);
    if (!match) {
      out.push(document.createTextNode(rest));
      break;
    }
    if (match.index) out.push(document.createTextNode(rest.slice(0, match.index)));
    const code = match[0].charCodeAt(0);
    const caret = el("span", "ctrl", code === 0x7f ? "^?" : `^${String.fromCharCode(code + 64)}`);
    caret.title = `control character U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
    out.push(caret);
    rest = rest.slice(match.index + 1);
  }
  return out;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// ---------------------------------------------------------------------------
// theme (for the canvas: CSS variables read once per scheme change)

let theme = readTheme();

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
  for (const panel of app.panels) panel.chart?.redraw(false, true);
});

// ---------------------------------------------------------------------------
// one animation frame applies everything that arrived since the last one

const dirty = new Set();
let frameRequested = false;

function schedule(panel) {
  dirty.add(panel);
  if (frameRequested) return;
  frameRequested = true;
  const flush = () => {
    frameRequested = false;
    const panels = [...dirty];
    dirty.clear();
    for (const p of panels) p.render();
  };
  // rAF pauses in background tabs; a timer keeps lines flowing there (cheaply, once a second)
  if (document.hidden) setTimeout(flush, 1000);
  else requestAnimationFrame(flush);
}

// ---------------------------------------------------------------------------
// transports: each gives a source events, then one close

function wsURL(path) {
  const url = new URL(path || "ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : url.protocol === "http:" ? "ws:" : url.protocol;
  return url.href;
}

/** One run over the WebSocket face: returns {stop(), abort()}. */
function openWebSocket(request, { onOpen, onEvent, onClose }) {
  let socket;
  try {
    socket = new WebSocket(app.wsUrl, "pingu.json");
  } catch (err) {
    queueMicrotask(() => onClose({ code: 0, reason: String(err.message || err), clean: false }));
    return { stop() {}, abort() {} };
  }
  let closed = false;
  socket.onopen = () => {
    socket.send(JSON.stringify(request));
    onOpen();
  };
  socket.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      event = { type: "line", raw: String(message.data) };
    }
    if (event && typeof event === "object") onEvent(event);
  };
  socket.onclose = (close) => {
    if (closed) return;
    closed = true;
    onClose({ code: close.code, reason: close.reason, clean: close.wasClean });
  };
  return {
    stop() {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ stop: true }));
      else if (socket.readyState === WebSocket.CONNECTING) socket.close();
    },
    abort() {
      closed = true;
      if (socket.readyState <= WebSocket.OPEN) socket.close(1000, "panel closed");
    },
  };
}

/**
 * One run through a WAMP node: returns {stop(), abort(), suspend(), resume()};
 * events in order of n, each once.
 *
 * start, subscribe to the run's topic, then ask for the backlog: the backlog
 * has everything published before the subscription, the subscription
 * everything after (pingu/wamp.py). When the router connection drops, the
 * app calls suspend(); when autobahn has joined again, resume() subscribes
 * to the same topic again and asks for the backlog again, which fills the gap.
 */
function openWampRun(node, request, { onOpen, onEvent, onClose, onSuspend, onResume, onJoined, onSkipped }) {
  let run = null;
  let topic = null;
  let subscription = null;
  let lastN = 0;
  let filling = false;
  let finished = false;
  let suspended = false;
  let stopAsked = false;
  let attempt = 0; // one more for every (re)start of following; stale answers are dropped
  let resumeTries = 0;
  let stopTimer = null;
  let retryTimer = null;
  const pending = new Map();

  const finish = (close) => {
    if (finished) return;
    finished = true;
    attempt += 1;
    clearTimeout(stopTimer);
    clearTimeout(retryTimer);
    subscription?.unsubscribe().catch(() => {});
    subscription = null;
    onClose(close);
  };
  const drain = () => {
    while (pending.has(lastN + 1)) {
      const event = pending.get(lastN + 1);
      pending.delete(lastN + 1);
      lastN += 1;
      if (!finished) onEvent(event);
      if (event.type === "end") finish({ code: event.code ?? 1000, reason: event.message || "", clean: true });
    }
    // a gap (an event the subscription missed): the backlog has it
    if (pending.size && !filling && !finished && !suspended) fill(attempt).catch(() => {});
  };
  /** Events from the topic, or (whole = true) a backlog: all the node still has. */
  const take = (events, whole = false) => {
    let first = Infinity;
    for (const event of Array.isArray(events) ? events : []) {
      if (!event || typeof event !== "object") continue;
      if (typeof event.n !== "number") onEvent(event);
      else if (event.n > lastN) pending.set(event.n, event);
      if (typeof event.n === "number") first = Math.min(first, event.n);
    }
    // the backlog is bounded (--max-backlog): what is older than its first event is gone
    if (whole && first !== Infinity && first > lastN + 1) {
      onSkipped(first - 1 - lastN);
      lastN = first - 1;
    }
    drain();
  };
  const fill = async (mine) => {
    filling = true;
    try {
      const events = await wamp.timed(wamp.backlog(node, run), WAMP_CALL_MS);
      if (mine === attempt) take(events, true);
    } finally {
      filling = false;
    }
  };
  const follow = async (mine) => {
    const s = await wamp.subscribe(topic, (event) => mine === attempt && take([event]));
    if (mine !== attempt || finished) {
      s.unsubscribe().catch(() => {});
      return;
    }
    subscription = s;
    await fill(mine);
  };
  const begin = async () => {
    const mine = ++attempt;
    try {
      if (run == null) {
        const result = await wamp.timed(wamp.start(node, request), WAMP_CALL_MS);
        if (mine !== attempt) return;
        run = result.run;
        topic = result.topic;
        onOpen();
        take(result.backlog, true);
        // someone else's run, already going: say so after its backlog
        const backlog = Array.isArray(result.backlog) ? result.backlog : [];
        if (backlog.some((e) => e && (e.type === "reply" || e.type === "timeout"))) onJoined(backlog[0]?.type === "start" ? backlog[0].t : null);
        if (finished) return;
        if (stopAsked) {
          wamp.stop(node, run).catch(() => {});
          finish({ code: 1000, reason: "stopped", clean: true });
          return;
        }
      }
      await follow(mine);
      if (mine === attempt && suspended && !finished) {
        suspended = false;
        resumeTries = 0;
        onResume();
      }
    } catch (err) {
      if (mine !== attempt || finished) return;
      const error = wamp.describeError(err);
      if (error.uri === wamp.NO_SUCH_RUN) {
        finish({ code: 1006, reason: `node ${node} no longer has it`, clean: false, away: true });
      } else if (suspended && resumeTries < WAMP_RESUME_TRIES) {
        // the node itself may still be on its way back to the router
        resumeTries += 1;
        retryTimer = setTimeout(() => wamp.currentGeneration() && begin(), WAMP_RESUME_DELAY_MS);
      } else if (run == null && !suspended) {
        // a refusal (or a node that is not on the router): say it as the WebSocket face does
        const known = error.uri === wamp.NO_SUCH_PROCEDURE ? `node ${node} is not on the router` : error.message;
        onEvent({ type: "error", raw: null, code: error.code, reason: error.reason, message: known, field: error.field });
        finish({ code: error.code ?? 4400, reason: known, clean: true });
      } else {
        finish({ code: 1006, reason: `cannot follow the run on node ${node}: ${error.message}`, clean: false });
      }
    }
  };

  begin();

  return {
    stop() {
      if (finished) return;
      stopAsked = true;
      if (run == null) return; // begin() stops it as soon as it is known
      if (suspended) {
        // our session is gone: the node has already dropped us as a viewer
        finish({ code: 1000, reason: "stopped", clean: true });
        return;
      }
      wamp
        .timed(wamp.stop(node, run), WAMP_CALL_MS)
        .then((answer) => {
          if (answer && answer.ending === false) {
            const others = answer.viewers === 1 ? "another viewer keeps" : `${answer.viewers} other viewers keep`;
            finish({ code: 1000, reason: `stopped here; ${others} the run going on ${node}`, clean: true, detached: true });
          }
        })
        .catch(() => {});
      // when the run ends, its summary and end come on the topic; if not, give up waiting
      stopTimer = setTimeout(
        () => finish({ code: 1000, reason: "stopped here (the node did not confirm)", clean: true, detached: true }),
        WAMP_STOP_WAIT_MS,
      );
    },
    abort() {
      if (run != null && !finished && !suspended) wamp.stop(node, run).catch(() => {});
      finished = true;
      attempt += 1;
      clearTimeout(stopTimer);
      clearTimeout(retryTimer);
      subscription?.unsubscribe().catch(() => {});
    },
    suspend(detail) {
      if (finished || suspended) return;
      suspended = true;
      attempt += 1; // whatever was in flight belongs to the lost session
      filling = false;
      subscription = null;
      clearTimeout(retryTimer);
      if (stopAsked) {
        finish({ code: 1000, reason: "stopped", clean: true });
        return;
      }
      onSuspend(detail);
    },
    resume() {
      if (finished || !suspended) return;
      clearTimeout(retryTimer);
      resumeTries = 0;
      begin();
    },
  };
}

// ---------------------------------------------------------------------------
// a source: one run as seen from one place (the server, or one WAMP node)

class Source {
  constructor(panel, node, index) {
    this.panel = panel;
    this.node = node;
    this.index = index;
    this.reset();
  }

  reset() {
    this.stats = new RunStats();
    this.events = [];
    this.state = "idle";
    this.startEvent = null;
    this.endEvent = null;
    this.errorEvent = null;
    this.close = null;
    this.userStopped = false;
    this.endedWhileAway = false;
    this.conn = null;
  }

  start(request) {
    this.reset();
    this.state = "connecting";
    // a connection of an earlier run (restarted, aborted) has no say any more
    const generation = (this.generation = (this.generation || 0) + 1);
    const current = () => generation === this.generation;
    const handlers = {
      onOpen: () => {
        if (!current()) return;
        if (this.node == null) setConn("ok", `WebSocket · ${location.host || "local"}`);
        if (this.state === "connecting") this.state = "waiting";
        this.panel.changed();
      },
      onEvent: (event) => current() && this.handle(event),
      onClose: (close) => current() && this.closed(close),
      // WAMP only: the router connection dropped, and came back
      onSuspend: (detail) => {
        if (!current()) return;
        this.resumeState = this.state;
        this.state = "reconnecting";
        this.panel.addMeta(this, `Router connection lost${detail ? ` (${detail})` : ""}: reconnecting…`, "meta error");
        this.panel.changed();
      },
      onJoined: (since) => {
        if (!current()) return;
        const when = typeof since === "number" ? ` since ${clockTime(since).replace(/\.\d$/, "")}` : "";
        this.panel.addMeta(this, `Joined the run going on ${this.node}${when}: the lines above are its backlog, live from here`, "meta");
      },
      onSkipped: (count) => {
        if (!current()) return;
        this.panel.addMeta(this, `${count} earlier event${count === 1 ? "" : "s"} of this run ${count === 1 ? "is" : "are"} no longer kept by node ${this.node}: figures count from here`, "meta");
      },
      onResume: () => {
        if (!current()) return;
        this.state = this.resumeState === "stopping" ? "stopping" : this.startEvent || this.stats.sent ? "running" : "waiting";
        this.panel.addMeta(this, "Reconnected: following the run again, nothing missed", "meta");
        this.panel.changed();
      },
    };
    this.conn = this.node == null ? openWebSocket(request, handlers) : openWampRun(this.node, request, handlers);
    this.panel.changed();
  }

  get active() {
    return ["connecting", "waiting", "running", "stopping", "reconnecting"].includes(this.state);
  }

  stop() {
    if (!this.active || this.state === "stopping") return;
    this.userStopped = true;
    this.state = "stopping";
    this.conn?.stop();
    this.panel.changed();
  }

  abort() {
    this.generation = (this.generation || 0) + 1;
    this.conn?.abort();
    this.conn = null;
    this.state = "idle";
  }

  handle(event) {
    this.events.push({ ...event, t_client: Date.now() / 1000 });
    switch (event.type) {
      case "start":
        this.startEvent = event;
        if (this.state === "connecting" || this.state === "waiting") this.state = "running";
        break;
      case "end":
        this.endEvent = event;
        // it came with the backlog that fills the gap of a lost connection
        if (this.state === "reconnecting") this.endedWhileAway = true;
        break;
      case "error":
        this.errorEvent = event;
        break;
      case "reply":
      case "timeout":
      case "line":
        // a run joined late may have no start event left in its backlog
        if (this.state === "connecting" || this.state === "waiting") this.state = "running";
        break;
      default:
        break;
    }
    const point = this.stats.add(event);
    this.panel.took(this, event, point);
  }

  closed(close) {
    this.close = close;
    this.conn = null;
    const code = close.code;
    if (this.errorEvent) this.state = "refused";
    else if (close.away || (this.endedWhileAway && this.endEvent?.how !== "completed")) this.state = "away";
    else if (this.endEvent && this.userStopped && STOPPED_HOW.has(this.endEvent.how)) this.state = "stopped";
    else if (this.endEvent) this.state = this.endEvent.how === "completed" ? "done" : "failed";
    else if (code === 1000 && (this.userStopped || close.detached)) this.state = "stopped";
    else if (code === 1000) this.state = "done";
    else if (code >= 4400 && code < 4600) this.state = "refused";
    else if (code >= 4000 && code < 4100) this.state = "failed";
    else this.state = "lost";
    if (this.state === "lost" && this.node == null) setConn("error", `WebSocket · connection lost (${close.code})`);
    this.panel.ended(this);
  }

  /** The one-line outcome of a finished source, for the notice and the badge. */
  outcome() {
    const close = this.close || {};
    const codeText = close.code ? ` (code ${close.code})` : "";
    switch (this.state) {
      case "refused": {
        const err = this.errorEvent;
        const message = err?.message || close.reason || CLOSE_TEXT[close.code] || "the server refused the request";
        return { badge: "refused", notice: `Refused: ${message}${err?.code || close.code ? ` (${err?.code || close.code})` : ""}`, tone: "error" };
      }
      case "failed": {
        const end = this.endEvent;
        const message = end?.message || close.reason || CLOSE_TEXT[close.code] || "ping failed";
        const badge = HOW_TEXT[end?.how] || "failed";
        const tone = end?.how === "no-reply" ? "warn" : "error";
        return { badge, notice: `${capitalize(message)}${end ? ` (exit ${end.exit_code ?? "—"}, code ${end.code})` : codeText}.`, tone };
      }
      case "lost": {
        const why = close.reason || CLOSE_TEXT[close.code] || "the connection closed unexpectedly";
        const never = !this.events.length && close.code === 1006;
        return {
          badge: "disconnected",
          notice: never
            ? `Could not reach the server${codeText}. Check that pingu is running, then reconnect.`
            : `Connection lost before ping finished: ${why}${codeText}. Reconnect to start the run again.`,
          tone: "error",
          reconnect: true,
        };
      }
      case "away": {
        const end = this.endEvent;
        const how = end ? ` (${end.message || end.how})` : close.reason ? ` (${close.reason})` : "";
        return {
          badge: "ended while away",
          notice: `The run ended while this page was disconnected from the router${how}.`,
          tone: "warn",
        };
      }
      case "stopped":
        return { badge: "stopped", notice: close.detached ? capitalize(close.reason) + "." : "", tone: "info" };
      case "done":
        return { badge: "done", notice: "", tone: "ok" };
      default:
        return { badge: this.state, notice: "", tone: "info" };
    }
  }
}

function capitalize(text) {
  text = String(text || "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------
// a panel: one target, one or more sources, stats + chart + lines

let panelIds = 0;

function panelKey(target, options, nodes) {
  return JSON.stringify([target, options, nodes]);
}

class Panel {
  constructor(target, options, nodes) {
    this.id = ++panelIds;
    this.target = target;
    this.options = options; // {count, interval, size, family}
    this.nodes = nodes; // [] in WebSocket mode
    this.sources = nodes.length ? nodes.map((n, i) => new Source(this, n, i)) : [new Source(this, null, 0)];
    this.multi = this.sources.length > 1;
    this.pendingLines = [];
    this.domLines = 0;
    this.totalLines = 0;
    this.statsDirty = true;
    this.chartDirty = false;
    this.stateDirty = true;
    this.build();
  }

  get request() {
    const request = { target: this.target };
    for (const key of ["count", "interval", "size", "family"]) {
      if (this.options[key] != null) request[key] = this.options[key];
    }
    return request;
  }

  get key() {
    return panelKey(this.target, this.options, this.nodes);
  }

  get active() {
    return this.sources.some((s) => s.active);
  }

  build() {
    const root = $("#panel-template").content.firstElementChild.cloneNode(true);
    this.el = root;
    root.id = `run-${this.id}`;
    root.setAttribute("aria-labelledby", `run-${this.id}-title`);
    const title = $(".target-name", root);
    title.id = `run-${this.id}-title`;
    title.textContent = this.target;
    title.title = this.target;
    $(".options-text", root).textContent = describeOptions(this.options, this.nodes);
    this.badge = $(".state-badge", root);
    this.notice = $(".notice", root);
    this.linesEl = $(".lines", root);
    this.lineCountEl = $(".line-count", root);
    this.addressEl = $(".address", root);
    this.stopButton = $(".stop", root);
    this.restartButton = $(".restart", root);
    this.restartLabel = $(".restart-label", root);
    this.linesEl.setAttribute("aria-label", `ping output for ${this.target}`);

    this.stopButton.addEventListener("click", () => this.stop());
    this.restartButton.addEventListener("click", () => {
      this.start();
      this.stopButton.focus();
    });
    $(".remove", root).addEventListener("click", () => removePanel(this));
    $(".export-csv", root).addEventListener("click", () => this.exportCSV());
    $(".export-json", root).addEventListener("click", () => this.exportJSON());
    for (const b of root.querySelectorAll("button[title]")) b.setAttribute("aria-label", `${b.title} (${this.target})`);

    // statistics: one group per source
    const stats = $(".stats", root);
    this.statEls = this.sources.map((source) => {
      const group = $("#stats-template").content.firstElementChild.cloneNode(true);
      if (this.multi) {
        const heading = $(".stat-node", group);
        heading.hidden = false;
        const swatch = el("span", "swatch");
        swatch.style.setProperty("--swatch", `var(${PALETTE[source.index % PALETTE.length]})`);
        heading.append(swatch, el("span", "", source.node), " ", el("span", "stat-node-address muted"));
      }
      stats.append(group);
      const cells = {};
      for (const dd of group.querySelectorAll("dd[data-k]")) {
        // the number and its unit, apart, so that the unit can stay small
        const value = el("span", "v", "—");
        dd.replaceChildren(value);
        if (dd.dataset.unit) dd.append(el("span", "u", dd.dataset.unit));
        dd.classList.add("none");
        cells[dd.dataset.k] = value;
      }
      return { group, cells, address: $(".stat-node-address", group) };
    });

    this.chartWrap = $(".chart-wrap", root);
    this.chartEl = $(".chart", root);
    this.legendEl = $(".chart-legend", root);
    this.chartEl.setAttribute("aria-label", `Round-trip times for ${this.target}`);
    this.resetChartData();
    this.makeChart();
  }

  // -- lifecycle -------------------------------------------------------------

  start() {
    setRefusal(this, null);
    for (const source of this.sources) source.abort();
    this.linesEl.replaceChildren();
    this.pendingLines = [];
    this.domLines = 0;
    this.totalLines = 0;
    this.resetChartData();
    this.setZoomed(false);
    this.chartDirty = true;
    this.statsDirty = true;
    this.el.classList.remove("has-loss");
    for (const source of this.sources) source.start(this.request);
    this.changed();
  }

  stop() {
    for (const source of this.sources) source.stop();
  }

  destroy() {
    setRefusal(this, null);
    for (const source of this.sources) source.abort();
    this.resizeObserver?.disconnect();
    this.chart?.destroy();
    this.el.remove();
    dirty.delete(this);
  }

  changed() {
    this.stateDirty = true;
    schedule(this);
    updateRunsBar();
  }

  ended(source) {
    // refusals and ends are already in the output; say what only the close tells
    const { notice } = source.outcome();
    if (notice && !source.errorEvent && !source.endEvent) {
      this.addMeta(source, notice, source.state === "stopped" ? "meta" : "meta error");
    }
    this.changed();
  }

  // -- events ----------------------------------------------------------------

  took(source, event, point) {
    if (point) this.addPoint(source, event, point);
    if (event.raw != null) {
      // a summary is two of ping's lines: one row each, each with its node tag
      for (const text of String(event.raw).split("\n")) this.pendingLines.push({ source, type: event.type, text, event });
    } else if (event.type === "start") {
      const fam = event.family ? `IPv${event.family}` : "";
      const address = event.address && event.address !== event.target ? `${event.address}` : "";
      this.addMeta(source, `Pinging ${event.target}${address ? ` (${address})` : ""}${fam ? ` over ${fam}` : ""}`, "meta");
      if (source.state === "waiting") source.state = "running";
      this.stateDirty = true;
    } else if (event.type === "error") {
      this.addMeta(source, `${event.message || event.reason || "error"}${event.code ? ` (${event.code})` : ""}`, "meta error");
    } else if (event.type === "end") {
      const took = event.duration_s != null ? ` after ${event.duration_s.toFixed(1)} s` : "";
      const stopped = source.userStopped && STOPPED_HOW.has(event.how);
      const what = stopped ? "Stopped" : capitalize(event.message || event.how);
      this.addMeta(source, `${what}${took}`, event.how === "completed" || stopped ? "meta" : "meta error");
    }
    if (event.type === "error") {
      // refusals are said next to the form too (and the field in question marked)
      const node = this.multi ? ` (node ${source.node})` : "";
      setRefusal(this, `refused${node}: ${event.message || event.reason || "error"}${event.code ? ` (${event.code})` : ""}`, event.field);
    }
    this.statsDirty = true;
    schedule(this);
  }

  addMeta(source, text, kind) {
    this.pendingLines.push({ source, type: kind, text, meta: true });
    schedule(this);
  }

  // -- chart -----------------------------------------------------------------

  resetChartData() {
    this.xs = [];
    this.ys = this.sources.map(() => []);
    this.losses = []; // [x, source index]
    this.lastX = -Infinity;
  }

  addPoint(source, event, point) {
    let x = typeof event.t === "number" ? event.t : Date.now() / 1000;
    if (x < this.lastX) x = this.lastX; // uPlot wants x ascending; nodes' clocks differ a little
    this.lastX = x;
    this.xs.push(x);
    this.ys.forEach((ys, i) => {
      // null breaks this source's line at a loss; undefined lets other sources' lines run on
      ys.push(i === source.index ? (point.lost ? null : point.rtt) : undefined);
    });
    if (point.lost) {
      this.losses.push([x, source.index]);
      this.el.classList.add("has-loss");
    }
    this.chartDirty = true;
  }

  makeChart() {
    if (!window.uPlot) {
      this.chartEl.textContent = "Chart unavailable: node_modules/uplot is missing (run npm ci in web/).";
      this.chartEl.classList.add("chart-missing");
      return;
    }
    const panel = this;
    const width = Math.max(240, this.chartWrap.clientWidth || 600);
    const axisFont = `12px ${cssVar("--font-mono") || "ui-monospace, monospace"}`;
    const series = [
      { label: "Time", value: (u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleTimeString()) },
      ...this.sources.map((source, i) => ({
        label: source.node ?? "RTT",
        stroke: () => theme.series[i % theme.series.length],
        width: 1.5,
        spanGaps: false,
        points: { size: 5, width: 1, fill: () => theme.series[i % theme.series.length] },
        value: (u, v) => (v == null ? "—" : formatMs(v)),
      })),
    ];
    this.chart = new window.uPlot(
      {
        width,
        height: chartHeight(),
        series,
        scales: {
          x: { time: true },
          y: { range: (u, min, max) => [0, niceCeil(max)] },
        },
        axes: [
          {
            stroke: () => theme.text,
            font: axisFont,
            space: 110,
            incrs: TIME_INCRS,
            values: (u, splits) => splits.map(clockTime),
            grid: { stroke: () => theme.grid, width: 1 },
            ticks: { stroke: () => theme.grid, width: 1 },
          },
          {
            stroke: () => theme.text,
            font: axisFont,
            size: axisSize,
            values: (u, values) => values.map((v) => `${+v.toPrecision(3)} ms`),
            grid: { stroke: () => theme.grid, width: 1 },
            ticks: { stroke: () => theme.grid, width: 1 },
          },
        ],
        cursor: { drag: { x: true, y: false }, points: { size: 7 } },
        // the legend is a read-out over the plot while the pointer is on it
        legend: { live: true, mount: (u, legend) => panel.chartWrap.append(legend) },
        hooks: {
          draw: [(u) => drawLosses(u, panel.losses)],
          // a drag zooms in on a stretch of time: live data must not undo that
          setSelect: [(u) => u.select.width > 0 && panel.setZoomed(true)],
        },
      },
      [this.xs, ...this.ys],
      this.chartEl,
    );
    // uPlot's own double-click shows everything again: follow live from there
    this.chart.over.addEventListener("dblclick", () => this.setZoomed(false));
    this.zoomHint = el("span", "zoom-hint", "zoomed in · double-click the chart to follow live");
    this.zoomHint.hidden = true;
    this.legendEl.append(this.zoomHint);
    const lossKey = el("span", "loss-key");
    lossKey.append(el("span", "loss-swatch"), el("span", "", "lost"));
    this.lossKey = lossKey;
    this.legendEl.append(lossKey);
    this.resizeObserver = new ResizeObserver(() => {
      const w = Math.floor(this.chartWrap.clientWidth);
      if (w > 0 && (w !== this.chart.width || chartHeight() !== this.chart.height)) {
        this.chart.setSize({ width: w, height: chartHeight() });
      }
    });
    this.resizeObserver.observe(this.chartWrap);
  }

  setZoomed(zoomed) {
    this.zoomed = zoomed;
    if (this.zoomHint) this.zoomHint.hidden = !zoomed;
    if (!zoomed) {
      this.chartDirty = true;
      schedule(this);
    }
  }

  // -- rendering, once per animation frame -----------------------------------

  render() {
    if (this.pendingLines.length) this.renderLines();
    if (this.statsDirty) this.renderStats();
    if (this.chartDirty && this.chart) {
      this.chartDirty = false;
      this.chart.setData([this.xs, ...this.ys], !this.zoomed);
    }
    if (this.stateDirty) this.renderState();
  }

  renderLines() {
    const box = this.linesEl;
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
    let lines = this.pendingLines;
    this.pendingLines = [];
    this.totalLines += lines.filter((l) => !l.meta).length;
    if (lines.length > MAX_DOM_LINES) lines = lines.slice(-MAX_DOM_LINES);
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      const row = el("div", `line ${line.type}`);
      if (line.event?.dup) row.classList.add("dup");
      if (line.event?.error != null) row.classList.add("icmp-error");
      if (this.multi) {
        const tag = el("span", "node-tag", line.source.node);
        tag.style.setProperty("--swatch", `var(${PALETTE[line.source.index % PALETTE.length]})`);
        row.append(tag);
      }
      if (line.type === "timeout") row.append(el("span", "lost-tag", "lost"));
      const text = el("span", "text");
      text.append(...textNodes(line.text));
      row.append(text);
      fragment.append(row);
    }
    box.append(fragment);
    this.domLines += lines.length;
    while (this.domLines > MAX_DOM_LINES) {
      box.firstElementChild?.remove();
      this.domLines -= 1;
    }
    if (stick) box.scrollTop = box.scrollHeight;
    this.lineCountEl.textContent = this.totalLines ? `· ${this.totalLines} line${this.totalLines === 1 ? "" : "s"}` : "";
  }

  renderStats() {
    this.statsDirty = false;
    this.sources.forEach((source, i) => {
      const s = source.stats.snapshot();
      const cells = this.statEls[i].cells;
      setStat(cells.sent, String(s.sent));
      setStat(cells.received, String(s.received));
      setStat(cells.loss_pct, formatLoss(s.loss_pct));
      cells.loss_pct.closest(".stat").dataset.level =
        s.loss_pct == null ? "" : s.loss_pct === 0 ? "ok" : s.loss_pct < 5 ? "warn" : "bad";
      for (const k of ["last_ms", "min_ms", "avg_ms", "max_ms", "p95_ms", "mdev_ms", "mean_delta_ms"]) {
        setStat(cells[k], formatRtt(s[k]));
      }
      if (this.multi && this.statEls[i].address) {
        this.statEls[i].address.textContent = source.startEvent?.address ? source.startEvent.address : "";
      }
    });
    if (this.lossKey) this.lossKey.hidden = !this.losses.length;
  }

  renderState() {
    this.stateDirty = false;
    const active = this.active;
    const states = this.sources.map((s) => s.state);
    const first = this.sources[0];
    let badge;
    let panelState;
    if (active) {
      panelState = states.includes("reconnecting")
        ? "reconnecting"
        : states.includes("stopping")
          ? "stopping"
          : states.includes("running")
            ? "running"
            : "connecting";
      badge = { running: "live", stopping: "stopping…", reconnecting: "reconnecting…" }[panelState] || "connecting…";
    } else {
      const outcomes = this.sources.map((s) => s.outcome());
      const worst = outcomes.find((o) => o.reconnect) || outcomes.find((o) => o.tone === "error") || outcomes.find((o) => o.tone === "warn") || outcomes[0];
      badge = worst.badge;
      panelState = worst.reconnect ? "lost" : worst.tone;
      const notices = this.sources
        .map((s, i) => ({ text: outcomes[i].notice, node: s.node }))
        .filter((n) => n.text)
        .map((n) => (this.multi ? `${n.node}: ${n.text}` : n.text));
      this.notice.textContent = notices.join("\n");
      this.notice.hidden = !notices.length;
      this.notice.dataset.tone = worst.tone;
      this.restartLabel.textContent = worst.reconnect ? "Reconnect" : "Run again";
    }
    if (active) this.notice.hidden = true;
    this.el.dataset.state = panelState;
    // no statistics or chart until something was pinged (a refusal has neither)
    this.el.classList.toggle("no-data", !this.sources.some((s) => s.startEvent || s.stats.sent > 0));
    this.badge.textContent = badge;
    // the keyboard stays on the button that applies when Stop turns into Run again
    const hadFocus = document.activeElement === this.stopButton || document.activeElement === this.restartButton;
    this.stopButton.hidden = !active;
    this.restartButton.hidden = active;
    if (hadFocus) (active ? this.stopButton : this.restartButton).focus({ preventScroll: true });
    const start = first.startEvent;
    if (!this.multi) {
      const address = start && start.address !== this.target ? start.address : "";
      this.addressEl.textContent = start ? [address, start.family ? `IPv${start.family}` : ""].filter(Boolean).join(" · ") : "";
    }
    updateRunsBar();
  }

  // -- export ----------------------------------------------------------------

  exportRows() {
    const rows = [];
    for (const source of this.sources) {
      for (const e of source.events) rows.push({ node: source.node ?? "", ...e });
    }
    return rows;
  }

  exportCSV() {
    const columns = ["node", "n", "type", "time", "t", "seq", "ttl", "rtt_ms", "bytes", "from", "dup", "error", "raw"];
    const lines = [columns.join(",")];
    for (const row of this.exportRows()) {
      const values = columns.map((c) => {
        if (c === "time") return typeof row.t === "number" ? new Date(row.t * 1000).toISOString() : "";
        if (c === "error" && row.type === "error") return row.message;
        return row[c];
      });
      lines.push(values.map(csvCell).join(","));
    }
    download(`${this.fileStem()}.csv`, "text/csv;charset=utf-8", lines.join("\r\n") + "\r\n");
  }

  exportJSON() {
    const body = {
      pingu: app.info?.version ?? null,
      mode: app.mode,
      exported: new Date().toISOString(),
      target: this.target,
      request: this.request,
      sources: this.sources.map((s) => ({
        node: s.node,
        state: s.state,
        close: s.close,
        stats: s.stats.snapshot(),
        events: s.events,
      })),
    };
    download(`${this.fileStem()}.json`, "application/json", JSON.stringify(body, null, 1) + "\n");
  }

  fileStem() {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
    return `pingu-${this.target.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60)}-${stamp}`;
  }
}

function setStat(cell, text) {
  if (cell.textContent === text) return;
  cell.textContent = text;
  cell.parentElement.classList.toggle("none", text === "—");
}

function chartHeight() {
  return matchMedia("(max-width: 600px)").matches ? 180 : 230;
}

/** Whole seconds and up: a ping chart never needs tick marks between seconds. */
const TIME_INCRS = [0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** "07:01:37", or "07:01:37.4" for a tick between seconds (short runs). */
function clockTime(seconds) {
  const d = new Date(Math.round(seconds * 10) * 100);
  const hms = [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  const tenths = Math.round(seconds * 10) % 10;
  return tenths ? `${hms}.${tenths}` : hms;
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

function niceCeil(max) {
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
    // a small downward triangle on the top edge
    const s = 5 * px;
    ctx.beginPath();
    ctx.moveTo(cx - s, top);
    ctx.lineTo(cx + s, top);
    ctx.lineTo(cx, top + s * 1.4);
    ctx.closePath();
    ctx.fill();
  }
  ctx.restore();
}

function csvCell(value) {
  if (value == null) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  // no spreadsheet formulas from ping's output
  if (/^[=+@\t\r]/.test(text) || /^-[^-\d]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function describeOptions(options, nodes) {
  const parts = [];
  parts.push(options.count ? `${options.count}×` : "until stopped");
  parts.push(`every ${options.interval ?? 1} s`);
  if (options.size != null) parts.push(`${options.size} B`);
  if (options.family) parts.push(`IPv${options.family} only`);
  if (nodes.length) parts.push(`from ${nodes.join(", ")}`);
  return parts.join(" · ");
}

// ---------------------------------------------------------------------------
// panels

function addPanel(target, options, nodes) {
  const panel = new Panel(target, options, nodes);
  app.panels.push(panel);
  $("#panels").append(panel.el);
  // uPlot measured a detached element: fit it now that it is laid out
  if (panel.chart) {
    const w = Math.floor(panel.chartWrap.clientWidth);
    if (w > 0) panel.chart.setSize({ width: w, height: chartHeight() });
  }
  panel.start();
  updateRunsBar();
  return panel;
}

function removePanel(panel) {
  const index = app.panels.indexOf(panel);
  panel.destroy();
  if (index >= 0) app.panels.splice(index, 1);
  updateRunsBar();
  saveURL();
  // keep the keyboard somewhere sensible
  const next = app.panels[index] || app.panels[index - 1];
  (next ? $(".panel-actions button:not([hidden])", next.el) : $("#target")).focus();
}

function updateRunsBar() {
  const count = app.panels.length;
  const running = app.panels.filter((p) => p.active).length;
  $("#runs-bar").hidden = count === 0;
  $("#empty").hidden = count > 0;
  $("#runs-title").textContent = count
    ? `${count} run${count === 1 ? "" : "s"}${running ? ` · ${running} live` : ""}`
    : "Runs";
  $("#stop-all").hidden = running === 0;
  $("#clear-done").hidden = count - running === 0;
  document.body.classList.toggle("has-runs", count > 0);
  updateFormButton();
}

// ---------------------------------------------------------------------------
// the form

function formError(message, field, focus = true) {
  const box = $("#form-error");
  for (const input of document.querySelectorAll("#form [aria-invalid]:not([data-refused])")) input.removeAttribute("aria-invalid");
  box.hidden = !message;
  box.textContent = message || "";
  if (field) {
    field.setAttribute("aria-invalid", "true");
    if (focus) field.focus();
  }
}

function parseTargets(text) {
  return [...new Set(text.split(/[\s,;]+/).filter(Boolean))];
}

/**
 * The form as {targets, options, nodes}, or {error, field} for what is wrong
 * with it. Nothing is shown: readForm() shows it.
 */
function parseForm() {
  const limits = app.limits;
  const targetInput = $("#target");
  const targets = parseTargets(targetInput.value);
  if (!targets.length) return { error: "Enter a host name or an IP address to ping.", field: targetInput };
  if (targets.some((t) => t.length > 253)) return { error: "A host name is at most 253 characters.", field: targetInput };
  const options = {};
  const rules = {
    count: { int: true, min: 1, max: limits.max_count, what: "Count" },
    interval: { int: false, min: limits.min_interval, max: limits.max_interval, what: "Interval" },
    size: { int: true, min: 0, max: limits.max_size, what: "Size" },
  };
  for (const [key, selector] of Object.entries(FIELDS)) {
    const input = $(selector);
    const raw = input.value.trim();
    const rule = rules[key];
    if (raw === "") {
      if (input.validity.badInput) return { error: `${rule.what} must be a number.`, field: input };
      continue;
    }
    const value = Number(raw);
    if (!Number.isFinite(value) || (rule.int && !Number.isInteger(value))) {
      return { error: `${rule.what} must be ${rule.int ? "a whole number" : "a number"}.`, field: input };
    }
    if ((rule.min != null && value < rule.min) || (rule.max != null && value > rule.max)) {
      const range = rule.max != null ? `between ${rule.min} and ${rule.max}` : `at least ${rule.min}`;
      const unit = key === "interval" ? " seconds" : key === "size" ? " bytes" : "";
      return { error: `${rule.what} must be ${range}${unit}.`, field: input };
    }
    options[key] = value;
  }
  const family = $("#form input[name=f]:checked")?.value;
  if (family) options.family = Number(family);
  let nodes = [];
  if (app.mode === "wamp") {
    nodes = [...document.querySelectorAll("#node-list input:checked")].map((i) => i.value);
    if (!nodes.length) {
      const error = app.nodes.length ? "Choose at least one vantage node." : "No pingu node is connected to the router yet.";
      return { error, field: $("#node-list input") || targetInput };
    }
  }
  return { targets, options, nodes };
}

/** The form as {targets, options, nodes}, or null after showing what is wrong. */
function readForm() {
  const form = parseForm();
  if (form.error) {
    formError(form.error, form.field);
    return null;
  }
  formError("");
  return form;
}

/** The panels the form as it stands would start, when every one of them is live. */
function formLivePanels() {
  const form = parseForm();
  if (form.error) return null;
  const panels = form.targets.map((t) => app.panels.find((p) => p.key === panelKey(t, form.options, form.nodes) && p.active));
  return panels.every(Boolean) ? panels : null;
}

/** Start, or Stop when what the form says is running already: only the button that applies. */
function updateFormButton() {
  const live = formLivePanels() != null;
  const start = $("#start");
  const stop = $("#form-stop");
  if (start.hidden === live && stop.hidden === !live) return;
  const hadFocus = document.activeElement === start || document.activeElement === stop;
  start.hidden = live;
  stop.hidden = !live;
  if (hadFocus) (live ? stop : start).focus({ preventScroll: true });
}

function submit(event) {
  event?.preventDefault();
  const live = formLivePanels();
  if (live) {
    // Enter on a form whose runs are all live stops them, as the visible button says
    for (const panel of live) panel.stop();
    return;
  }
  if (app.mode === "wamp" && !app.wampReady) {
    formError("Not connected to the WAMP router yet: it is retrying.");
    return;
  }
  const form = readForm();
  if (!form) return;
  app.refusals.clear();
  renderRefusals();
  for (const target of form.targets) {
    const key = panelKey(target, form.options, form.nodes);
    const same = app.panels.find((p) => p.key === key);
    if (same?.active) continue; // already live: nothing to start
    if (same) {
      same.start();
      // move it to the end, where new runs appear
      $("#panels").append(same.el);
      app.panels.splice(app.panels.indexOf(same), 1);
      app.panels.push(same);
    } else {
      addPanel(target, form.options, form.nodes);
    }
  }
  saveURL();
  updateFormButton();
  const input = $("#target");
  input.select();
  const last = app.panels[app.panels.length - 1];
  if (last && last.el.getBoundingClientRect().top > innerHeight) last.el.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

/** What the server refused, next to the form: {panel -> {text, field}}. */
function setRefusal(panel, text, field) {
  if (text) app.refusals.set(panel, { text, field });
  else if (!app.refusals.delete(panel)) return;
  renderRefusals();
}

function renderRefusals() {
  const box = $("#form-refusals");
  for (const input of document.querySelectorAll("#form [data-refused]")) {
    input.removeAttribute("data-refused");
    if (!$("#form-error").textContent) input.removeAttribute("aria-invalid");
  }
  const items = [];
  for (const [panel, refusal] of app.refusals) {
    const item = el("p", "refusal");
    // "224.0.0.1 refused: …", or just "Refused: …" when the message names the target already
    if (refusal.text.includes(panel.target)) item.append(capitalize(refusal.text));
    else item.append(el("span", "refused-target", panel.target), ` ${refusal.text}`);
    items.push(item);
    const selector = refusal.field === "target" ? "#target" : FIELDS[refusal.field];
    const input = selector && $(selector);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.dataset.refused = "true";
    }
  }
  box.replaceChildren(...items);
  box.hidden = !items.length;
}

/** The form and the open panels, as a link: ?t=a&t=b&c=5&i=0.5&s=56&f=4&n=alpha */
function saveURL() {
  const params = new URLSearchParams();
  for (const key of ["router", "realm"]) if (app.params.get(key)) params.set(key, app.params.get(key));
  const targets = [...new Set(app.panels.map((p) => p.target))];
  for (const t of targets) params.append("t", t);
  const last = app.panels[app.panels.length - 1];
  const options = last ? last.options : {};
  if (options.count != null) params.set("c", options.count);
  if (options.interval != null) params.set("i", options.interval);
  if (options.size != null) params.set("s", options.size);
  if (options.family) params.set("f", options.family);
  if (last) for (const n of last.nodes) params.append("n", n);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function loadForm(params) {
  const targets = params.getAll("t").flatMap(parseTargets);
  if (targets.length) $("#target").value = targets.join(" ");
  if (params.has("c")) $("#count").value = params.get("c");
  if (params.has("i")) $("#interval").value = params.get("i");
  if (params.has("s")) $("#size").value = params.get("s");
  const family = params.get("f");
  const radio = $(`#form input[name=f][value="${family === "4" || family === "6" ? family : ""}"]`);
  if (radio) radio.checked = true;
  return targets;
}

function applyLimits(limits) {
  app.limits = limits || {};
  const set = (selector, attr, value) => value != null && $(selector).setAttribute(attr, value);
  set("#count", "max", limits?.max_count);
  set("#interval", "min", limits?.min_interval);
  set("#interval", "max", limits?.max_interval);
  set("#size", "max", limits?.max_size);
  if (limits) {
    const parts = [
      `interval ≥ ${limits.min_interval} s`,
      `count ≤ ${limits.max_count}`,
      `size ≤ ${limits.max_size} B`,
      `runs ≤ ${limits.max_duration >= 3600 ? `${limits.max_duration / 3600} h` : `${limits.max_duration} s`}`,
    ];
    $("#limits-text").textContent = `Server limits: ${parts.join(" · ")}`;
  }
}

// ---------------------------------------------------------------------------
// connection status, WAMP nodes

function setConn(state, text) {
  const box = $("#conn");
  box.dataset.state = state;
  $("#conn-text").textContent = text;
}

function renderNodes(selected) {
  const list = $("#node-list");
  // the user's choice outlives the list (which empties while the router is away)
  if (selected) app.nodeChoice = new Set(selected);
  list.replaceChildren();
  if (!app.nodes.length) {
    list.append(el("span", "muted", "no node connected yet"));
    return;
  }
  for (const name of app.nodes) {
    const id = `node-${name}`;
    const input = el("input");
    input.type = "checkbox";
    input.id = id;
    input.value = name;
    input.checked = app.nodeChoice ? app.nodeChoice.has(name) : true;
    const label = el("label", "chip", name);
    label.htmlFor = id;
    list.append(input, label);
  }
}

async function connectWamp() {
  const where = `${app.realm} @ ${new URL(app.routerUrl).host}`;
  setConn("connecting", `WAMP · connecting to ${app.routerUrl}…`);
  $("#nodes-field").hidden = false;
  let joinedOnce = false;
  try {
    await wamp.connect(app.routerUrl, app.realm, {
      onState: (state, info) => {
        const sources = app.panels.flatMap((p) => p.sources).filter((s) => s.active && s.conn);
        if (state === "open") {
          app.wampReady = true;
          setConn("ok", `WAMP · ${where}`);
          if (!info.first) {
            // a new session: subscriptions are gone; follow every live run again
            watchNodes().catch(() => {});
            for (const source of sources) source.conn.resume?.();
          }
          joinedOnce = true;
          return;
        }
        app.wampReady = false;
        // autobahn's own words for it ("lost", "closed") say nothing more than we do
        const why = info.detail && !["lost", "closed", "unreachable"].includes(info.detail) ? info.detail : "";
        const retry = info.retryIn != null ? ` · retrying in ${Math.max(1, Math.round(info.retryIn))} s` : "";
        setConn("error", `WAMP · ${joinedOnce ? "router connection lost" : `cannot reach ${app.routerUrl}`}${why ? ` (${why})` : ""}${retry}`);
        for (const source of sources) source.conn.suspend?.(why);
      },
    });
  } catch (err) {
    setConn("error", `WAMP: ${err.message || err}`);
    formError(`Cannot use the WAMP router: ${err.message || err}`);
    return false;
  }
  app.wampReady = true;
  await watchNodes(app.params.getAll("n"));
  return true;
}

/** The node list, kept current: asked now, and told of nodes that join later. */
async function watchNodes(selected) {
  await wamp
    .onNodeJoined((name) => {
      if (!app.nodes.includes(name)) {
        app.nodes = [...app.nodes, name].sort();
        renderNodes();
      }
    })
    .catch(() => {});
  await refreshNodes(selected);
}

async function refreshNodes(selected) {
  try {
    app.nodes = (await wamp.listNodes()).sort();
  } catch (err) {
    app.nodes = [];
    const { uri, message } = wamp.describeError(err);
    const text = uri === wamp.NO_SUCH_PROCEDURE ? "no pingu node on this router yet" : `no node answers (${message})`;
    $("#node-list").replaceChildren(el("span", "muted", text));
    return;
  }
  renderNodes(selected && selected.length ? selected : null);
}

// ---------------------------------------------------------------------------
// start-up

async function boot() {
  $("#form").addEventListener("submit", submit);
  $("#stop-all").addEventListener("click", () => app.panels.forEach((p) => p.stop()));
  $("#clear-done").addEventListener("click", () => {
    for (const p of app.panels.filter((p) => !p.active)) p.destroy();
    app.panels = app.panels.filter((p) => p.active);
    updateRunsBar();
    saveURL();
  });
  $("#form").addEventListener("input", (e) => {
    if (e.target.getAttribute("aria-invalid") && !e.target.dataset.refused) formError("");
    updateFormButton();
  });
  $("#form").addEventListener("change", (e) => {
    if (e.target.closest("#node-list")) {
      app.nodeChoice = new Set([...document.querySelectorAll("#node-list input:checked")].map((i) => i.value));
    }
    updateFormButton();
  });
  $("#form-stop").addEventListener("click", () => submit());
  // Escape anywhere stops every live run
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !e.defaultPrevented && app.panels.some((p) => p.active)) {
      app.panels.forEach((p) => p.stop());
    }
  });
  matchMedia("(max-width: 600px)").addEventListener("change", () => {
    for (const p of app.panels) p.chart?.setSize({ width: Math.floor(p.chartWrap.clientWidth), height: chartHeight() });
  });

  const targets = loadForm(app.params);
  updateRunsBar();

  let info = null;
  try {
    const response = await fetch("pingu-info.json", { cache: "no-store" });
    if (response.ok) info = await response.json();
  } catch {
    info = null;
  }
  app.info = info;
  applyLimits(info?.limits);
  if (info?.version) $("#version").textContent = `pingu ${info.version}`;

  const router = app.params.get("router");
  if (router || info?.mode === "wamp") {
    app.mode = "wamp";
    app.routerUrl = router || wsURL(info?.ws || "ws");
    app.realm = app.params.get("realm") || info?.realm || "pingu";
    document.body.dataset.mode = "wamp";
    const ok = await connectWamp();
    if (!ok) return;
  } else {
    app.mode = "ws";
    app.wsUrl = wsURL(info?.ws || "ws");
    document.body.dataset.mode = "ws";
    if (info) setConn("ok", `WebSocket · ${location.host || "local"}`);
    else setConn("error", "Cannot read pingu-info.json: is this page served by twistd pingu?");
  }
  document.body.dataset.ready = "true";
  if (targets.length) submit();
  else $("#target").focus();
}

// for the browser tests and for curious people in the console; nothing reads it back
window.pingu = app;

boot();
