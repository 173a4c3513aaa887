// WAMP mode: the page as a viewer on a Crossbar.io router, behind one small
// adapter so that nothing else touches autobahn. Every pingu URI comes from
// vocabulary.js (generated from pingu/events.py).
//
//   await connect(url, realm, {onState})   open the session (anonymous); it
//                                           reconnects by itself, forever
//   await listNodes()                       -> ["alpha", "beta"]
//   await onNodeJoined(fn)                  fn(name) when a node joins later
//   await start(node, request)              -> {run, topic, backlog: [events]}
//   await subscribe(topic, onEvent)         -> {unsubscribe()}
//   await backlog(node, run, since)         -> [events numbered above since, a page]
//   await stop(node, run)                   -> {ending, viewers}
//   await limits(node)                      -> the node's limits (as /pingu-info.json's)
//   await tools(node)                       -> the node's tools, their fields and bounds (as /pingu-info.json's)
//   await retried(() => call, {who, onRetry}) the call, tried again while refused for load (retry.js)
//
// A call made on a session that is then lost never settles (autobahn drops
// it with the session): callers that must go on after a drop use `timed`.

import { busyReason, isLoadRefusal, retryDelay } from "./retry.js";
import { CLOSE_CODES, ERROR_URIS, JOINED_TOPIC, NODES_PROCEDURE, NO_SUCH_RUN, nodeUri } from "./vocabulary.js";

/** The run is not (or no longer) known to the node. */
export { NO_SUCH_RUN };
/** Nobody registered the procedure: the node is not (yet, or any more) on the router. */
export const NO_SUCH_PROCEDURE = "wamp.error.no_such_procedure";
/** The page's own error for a call that did not come back in time. */
export const TIMED_OUT = "pingu.page.timeout";

const AUTOBAHN_SRC = "node_modules/autobahn-browser/autobahn.min.js";
const FIRST_RETRY_S = 0.5; // a dropped connection is retried at once, then with back-off
const MAX_RETRY_S = 8;

let connection = null;
let session = null;
let generation = 0; // one more for every session that joins

function loadAutobahn() {
  if (window.autobahn) return Promise.resolve(window.autobahn);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = AUTOBAHN_SRC;
    script.onload = () => resolve(window.autobahn);
    script.onerror = () => reject(new Error(`could not load ${AUTOBAHN_SRC} (run npm ci in web/)`));
    document.head.append(script);
  });
}

/** A refusal's URI -> the close code the WebSocket face would have used (the first listed:
 * busy is 4429, and a node behind its load says its 4503 in the error's `code`). */
const URI_CODES = new Map();
for (const [name, uri] of Object.entries(ERROR_URIS)) if (!URI_CODES.has(uri)) URI_CODES.set(uri, CLOSE_CODES[name] ?? null);

/** A WAMP error as the page shows errors: {code, reason, uri, message, field}. */
export function describeError(err) {
  if (err && typeof err === "object" && "error" in err) {
    const kwargs = err.kwargs || {};
    const message = (err.args && err.args[0]) || kwargs.message || err.error;
    return { code: kwargs.code ?? URI_CODES.get(err.error) ?? null, reason: kwargs.reason || err.error, uri: err.error, message: String(message), field: kwargs.field };
  }
  return { code: null, reason: "wamp", uri: null, message: String(err && err.message ? err.message : err) };
}

/**
 * Open the session. Resolves on the first join and keeps the session up from
 * then on: autobahn retries a lost connection with back-off, and a connection
 * closed for good (the router said goodbye on its way down, or the retries ran
 * out) is opened again here. onState reports every change:
 *   "open"    {first, generation}         joined (again)
 *   "lost"    {detail, retryIn}           gone; the next attempt in retryIn s
 * Subscriptions do not survive a lost session: whoever had one subscribes again.
 */
