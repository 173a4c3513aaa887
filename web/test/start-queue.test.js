// The page's pacing of its starts (web/start-queue.js), on a clock the test moves.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { PacedSource } from "../paced-source.js";
import { CALLS_PER_START, RATE_SHARE, StartQueue, nodePacingLimits, pacingLimits } from "../start-queue.js";

/** A queue on a fake clock: advance(s) runs the timers due. */
function fakeQueue() {
  let now = 0;
  let timers = [];
  let changes = 0;
  const queue = new StartQueue({
    now: () => now,
    later: (fn, ms) => {
      const timer = { at: now + ms / 1000, fn };
      timers.push(timer);
      return timer;
    },
    cancelLater: (timer) => {
      timers = timers.filter((t) => t !== timer);
    },
    changed: () => {
      changes += 1;
    },
  });
  const advance = (seconds) => {
    const end = now + seconds;
    for (;;) {
      const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      timers = timers.filter((t) => t !== due);
      now = due.at;
      due.fn();
    }
    now = end;
  };
  return { queue, advance, now: () => now, changes: () => changes };
}

/** The server's limits, without the one-handshake-at-a-time rule (for the tests of the other limits). */
const manySockets = (limits) => ({ ...pacingLimits(limits), handshakes: Infinity });

const LIMITS = { max_starts_per_second: 10, max_runs_per_client: 20, max_connections_per_client: 50, max_handshakes_per_client: 8 };

describe("pacingLimits", () => {
  it("reads the server's names; missing or nonsense is no limit", () => {
    assert.deepEqual(pacingLimits(LIMITS), { startsPerSecond: 10, runs: 20, connections: 50, handshakes: 1 });
    assert.deepEqual(pacingLimits({ max_runs_per_client: 0, max_starts_per_second: "9" }), {
      startsPerSecond: Infinity, runs: Infinity, connections: Infinity, handshakes: 1,
    }); // fmt: skip
    assert.equal(pacingLimits(null).runs, Infinity);
  });

  it("has no socket limits for a WAMP node (its runs share the page's one session)", () => {
    const l = pacingLimits(LIMITS, { sockets: false });
    assert.equal(l.connections, Infinity);
    assert.equal(l.handshakes, Infinity);
    assert.equal(l.runs, 20);
  });
});

describe("StartQueue", () => {
  it("opens one socket at a time: the next start goes once the previous one's request went out", () => {
    const { queue } = fakeQueue();
    queue.setLimits(null, pacingLimits(LIMITS));
    const going = [];
    for (let i = 0; i < 3; i += 1) queue.enqueue(null, (ticket) => going.push(ticket));
    assert.equal(going.length, 1);
    queue.opened(going[0]);
    assert.equal(going.length, 2);
    queue.closed(going[1]); // a socket that never opened frees its handshake too
    assert.equal(going.length, 3);
  });

  it("starts at once what the limits allow, and the rest as they allow, in order", () => {
    const { queue, advance } = fakeQueue();
    queue.setLimits(null, manySockets({ max_starts_per_second: 10 }));
    const started = [];
    for (let i = 0; i < 20; i += 1) queue.enqueue(null, () => started.push(i));
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8]); // a burst of 10 less the token kept in hand
    assert.equal(queue.waiting(), 11);
    advance(1 / (10 * RATE_SHARE) - 0.001);
    assert.equal(started.length, 9);
    advance(0.002);
    assert.equal(started.length, 10);
    advance(2);
    assert.deepEqual(started, [...Array(20).keys()]);
    assert.equal(queue.waiting(), 0);
  });

  it("never starts faster than the server's bucket allows, in any second", () => {
    const { queue, advance, now } = fakeQueue();
    queue.setLimits(null, manySockets({ max_starts_per_second: 10 }));
    const times = [];
    for (let i = 0; i < 60; i += 1) queue.enqueue(null, () => times.push(now()));
    advance(10);
    assert.equal(times.length, 60);
    // the server's bucket (pingu/clients.py RateLimit): 10 tokens, 10 a second
    let tokens = 10;
    let last = 0;
    for (const t of times) {
      tokens = Math.min(10, tokens + (t - last) * 10);
      last = t;
      assert.ok(tokens >= 1, `a start at ${t.toFixed(3)} s finds ${tokens.toFixed(2)} tokens`);
      tokens -= 1;
    }
  });

  it("keeps at most `handshakes` sockets in their handshake", () => {
    const { queue, advance } = fakeQueue();
    queue.setLimits(null, { ...pacingLimits(LIMITS), handshakes: 8 });
    const going = [];
    for (let i = 0; i < 20; i += 1) queue.enqueue(null, (ticket) => going.push(ticket));
    advance(5);
    assert.equal(going.length, 8);
    queue.opened(going[0]);
    queue.opened(going[1]);
    assert.equal(going.length, 10);
    queue.opened(going[0]); // said twice: frees one handshake only
    assert.equal(going.length, 10);
  });

  it("keeps at most max_runs_per_client runs, the next starting when one ends", () => {
    const { queue, advance } = fakeQueue();
    queue.setLimits(null, manySockets({ max_runs_per_client: 3 }));
    const going = [];
    for (let i = 0; i < 5; i += 1) queue.enqueue(null, (ticket) => going.push(ticket));
    advance(5);
    assert.equal(going.length, 3);
    assert.equal(queue.position(queue.queue[1]), 2);
    queue.ended(going[1]);
    assert.equal(going.length, 4);
    queue.closed(going[1]); // the run was freed already: nothing more
    assert.equal(going.length, 4);
    queue.closed(going[0]);
    assert.equal(going.length, 5);
  });

  it("holds a connection until the socket closes", () => {
    const { queue } = fakeQueue();
    queue.setLimits(null, manySockets({ max_connections_per_client: 2 }));
    const going = [];
    for (let i = 0; i < 3; i += 1) queue.enqueue(null, (ticket) => going.push(ticket));
    queue.opened(going[0]);
    queue.ended(going[0]);
    assert.equal(going.length, 2); // the run ended but its socket is still open
    queue.closed(going[0]);
    assert.equal(going.length, 3);
  });

  it("paces each place apart (WAMP nodes)", () => {
    const { queue } = fakeQueue();
    queue.setLimits("alpha", pacingLimits({ max_runs_per_client: 1 }, { sockets: false }));
    queue.setLimits("beta", pacingLimits({ max_runs_per_client: 1 }, { sockets: false }));
    const going = [];
    for (const node of ["alpha", "alpha", "beta"]) queue.enqueue(node, (t) => going.push(t.key));
    assert.deepEqual(going, ["alpha", "beta"]);
    assert.equal(queue.waiting("alpha"), 1);
    assert.equal(queue.waiting("beta"), 0);
  });

  it("forgets a cancelled start, which frees nothing", () => {
    const { queue } = fakeQueue();
    queue.setLimits(null, manySockets({ max_runs_per_client: 1 }));
    const going = [];
    const first = queue.enqueue(null, (t) => going.push(t));
    const second = queue.enqueue(null, (t) => going.push(t));
    const third = queue.enqueue(null, (t) => going.push(t));
    queue.cancel(second);
    queue.cancel(second);
    assert.equal(queue.waiting(), 1);
    queue.closed(first);
    assert.deepEqual(going, [first, third]);
  });

  it("says how many may ever run at once", () => {
    const { queue } = fakeQueue();
    queue.setLimits(null, pacingLimits(LIMITS));
    assert.equal(queue.capacity(null), 20);
    queue.setLimits(null, pacingLimits({ max_runs_per_client: 20, max_connections_per_client: 5 }));
    assert.equal(queue.capacity(null), 5);
    assert.equal(queue.capacity("unknown"), Infinity);
  });
});

