// The run's state machine, pure: step(state, action) -> state, and what a
// state means to a person (outcome, panelStatus). No DOM, no network: the
// sources (ws-source.js, wamp-source.js) turn their wire into actions.
//
//   idle ─begin→ connecting ─open→ waiting ─event→ running ─stop→ stopping
//        any active phase ─suspend→ reconnecting ─resume→ (where it was)
//        any active phase ─close→ done | stopped | failed | refused | lost | away
//        any phase ─abort→ idle
//
// Actions: {type: "begin"}, {type: "open"}, {type: "event", event} (a server
// event, pingu/events.py), {type: "stop"}, {type: "suspend"}, {type: "resume"},
// {type: "close", close: {code, reason, clean, away?, detached?}}, {type: "abort"}.

import { CLOSE_CODES } from "./vocabulary.js";

export const ACTIVE = Object.freeze(["connecting", "waiting", "running", "stopping", "reconnecting"]);
export const ENDED = Object.freeze(["done", "stopped", "failed", "refused", "lost", "away"]);

/** Ends that, after the user's Stop, simply mean "stopped" (a WAMP node whose
 * last viewer left ends ping with SIGTERM: no summary, how "signal"). */
export const STOPPED_HOW = new Set(["completed", "signal", "no-reply"]);

export const HOW_TEXT = Object.freeze({
  completed: "done",
  "no-reply": "no reply",
  "ping-error": "ping error",
  signal: "killed",
  ceiling: "server limit",
  shutdown: "server stopped",
  "spawn-failed": "not started",
});

const C = CLOSE_CODES;
export const CLOSE_TEXT = Object.freeze({
  [C.NORMAL]: "ping completed",
  [C.GOING_AWAY]: "the server is shutting down",
  1006: "the connection dropped",
  1011: "the server hit an internal error",
  [C.NO_REPLY]: "ping got no reply",
  [C.PING_ERROR]: "ping reported an error",
  [C.SIGNAL]: "ping was ended by a signal",
  [C.CEILING]: "a server limit ended the run",
  [C.BAD_REQUEST]: "invalid request",
  [C.FORBIDDEN]: "target refused by the server's policy",
  [C.UNRESOLVED]: "the name does not resolve",
  [C.IDLE]: "no request in time",
  [C.UNEXPECTED]: "unexpected message",
  [C.TOO_BIG]: "message too large",
  [C.UNSUPPORTED_DATA]: "binary frame refused",
  [C.BUSY]: "too many runs — try again in a moment",
  [C.SPAWN_FAILED]: "ping could not be started",
  [C.OVERLOADED]: "the server is busy — try again in a moment",
});

/** A run that has not begun. */
export function initial() {
  return Object.freeze({
    phase: "idle",
    resumePhase: null, // where a reconnection goes back to
    userStopped: false,
    endedWhileAway: false,
    started: false, // a start event, or any of ping's output, came
    events: 0,
    start: null,
    end: null,
    error: null,
    close: null,
  });
}

export const isActive = (state) => ACTIVE.includes(state.phase);
export const isEnded = (state) => ENDED.includes(state.phase);

const next = (state, changes) => Object.freeze({ ...state, ...changes });

/** The one place a run's state changes. Unknown or inapplicable actions leave it as it is. */
export function step(state, action) {
  const phase = state.phase;
  switch (action.type) {
    case "begin":
      return next(initial(), { phase: "connecting" });
    case "abort":
      return phase === "idle" ? state : next(state, { phase: "idle" });
    case "open":
      return phase === "connecting" ? next(state, { phase: "waiting" }) : state;
    case "event":
      return isActive(state) ? took(state, action.event) : state;
    case "stop":
      if (!isActive(state) || phase === "stopping") return state;
      return next(state, { phase: "stopping", userStopped: true });
    case "suspend":
      if (!isActive(state) || phase === "reconnecting") return state;
      return next(state, { phase: "reconnecting", resumePhase: phase });
    case "resume":
      if (phase !== "reconnecting") return state;
      return next(state, {
        phase: state.resumePhase === "stopping" ? "stopping" : state.started ? "running" : "waiting",
        resumePhase: null,
      });
    case "close":
      return isActive(state) ? closed(state, action.close || {}) : state;
    default:
      return state;
  }
}

