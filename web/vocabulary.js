// Generated from pingu/events.py by `python -m pingu.events > web/vocabulary.js`;
// do not edit (tests/test_events.py checks that it matches).
export const EVENT_TYPES = Object.freeze(["start", "reply", "timeout", "line", "summary", "end", "error", "hop", "hop_stats"]);
export const SUBPROTOCOL_TEXT = "pingu";
export const SUBPROTOCOL_JSON = "pingu.json";
export const CLOSE_CODES = Object.freeze({"NORMAL": 1000, "GOING_AWAY": 1001, "NO_REPLY": 4000, "PING_ERROR": 4001, "SIGNAL": 4002, "CEILING": 4003, "BAD_REQUEST": 4400, "UNRESOLVED": 4404, "FORBIDDEN": 4403, "UNEXPECTED": 4409, "TOO_BIG": 4413, "UNSUPPORTED_DATA": 4415, "BUSY": 4429, "IDLE": 4408, "SPAWN_FAILED": 4500, "OVERLOADED": 4503});
export const HOW_CLOSE = Object.freeze({"completed": 1000, "no-reply": 4000, "ping-error": 4001, "signal": 4002, "ceiling": 4003, "shutdown": 1001, "spawn-failed": 4500});
export const ERROR_URIS = Object.freeze({"BAD_REQUEST": "pingu.error.invalid_request", "UNRESOLVED": "pingu.error.unresolved", "FORBIDDEN": "pingu.error.forbidden", "BUSY": "pingu.error.busy", "SPAWN_FAILED": "pingu.error.spawn_failed", "UNEXPECTED": "pingu.error.unexpected", "TOO_BIG": "pingu.error.too_big", "OVERLOADED": "pingu.error.busy"});
export const WAMP_PREFIX = "pingu";
export const NODES_PROCEDURE = "pingu.nodes";
export const JOINED_TOPIC = "pingu.nodes.joined";
export const NO_SUCH_RUN = "pingu.error.no_such_run";
export const MAX_CONCURRENCY_REACHED = "crossbar.error.max_concurrency_reached";
export const NODE_PROCEDURES = Object.freeze(["start", "backlog", "stop", "runs", "limits", "tools"]);
export const nodeUri = (node, name) => `${WAMP_PREFIX}.${node}.${name}`;
export const runTopic = (node, run) => `${WAMP_PREFIX}.${node}.run.${run}`;
