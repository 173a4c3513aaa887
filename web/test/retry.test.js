// When the page tries again after a refusal for load (web/retry.js, pure), and
// wamp.js's retried() that applies it to a call (time: node:test's mock timers).
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";

import { BUSY_RETRIES, MAX_BACKOFF_MS, backoffDelay, busyDelay, retryDelay } from "../retry.js";
import { MAX_CONCURRENCY_REACHED } from "../vocabulary.js";
import { retried } from "../wamp.js";

const BUSY = { uri: "pingu.error.busy", message: "busy, retry in 3 s" };
const FULL = { uri: MAX_CONCURRENCY_REACHED, message: "maximum concurrency 256 of callee/endpoint reached" };

describe("retry delays", () => {
  it("busy: the N s the reason says (1 when none), plus up to half of it", () => {
    assert.equal(busyDelay("busy, retry in 3 s", () => 0), 3000);
    assert.equal(busyDelay("busy, retry in 3 s", () => 1), 4500);
    assert.equal(busyDelay("this node is answering too many calls", () => 0), 1000);
  });

  it("the router's refusal: 200-1000 ms, doubling with every try, capped", () => {
    assert.equal(backoffDelay(0, () => 0), 200);
    assert.equal(backoffDelay(0, () => 1), 1000);
    assert.equal(backoffDelay(2, () => 0.5), 2400);
    assert.equal(backoffDelay(4, () => 1), MAX_BACKOFF_MS);
  });

  it("only refusals for load, and only BUSY_RETRIES times", () => {
    assert.equal(retryDelay(BUSY, 0, () => 0), 3000);
    assert.equal(retryDelay(FULL, 1, () => 0), 400);
    assert.equal(retryDelay(BUSY, BUSY_RETRIES, () => 0), null);
    assert.equal(retryDelay({ uri: "pingu.error.invalid_request", message: "bad" }, 0), null);
    assert.equal(retryDelay({ uri: "wamp.error.no_such_procedure", message: "" }, 0), null);
  });
});

describe("wamp.retried", () => {
  it("waits, tries again, and answers what the call answers once it is taken", async () => {
    const waits = [];
    let made = 0;
    const answer = await retried(
      async () => {
        made += 1;
        if (made < 3) throw { error: "pingu.error.busy", args: ["busy, retry in 1 s"], kwargs: { code: 4503 } };
        return "taken";
      },
      { onRetry: ({ delay }) => waits.push(delay), wait: async () => {}, random: () => 0 },
    );
    assert.equal(answer, "taken");
    assert.deepEqual(waits, [1000, 1000]);
  });

  it("after the last try: the refusal, saying who is still busy and that it gave up", async () => {
    let made = 0;
    const refusal = await retried(
      async () => {
        made += 1;
        throw { error: MAX_CONCURRENCY_REACHED, args: ["maximum concurrency 256"], kwargs: {} };
      },
      { who: "node north", wait: async () => {}, random: () => 0 },
    ).catch((err) => err);
    assert.equal(made, BUSY_RETRIES + 1);
    assert.equal(refusal.error, MAX_CONCURRENCY_REACHED);
    assert.equal(refusal.args[0], "node north is still busy after 6 tries: giving up (the router holds as many calls for it as it takes)");
    assert.equal(refusal.kwargs.code, 4503);
  });

  it("a refusal that is not for load is the answer at once", async () => {
    const wait = mock.fn(async () => {});
    const refusal = await retried(async () => {
      throw { error: "pingu.error.forbidden", args: ["multicast"], kwargs: { code: 4403 } };
    }, { wait }).catch((err) => err);
    assert.equal(refusal.error, "pingu.error.forbidden");
    assert.equal(wait.mock.callCount(), 0);
  });
});