export async function connect(url, realm, { onState = () => {} } = {}) {
  const autobahn = await loadAutobahn();
  return new Promise((resolve) => {
    let joined = false;
    let reopenTimer = null;
    let reopenDelay = FIRST_RETRY_S;
    connection = new autobahn.Connection({
      url,
      realm,
      use_es6_promises: true,
      max_retries: -1,
      initial_retry_delay: FIRST_RETRY_S,
      max_retry_delay: MAX_RETRY_S,
      retry_if_unreachable: true,
    });
    connection.onopen = (s) => {
      session = s;
      generation += 1;
      reopenDelay = FIRST_RETRY_S;
      const first = !joined;
      joined = true;
      onState("open", { first, generation });
      if (first) resolve(s);
    };
    connection.onclose = (reason, details) => {
      session = null;
      const detail = (details && (details.message || details.reason)) || reason;
      if (details && details.will_retry) {
        onState("lost", { detail, retryIn: details.retry_delay });
        return false;
      }
      // closed for good by autobahn: open it again ourselves (after this
      // handler returns, when the connection has let go of its transport)
      const delay = reopenDelay;
      reopenDelay = Math.min(MAX_RETRY_S, reopenDelay * 2);
      onState("lost", { detail, retryIn: delay });
      clearTimeout(reopenTimer);
      reopenTimer = setTimeout(() => {
        try {
          connection.open();
        } catch {
          // already opening
        }
      }, delay * 1000);
      return true;
    };
    connection.open();
  });
}

/** Which session the page is on (changes with every reconnection). */
export function currentGeneration() {
  return session ? generation : 0;
}

function live() {
  if (!session) throw new Error("not connected to the WAMP router");
  return session;
}

/** ``promise``, or a rejection with TIMED_OUT after ``ms``. */
export function timed(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject({ error: TIMED_OUT, args: ["no answer from the router"], kwargs: {} }), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * make()'s call, tried again after a refusal for load (retry.js: the node's
 * pingu.error.busy, the router's max_concurrency_reached) at most BUSY_RETRIES
 * times: onRetry({delay, reason}) before each wait, wait(ms) waits. After the
 * last try it rejects with the refusal, its message saying that `who` (for
 * people: "node north") is still busy and that the page gave up.
 */
export async function retried(make, { who = "the node", onRetry = () => {}, wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms)), random = Math.random } = {}) {
  for (let tries = 0; ; tries++) {
    try {
      return await make();
    } catch (err) {
      const error = describeError(err);
      if (!isLoadRefusal(error)) throw err;
      const delay = retryDelay(error, tries, random);
      if (delay == null) {
        const message = `${who} is still busy after ${tries + 1} tries: giving up (${busyReason(error)})`;
        throw { error: error.uri, args: [message], kwargs: { code: error.code ?? CLOSE_CODES.OVERLOADED, reason: "busy" } };
      }
      onRetry({ delay, reason: busyReason(error) });
      await wait(delay);
    }
  }
}

export async function listNodes() {
  const names = await live().call(NODES_PROCEDURE);
  return Array.isArray(names) ? names : [];
}

export async function onNodeJoined(fn) {
  await live().subscribe(JOINED_TOPIC, (args) => {
    const payload = args && args[0];
    if (payload && typeof payload.node === "string") fn(payload.node);
  });
}

export async function start(node, request) {
  const { target, ...options } = request;
  return live().call(nodeUri(node, "start"), [target], options);
}

export async function subscribe(topic, onEvent) {
  const s = live();
  const subscription = await s.subscribe(topic, (args) => {
    if (args && args[0] && typeof args[0] === "object") onEvent(args[0]);
  });
  return {
    unsubscribe: () => (session === s && subscription.active ? s.unsubscribe(subscription) : Promise.resolve()),
  };
}

/** The run's events numbered above `since` (0: from the first), at most the node's page of them. */
export async function backlog(node, run, since = 0) {
  return live().call(nodeUri(node, "backlog"), [run], { since });
}

export async function limits(node) {
  return live().call(nodeUri(node, "limits"));
}

export async function tools(node) {
  return live().call(nodeUri(node, "tools"));
}

export async function stop(node, run) {
  return live().call(nodeUri(node, "stop"), [run]);
}