describe("PacedSource", () => {
  /** A real source's stand-in: what was asked of it, and its sink to report through. */
  const fakeSource = () => {
    const made = [];
    const open = (sink) => {
      const source = { sink, calls: [], stop() { this.calls.push("stop"); }, abort() { this.calls.push("abort"); } };
      made.push(source);
      return source;
    };
    return { made, open };
  };

  it("opens the real source on its turn and tells the queue what the run holds", () => {
    const { queue } = fakeQueue();
    queue.setLimits(null, manySockets({ max_runs_per_client: 1 }));
    const { made, open } = fakeSource();
    const seen = [[], []];
    const first = new PacedSource(queue, null, open, (a) => seen[0].push(a.type));
    const second = new PacedSource(queue, null, open, (a) => seen[1].push(a.type));
    assert.equal(made.length, 1);
    assert.equal(first.waiting, false);
    assert.equal(second.waiting, true);
    assert.equal(second.position, 1);
    made[0].sink({ type: "open" });
    made[0].sink({ type: "event", event: { type: "end" } }); // the run is over: the next may go
    assert.equal(made.length, 2);
    assert.deepEqual(seen[0], ["open", "event"]);
    assert.equal(second.waiting, false);
  });

  it("ends as stopped while it waits, without a connection; abort frees what it held", () => {
    const { queue } = fakeQueue();
    queue.setLimits(null, manySockets({ max_runs_per_client: 1 }));
    const { made, open } = fakeSource();
    const first = new PacedSource(queue, null, open, () => {});
    const closes = [];
    const second = new PacedSource(queue, null, open, (a) => closes.push(a));
    second.stop();
    assert.deepEqual(closes.map((a) => [a.type, a.close.code]), [["close", 1000]]);
    const third = new PacedSource(queue, null, open, () => {});
    assert.equal(third.waiting, true);
    first.abort();
    assert.deepEqual(made[0].calls, ["abort"]);
    assert.equal(third.waiting, false);
    assert.equal(made.length, 2); // the stopped one never opened
  });
});

describe("nodePacingLimits", () => {
  it("paces a WAMP node's starts to its calls as well (three per start) and its watched runs", () => {
    const node = { max_starts_per_second: 10, max_calls_per_second: 20, max_runs_per_client: 20, max_watched_per_client: 15, max_handshakes_per_client: 8 };
    assert.deepEqual(nodePacingLimits(node), { startsPerSecond: 20 / CALLS_PER_START, runs: 15, connections: Infinity, handshakes: Infinity });
    assert.equal(nodePacingLimits({ ...node, max_calls_per_second: 60 }).startsPerSecond, 10);
    assert.equal(nodePacingLimits(null).runs, Infinity);
  });
});