function took(state, event) {
  const changes = { events: state.events + 1 };
  const early = state.phase === "connecting" || state.phase === "waiting";
  switch (event.type) {
    case "start":
      changes.start = event;
      changes.started = true;
      if (early) changes.phase = "running";
      break;
    case "reply":
    case "timeout":
    case "line":
    case "hop":
    case "hop_stats":
      // a run joined late may have no start event left in its backlog
      changes.started = true;
      if (early) changes.phase = "running";
      break;
    case "end":
      changes.end = event;
      // it came with the backlog that fills the gap of a lost connection
      if (state.phase === "reconnecting") changes.endedWhileAway = true;
      break;
    case "error":
      changes.error = event;
      break;
    default:
      break;
  }
  return next(state, changes);
}

function closed(state, close) {
  const { code } = close;
  const end = state.end;
  let phase;
  if (state.error) phase = "refused";
  else if (close.away || (state.endedWhileAway && end?.how !== "completed")) phase = "away";
  else if (end && state.userStopped && STOPPED_HOW.has(end.how)) phase = "stopped";
  else if (end) phase = end.how === "completed" ? "done" : "failed";
  else if (code === C.NORMAL && (state.userStopped || close.detached)) phase = "stopped";
  else if (code === C.NORMAL) phase = "done";
  else if (code >= 4400 && code < 4600) phase = "refused";
  else if (code >= 4000 && code < 4100) phase = "failed";
  else phase = "lost";
  return next(state, { phase, close, resumePhase: null });
}

export function capitalize(text) {
  text = String(text || "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** What an ended run says: {badge, notice, tone, reconnect}. */
export function outcome(state) {
  const close = state.close || {};
  const codeText = close.code ? ` (code ${close.code})` : "";
  switch (state.phase) {
    case "refused": {
      const err = state.error;
      const message = err?.message || close.reason || CLOSE_TEXT[close.code] || "the server refused the request";
      const code = err?.code || close.code;
      return { badge: "refused", notice: `Refused: ${message}${code ? ` (${code})` : ""}`, tone: "error" };
    }
    case "failed": {
      const end = state.end;
      const message = end?.message || close.reason || CLOSE_TEXT[close.code] || "ping failed";
      const badge = HOW_TEXT[end?.how] || "failed";
      const tone = end?.how === "no-reply" ? "warn" : "error";
      return { badge, notice: `${capitalize(message)}${end ? ` (exit ${end.exit_code ?? "—"}, code ${end.code})` : codeText}.`, tone };
    }
    case "lost": {
      const why = close.reason || CLOSE_TEXT[close.code] || "the connection closed unexpectedly";
      const never = !state.events && close.code === 1006;
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
      const end = state.end;
      const how = end ? ` (${end.message || end.how})` : close.reason ? ` (${close.reason})` : "";
      return { badge: "ended while away", notice: `The run ended while this page was disconnected from the router${how}.`, tone: "warn" };
    }
    case "stopped":
      return { badge: "stopped", notice: close.detached ? `${capitalize(close.reason)}.` : "", tone: "info" };
    case "done":
      return { badge: "done", notice: "", tone: "ok" };
    default:
      return { badge: state.phase, notice: "", tone: "info" };
  }
}

const ACTIVE_BADGE = { running: "live", stopping: "stopping…", reconnecting: "reconnecting…", connecting: "connecting…" };

/**
 * One panel's status from its sources' states (nodes: their names, for the
 * notices of several): {active, state, badge, notice, tone, restartLabel}.
 * `state` is the panel's data-state: an active phase, "lost", or a tone.
 */
export function panelStatus(states, nodes = []) {
  const multi = states.length > 1;
  if (states.some(isActive)) {
    const phases = states.map((s) => s.phase);
    const state = ["reconnecting", "stopping", "running"].find((p) => phases.includes(p)) || "connecting";
    return { active: true, state, badge: ACTIVE_BADGE[state], notice: "", tone: "info", restartLabel: "Run again" };
  }
  const outcomes = states.map(outcome);
  const worst =
    outcomes.find((o) => o.reconnect) || outcomes.find((o) => o.tone === "error") || outcomes.find((o) => o.tone === "warn") || outcomes[0];
  const notice = outcomes
    .map((o, i) => (o.notice && multi ? `${nodes[i]}: ${o.notice}` : o.notice))
    .filter(Boolean)
    .join("\n");
  return {
    active: false,
    state: worst.reconnect ? "lost" : worst.tone,
    badge: worst.badge,
    notice,
    tone: worst.tone,
    restartLabel: worst.reconnect ? "Reconnect" : "Run again",
  };
}
