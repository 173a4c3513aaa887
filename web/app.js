// pingu's page: a form, and one panel per target and tool: ping's live
// statistics and RTT chart, or traceroute's and mtr's hop table, and the
// tool's own output. This module only wires the others:
//   ws-source.js / wamp-source.js  a run over /ws, or through a WAMP node
//   run.js, sequence.js            the run's states; events in order of n (pure)
//   panel.js, panel-view.js        one panel; its DOM
//   tools.js                       the tools and their fields, as the server describes them (pure)
//   hops.js, hop-table-view.js,    the hop table (pure); its DOM; mtr's bars
//   hop-stats-view.js
//   chart.js, stats.js, export.js  the chart; the figures (pure); CSV and JSON
//   form.js, url-state.js          the form; the link that reopens it
//   summary.js                     one table of every run, above the panels; one CSV of them all
//   board.js, nodes.js, status.js  the panels; WAMP's nodes; the header's status
//   start-queue.js, paced-source.js  starts paced to the server's limits (pure); a source that waits its turn
//   retry.js                       when a refusal for load is tried again (pure)
// (The browser tests add their hook, window.pinguTest, from tests/harness/test-hook.js:
// it is served only to them, and reads `app`.)
// Two modes, one page: "ws" when served by `twistd pingu`, "wamp" when served
// by a Crossbar router (or opened with ?router=ws://…).

import { Board } from "./board.js";
import { $ } from "./dom.js";
import { Form } from "./form.js";
import { NodeList } from "./nodes.js";
import { PacedSource } from "./paced-source.js";
import { StartQueue, nodePacingLimits, pacingLimits } from "./start-queue.js";
import { setConn } from "./status.js";
import { displayOf, isPathDisplay, mergeTools, toolSet } from "./tools.js";
import { checkRouter, readQuery, withoutRouter, writeQuery } from "./url-state.js";
import * as wamp from "./wamp.js";
import { WampSource } from "./wamp-source.js";
import { WsSource, wsURL } from "./ws-source.js";

const query = readQuery(location.search);
const app = { mode: "ws", ready: false, info: null, wsUrl: null, wampReady: false, nodes: null, tools: toolSet([]) };
const form = (app.form = new Form());

// every start waits its turn: the server's limits are the page's own pace
const queue = (app.queue = new StartQueue({
  now: () => performance.now() / 1000,
  later: (fn, ms) => setTimeout(fn, ms),
  cancelLater: (timer) => clearTimeout(timer),
  changed: () => board.queued(),
}));

const openNow = (node, request, sink) =>
  node == null
    ? new WsSource(app.wsUrl, request, sink)
    : new WampSource(node, request, sink, wamp, { pageSize: app.info?.limits?.max_backlog_page });

const board = (app.board = new Board({
  openSource: (node, request, sink) => new PacedSource(queue, node, (paced) => openNow(node, request, paced), sink),
  on: {
    changed: () => form.showButton(formLivePanels() != null),
    refusals: (refusals) => form.showRefusals(refusals),
    saved: saveURL,
    about: () => ({ version: app.info?.version ?? null, mode: app.mode }),
    wamp: () => app.mode === "wamp",
    tools: () => app.tools,
    sourceChanged: (panel, source, before) => {
      if (source.node != null) return; // WAMP: the session's status is wamp.js's
      const where = `WebSocket · ${location.host || "local"}`;
      if (before.phase === "connecting" && source.run.phase === "waiting") setConn("ok", where);
      if (source.run.phase === "lost") setConn("error", `WebSocket · connection lost (${source.run.close.code})`);
    },
  },
}));

const wampMode = () => (app.mode === "wamp" ? { nodes: app.nodes.names } : null);

/** The panels the form as it stands would start, when every one of them is live. */
function formLivePanels() {
  const asked = form.check(wampMode());
  if (asked.error) return null;
  const panels = asked.targets.map((t) => board.find(t, asked.options, asked.nodes));
  return panels.every((p) => p?.active) ? panels : null;
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
    form.showError("Not connected to the WAMP router yet: it is retrying.");
    return;
  }
  const asked = form.check(wampMode());
  if (asked.error) {
    form.showError(asked.error, asked.field);
    return;
  }
  // WAMP: each node's limits first (asked once per node), then the same pacing
  if (app.mode === "wamp") nodeLimits(asked.nodes).then(() => startAsked(asked));
  else startAsked(asked);
}

