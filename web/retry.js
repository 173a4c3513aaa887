// When the page tries again after a refusal for load (pure; `pingu watch` does the
// same, pingu/cli/retry.py). Two answers mean "not now" rather than "no":
//
//   busy: a server or node behind its load says "busy, retry in N s" (close 4503 on
//     the WebSocket; pingu.error.busy from a WAMP node, whose other reasons are
//     limits that free up as runs end and seconds pass): wait the N s it says (1
//     when it says none), plus a random half of that more;
//   the router's crossbar.error.max_concurrency_reached: it holds as many calls of
//     that procedure for the node as the node takes (the node is behind): wait a
//     short random while, twice as long with every try, at most MAX_BACKOFF_MS.
//
// The random part spreads a crowd refused together, so that it does not come back
// together. After BUSY_RETRIES tries the refusal is the answer.

import { ERROR_URIS, MAX_CONCURRENCY_REACHED } from "./vocabulary.js";

/** How many times a run (or a call) is tried again after a refusal for load. */
export const BUSY_RETRIES = 5;
/** The first wait after the router's refusal: somewhere in this range, ms. */
const FIRST_BACKOFF_MS = [200, 1000];
/** The longest wait after the router's refusal, ms. */
export const MAX_BACKOFF_MS = 8000;

/** Milliseconds to wait after a busy refusal: the N seconds its reason says
 * (1 when it says none), plus `random()` (0 to 1) times half of that. */
export function busyDelay(reason, random = Math.random) {
  const found = /retry in (\d+(?:\.\d+)?) s/.exec(reason || "");
  const seconds = found ? Number(found[1]) : 1;
  return Math.round(seconds * 1000 * (1 + random() / 2));
}

/** Milliseconds to wait after the router's max_concurrency_reached, when `tries`
 * tries were made again already: first somewhere in 200-1000 (random() says
 * where), twice that each time after, at most MAX_BACKOFF_MS. */
export function backoffDelay(tries, random = Math.random) {
  const [low, high] = FIRST_BACKOFF_MS;
  return Math.round(Math.min(MAX_BACKOFF_MS, (low + (high - low) * random()) * 2 ** tries));
}

/** Is a WAMP error (wamp.js's describeError) a refusal for load? */
export const isLoadRefusal = (error) => error?.uri === ERROR_URIS.BUSY || error?.uri === MAX_CONCURRENCY_REACHED;

/** Milliseconds before a call refused with `error` (describeError's) is tried
 * again, when `tries` tries were made again already; null when it is not: not a
 * refusal for load, or no try left. */
export function retryDelay(error, tries, random = Math.random) {
  if (!isLoadRefusal(error) || tries >= BUSY_RETRIES) return null;
  return error.uri === MAX_CONCURRENCY_REACHED ? backoffDelay(tries, random) : busyDelay(error.message, random);
}

/** Why a call was refused for load, for people. */
export function busyReason(error) {
  return error.uri === MAX_CONCURRENCY_REACHED ? "the router holds as many calls for it as it takes" : error.message;
}
