// WAMP mode: the page as a viewer on a Crossbar.io router, behind one small
// adapter so that app.js never touches autobahn directly. Every URI the page
// uses is in URIS below (they match pingu/wamp.py).
//
//   await connect(url, realm, {onState})   open the session (anonymous)
//   await listNodes()                       -> ["alpha", "beta"]
//   await onNodeJoined(fn)                  fn(name) when a node joins later
//   await start(node, request)              -> {run, topic, backlog: [events]}
//   await subscribe(topic, onEvent)         -> {unsubscribe()}
//   await backlog(node, run)                -> [events]
//   await stop(node, run)                   drop this viewer's interest

export const URIS = {
  nodes: "pingu.nodes", // shared registration: any one node answers
  joined: "pingu.nodes.joined", // {"node": name}
  start: (node) => `pingu.${node}.start`, // kwargs: target, count, interval, size, family
  backlog: (node) => `pingu.${node}.backlog`, // (run) -> [events]
  stop: (node) => `pingu.${node}.stop`, // (run)
};

const AUTOBAHN_SRC = "node_modules/autobahn-browser/autobahn.min.js";

let connection = null;
let session = null;

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

/** A WAMP error as the page shows errors: {code, reason, message}. */
export function describeError(err) {
  if (err && typeof err === "object" && "error" in err) {
    const kwargs = err.kwargs || {};
    const message = (err.args && err.args[0]) || kwargs.message || err.error;
    return { code: kwargs.code ?? null, reason: kwargs.reason || err.error, message: String(message), field: kwargs.field };
  }
  return { code: null, reason: "wamp", message: String(err && err.message ? err.message : err) };
}

/**
 * Open the session. Resolves on the first join; onState("open" | "lost" |
 * "closed", detail) reports every later change (autobahn retries by itself;
 * subscriptions do not survive a lost session).
 */
export async function connect(url, realm, { onState = () => {} } = {}) {
  const autobahn = await loadAutobahn();
  return new Promise((resolve, reject) => {
    let joined = false;
    connection = new autobahn.Connection({
      url,
      realm,
      use_es6_promises: true,
      max_retries: -1,
      max_retry_delay: 10,
    });
    connection.onopen = (s) => {
      session = s;
      if (!joined) {
        joined = true;
        resolve(s);
      } else {
        onState("open");
      }
    };
    connection.onclose = (reason, details) => {
      session = null;
      const detail = (details && (details.message || details.reason)) || reason;
      if (!joined) {
        if (reason === "unreachable" || reason === "unsupported") {
          reject(new Error(`WAMP router ${url}: ${detail}`));
          return true; // give up
        }
        return false;
      }
      onState(details && details.will_retry ? "lost" : "closed", detail);
      return false;
    };
    connection.open();
  });
}

function live() {
  if (!session) throw new Error("not connected to the WAMP router");
  return session;
}

export async function listNodes() {
  const names = await live().call(URIS.nodes);
  return Array.isArray(names) ? names : [];
}

export async function onNodeJoined(fn) {
  await live().subscribe(URIS.joined, (args) => {
    const payload = args && args[0];
    if (payload && payload.node) fn(payload.node);
  });
}

export async function start(node, request) {
  const { target, ...options } = request;
  return live().call(URIS.start(node), [target], options);
}

export async function subscribe(topic, onEvent) {
  const s = live();
  const subscription = await s.subscribe(topic, (args) => {
    if (args && args[0]) onEvent(args[0]);
  });
  return {
    unsubscribe: () => (session === s && subscription.active ? s.unsubscribe(subscription) : Promise.resolve()),
  };
}

export async function backlog(node, run) {
  return live().call(URIS.backlog(node), [run]);
}

export async function stop(node, run) {
  return live().call(URIS.stop(node), [run]);
}