/** The page's tools from their description (/pingu-info.json's, or the WAMP nodes'): the form is built from them. */
function setTools(described) {
  app.tools = toolSet(described);
  form.setTools(app.tools);
}

/**
 * WAMP: the tools every node has (pingu.<node>.tools, describe() on the node,
 * as /pingu-info.json's), merged; a node without the call adds none. Asked
 * again when a node joins, until one has answered.
 */
let nodeTools = null;
async function askNodeTools(names) {
  const answers = await Promise.allSettled(names.map((node) => askNode(node, "tools", () => wamp.timed(wamp.tools(node), 5000))));
  const described = answers.filter((a) => a.status === "fulfilled" && Array.isArray(a.value)).map((a) => a.value);
  if (!described.length) return;
  nodeTools = mergeTools(nodeTools ? [nodeTools, ...described] : described);
  setTools(nodeTools);
}

/** Every node's limits known to the queue (pingu.<node>.limits; a node without that call is not paced). */
const askedLimits = new Map(); // node -> promise
function nodeLimits(nodes) {
  for (const node of nodes) {
    if (askedLimits.has(node)) continue;
    const asking = askNode(node, "limits", () => wamp.limits(node))
      .then((limits) => queue.setLimits(node, nodePacingLimits(limits)))
      .catch(() => {
        // a node without the call (an older pingu): not paced, and asked again next time
        queue.setLimits(node, nodePacingLimits(null));
        askedLimits.delete(node);
      });
    askedLimits.set(node, asking);
  }
  return Promise.all(nodes.map((node) => askedLimits.get(node)));
}

/**
 * A node's limits or tools (make() asks), asked again while the node or the router
 * refuses for load (wamp.retried), said under the form meanwhile (and cleared once
 * answered, if nothing else was said since).
 */
function askNode(node, what, make) {
  let said = null;
  const onRetry = ({ delay, reason }) => {
    said = `Node ${node} is busy (${reason}): asking for its ${what} again in ${(delay / 1000).toFixed(1)} s`;
    form.showError(said, null, false);
  };
  return wamp.retried(make, { who: `node ${node}`, onRetry }).finally(() => {
    if (said != null && $("#form-error").textContent === said) form.showError("", null, false);
  });
}

function startAsked(asked) {
  const tooMany = overCapacity(asked);
  if (tooMany) {
    form.showError(tooMany, "target");
    return;
  }
  form.showError("");
  board.clearRefusals();
  for (const target of asked.targets) board.run(target, asked.options, asked.nodes);
  saveURL();
  $("#target").select();
  const last = board.panels[board.panels.length - 1];
  if (last && last.el.getBoundingClientRect().top > innerHeight) last.el.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

/**
 * What the form asks for, on top of the live runs, past what may ever run at
 * once: said before anything starts. Runs that end by themselves (a count, a
 * traceroute) may be more: they wait their turn as earlier ones end.
 */
function overCapacity(asked) {
  if (asked.options.count != null || isPathDisplay(displayOf(app.tools, asked.options.tool))) return null;
  const wanted = new Map(); // where (null: this server; a node) -> runs live and asked
  const count = (key) => wanted.set(key, (wanted.get(key) || 0) + 1);
  for (const panel of board.active) for (const source of panel.sources) count(source.node);
  for (const target of asked.targets) {
    if (board.find(target, asked.options, asked.nodes)?.active) continue; // live already: not started again
    for (const node of asked.nodes.length ? asked.nodes : [null]) count(node);
  }
  for (const [key, runs] of wanted) {
    const most = queue.capacity(key);
    if (runs <= most) continue;
    const where = key == null ? "this server runs" : `node ${key} runs`;
    const live = board.active.length ? " with the runs already live" : "";
    return `${runs} runs at once until stopped${live}, but ${where} at most ${most} at once for one client: start ${runs - most} fewer, or give a count.`;
  }
  return null;
}

function saveURL() {
  const text = writeQuery(board.panels, query, app.tools);
  history.replaceState(null, "", text ? `?${text}` : location.pathname);
}

async function connectWamp(url, realm) {
  const where = `${realm} @ ${new URL(url).host}`;
  setConn("connecting", `WAMP · connecting to ${url}…`);
  app.nodes.show();
  let joinedOnce = false;
  try {
    await wamp.connect(url, realm, {
      onState: (state, info) => {
        if (state === "open") {
          app.wampReady = true;
          setConn("ok", `WAMP · ${where}`);
          if (!info.first) {
            // a new session: subscriptions are gone; follow every live run again
            app.nodes.watch().catch(() => {});
            for (const panel of board.panels) panel.resume();
          }
          joinedOnce = true;
          return;
        }
        app.wampReady = false;
        // autobahn's own words for it ("lost", "closed") say nothing more than we do
        const why = info.detail && !["lost", "closed", "unreachable"].includes(info.detail) ? info.detail : "";
        const retry = info.retryIn != null ? ` · retrying in ${Math.max(1, Math.round(info.retryIn))} s` : "";
        setConn("error", `WAMP · ${joinedOnce ? "router connection lost" : `cannot reach ${url}`}${why ? ` (${why})` : ""}${retry}`);
        for (const panel of board.panels) panel.suspend(why);
      },
    });
  } catch (err) {
    setConn("error", `WAMP: ${err.message || err}`);
    form.showError(`Cannot use the WAMP router: ${err.message || err}`);
    return false;
  }
  app.wampReady = true;
  app.nodes.onJoined = (name) => askNodeTools([name]).catch(() => {});
  await app.nodes.watch(query.nodes);
  await askNodeTools(app.nodes.names).catch(() => {});
  form.load(query);
  return true;
}

function listen() {
  const stopAll = () => board.stopAll();
  form.el.addEventListener("submit", submit);
  form.el.addEventListener("input", (e) => {
    if (e.target.getAttribute("aria-invalid") && !e.target.dataset.refused) form.showError("");
    form.showButton(formLivePanels() != null);
  });
  form.el.addEventListener("change", () => form.showButton(formLivePanels() != null));
  $("#form-stop").addEventListener("click", () => submit());
  $("#stop-all").addEventListener("click", stopAll);
  $("#clear-done").addEventListener("click", () => board.clearDone());
  // Escape anywhere stops every live run
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !e.defaultPrevented && board.active.length) stopAll();
  });
}

async function boot() {
  listen();
  board.changed();
  try {
    const response = await fetch("pingu-info.json", { cache: "no-store" });
    if (response.ok) app.info = await response.json();
  } catch {
    app.info = null;
  }
  const info = app.info;
  setTools(info?.tools);
  form.load(query);
  form.applyLimits(info?.limits);
  queue.setLimits(null, pacingLimits(info?.limits));
  if (info?.version) $("#version").textContent = `pingu ${info.version}`;
  // A router the server does not list: never connected to, dropped from the
  // link, and none of the link's runs started; the page stays in its own mode.
  const { refused } = checkRouter(query.router, info, location);
  if (refused) {
    query.router = query.realm = null;
    const rest = withoutRouter(location.search);
    history.replaceState(null, "", rest ? `?${rest}` : location.pathname);
  }
  if (query.router || info?.mode === "wamp") {
    app.mode = document.body.dataset.mode = "wamp";
    app.nodes = new NodeList();
    const ok = await connectWamp(query.router || wsURL(info?.ws || "ws"), query.realm || info?.realm || "pingu");
    if (!ok) return;
  } else {
    app.mode = document.body.dataset.mode = "ws";
    app.wsUrl = wsURL(info?.ws || "ws");
    if (info) setConn("ok", `WebSocket · ${location.host || "local"}`);
    else setConn("error", "Cannot read pingu-info.json: is this page served by twistd pingu?");
  }
  if (refused) {
    setConn("error", `Refused router ${refused}: this page's server does not list it`);
    form.showError(`This link asks for the router ${refused}, which this page's server does not list (see /pingu-info.json): refused, nothing started.`);
  }
  app.ready = true;
  document.body.dataset.ready = "true";
  if (query.targets.length && !refused) submit();
  else $("#target").focus();
}

boot();
