// The WAMP run source (web/wamp-source.js) against a fake session: start,
// subscribe, backlog; gaps; a lost session, resubscription and the backlog
// that fills the gap; refusals, and refusals for load tried again; stop;
// abort. Its actions go through the run machine (web/run.js) too, as the panel
// does.
import assert from "node:assert/strict";
import { beforeEach, describe, it, mock } from "node:test";

import { initial, step } from "../run.js";
import { BUSY_RETRIES } from "../retry.js";
import { MAX_CONCURRENCY_REACHED } from "../vocabulary.js";
import { WampSource } from "../wamp-source.js";

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/** One node with one run, as the source sees it through the router. */
class FakeSession {
  constructor({ refuse = null, stopAnswer = { ending: true, viewers: 0 }, page = 1000, refusals = {} } = {}) {
    this.refusals = { start: [], backlog: [], ...refusals }; // thrown by the first calls, one each
    this.page = page; // the node's --max-backlog-page
    this.log = []; // every event of the run, as the node keeps it
    this.subscriber = null;
    this.refuse = refuse;
    this.stopAnswer = stopAnswer;
    this.calls = [];
    this.gone = false; // the node no longer has the run
  }
  event(type, extra = {}) {
    const e = { n: this.log.length + 1, type, seq: this.log.length, t: this.log.length, raw: `${type} ${this.log.length + 1}`, ...extra };
    this.log.push(e);
    return e;
  }
  /** A new event, published on the topic (deliver = false: the subscription misses it). */
  publish(type, extra, deliver = true) {
    const e = this.event(type, extra);
    if (deliver) this.subscriber?.({ ...e });
    return e;
  }
  async start(node, request) {
    this.calls.push(["start", node, request]);
    if (this.refusals.start.length) throw this.refusals.start.shift();
    if (this.refuse) throw this.refuse;
    return { run: "r1", topic: `pingu.${node}.run.r1`, backlog: this.since(0) };
  }
  async subscribe(topic, fn) {
    this.calls.push(["subscribe", topic]);
    this.subscriber = fn;
    return { unsubscribe: async () => this.calls.push(["unsubscribe", topic]) };
  }
  /** At most a page of the events numbered above n, as the node answers. */
  since(n) {
    return this.log.filter((e) => e.n > n).slice(0, this.page).map((e) => ({ ...e }));
  }
  async backlog(node, run, since = 0) {
    this.calls.push(["backlog", node, run, since]);
    if (this.refusals.backlog.length) throw this.refusals.backlog.shift();
    if (this.gone) throw { error: "pingu.error.no_such_run", args: ["no such run"], kwargs: {} };
    return this.since(since);
  }
  async stop(node, run) {
    this.calls.push(["stop", node, run]);
    return this.stopAnswer;
  }
  currentGeneration() {
    return 1;
  }
  /** The session is lost: nothing reaches the old subscription. */
  drop() {
    this.subscriber = null;
  }
}

function follow(session, request = { target: "127.0.0.1" }, options = { pageSize: session.page }) {
  const actions = [];
  let run = step(initial(), { type: "begin" });
  const source = new WampSource("north", request, (a) => {
    actions.push(a);
    run = step(run, a);
  }, session, options);
  const shown = () => actions.filter((a) => a.type === "event").map((a) => a.event.n ?? a.event.type);
  return { source, actions, shown, run: () => run };
}

describe("WampSource", () => {
  it("start, subscribe, backlog: each event once, in order, to the end", async () => {
    const session = new FakeSession();
    session.event("start");
    const f = follow(session);
    await settle();
    assert.deepEqual(session.calls.map((c) => c[0]), ["start", "subscribe", "backlog"]);
    assert.deepEqual(session.calls[0], ["start", "north", { target: "127.0.0.1" }]);
    assert.equal(session.calls[1][1], "pingu.north.run.r1");
    assert.equal(f.source.state, "following");
    session.publish("reply");
    session.publish("reply");
    session.publish("end", { code: 1000, how: "completed", message: "" });
    assert.deepEqual(f.shown(), [1, 2, 3, 4]);
    assert.equal(f.source.state, "finished");
    assert.deepEqual(f.actions.at(-1), { type: "close", close: { code: 1000, reason: "", clean: true } });
    assert.equal(f.run().phase, "done");
    await settle();
    assert.deepEqual(session.calls.at(-1), ["unsubscribe", "pingu.north.run.r1"]);
  });

  it("events published between start's answer and the subscription becoming active come from the backlog", async () => {
    // a real router has this window: the node publishes on the run's topic
    // while the page's subscribe is on its way; nothing is delivered to it
    const session = new FakeSession();
    session.event("start");
    const subscribe = session.subscribe.bind(session);
    session.subscribe = async (topic, fn) => {
      session.publish("reply"); // published before the subscription is active: missed
      session.publish("end", { code: 1000, how: "completed", message: "" });
      return subscribe(topic, fn);
    };
    const f = follow(session);
    await settle();
    assert.deepEqual(f.shown(), [1, 2, 3]);
    assert.equal(f.run().phase, "done");
  });

  it("joins a run already going, and says so after its backlog", async () => {
    const session = new FakeSession();
    session.event("start");
    session.event("reply");
    const f = follow(session);
    await settle();
    assert.deepEqual(f.shown(), [1, 2]);
    const joined = f.actions.find((a) => a.type === "joined");
    assert.deepEqual(joined, { type: "joined", since: 0 });
    assert.equal(f.run().phase, "running");
  });

  it("a gap in what the topic brings is filled from the backlog", async () => {
    const session = new FakeSession();
    const f = follow(session);
    await settle();
    session.publish("start");
    session.publish("reply", {}, false); // the subscription misses it
    session.publish("reply");
    assert.deepEqual(f.shown(), [1]); // 3 waits for 2
    await settle();
    assert.deepEqual(f.shown(), [1, 2, 3]);
    assert.equal(session.calls.filter((c) => c[0] === "backlog").length, 2);
  });

  it("a lost session: suspend, then resubscribe and fill the gap by n, nothing twice", async () => {
    const session = new FakeSession();
    const f = follow(session);
    await settle();
    session.publish("start");
    session.publish("reply");
    session.drop();
    f.source.suspend("lost");
    assert.equal(f.source.state, "suspended");
    assert.equal(f.run().phase, "reconnecting");
    f.source.resume(); // a new session
    assert.equal(f.source.state, "resuming");
    session.publish("reply"); // published while the new subscription is being made
    session.publish("reply");
    await settle();
    assert.equal(f.source.state, "following");
    assert.deepEqual(f.shown(), [1, 2, 3, 4]);
    assert.deepEqual(f.actions.filter((a) => ["suspend", "resume"].includes(a.type)).map((a) => a.type), ["suspend", "resume"]);
    assert.equal(f.run().phase, "running");
    session.publish("reply");
    assert.deepEqual(f.shown(), [1, 2, 3, 4, 5]);
  });

  it("a run that ended while the session was lost: ended while away", async () => {
    const session = new FakeSession();
    const f = follow(session);
    await settle();
    session.publish("start");
    session.drop();
    f.source.suspend("");
    session.publish("end", { code: 4002, how: "signal", message: "ping was ended by a signal" });
    f.source.resume();
    await settle();
    assert.deepEqual(f.shown(), [1, 2]);
    assert.equal(f.source.state, "finished");
    assert.equal(f.run().phase, "away");
  });

  it("a run the node no longer has after a reconnection: away", async () => {
    const session = new FakeSession();
    const f = follow(session);
    await settle();
    session.drop();
    f.source.suspend("");
    session.gone = true;
    f.source.resume();
    await settle();
    assert.equal(f.actions.at(-1).close.away, true);
    assert.equal(f.run().phase, "away");
  });

  it("a refusal: the node's message as an error event, then the close with its code", async () => {
    const refuse = { error: "pingu.error.forbidden", args: ["224.0.0.1 is a multicast address"], kwargs: { reason: "forbidden", field: "target" } };
    const f = follow(new FakeSession({ refuse }));
    await settle();
    const [error] = f.actions.filter((a) => a.type === "event").map((a) => a.event);
    assert.deepEqual(error, { type: "error", raw: null, code: 4403, reason: "forbidden", message: "224.0.0.1 is a multicast address", field: "target" });
    assert.equal(f.actions.at(-1).close.code, 4403);
    assert.equal(f.run().phase, "refused");
  });

  it("a node that is not on the router, said so", async () => {
    const refuse = { error: "wamp.error.no_such_procedure", args: [], kwargs: {} };
    const f = follow(new FakeSession({ refuse }));
    await settle();
    assert.equal(f.actions.find((a) => a.type === "event").event.message, "node north is not on the router");
    assert.equal(f.run().phase, "refused");
  });

  it("stop, the last viewer: the summary and the end still come on the topic", async () => {
    const session = new FakeSession();
    const f = follow(session);
    await settle();
    session.publish("start");
    f.source.stop();
    assert.equal(f.source.state, "stopping");
    await settle();
    assert.deepEqual(session.calls.at(-1), ["stop", "north", "r1"]);
    session.publish("summary");
    session.publish("end", { code: 1000, how: "completed" });
    assert.equal(f.source.state, "finished");
    assert.deepEqual(f.shown(), [1, 2, 3]);
  });

  it("stop while others watch: stopped here, the run goes on", async () => {
    const f = follow(new FakeSession({ stopAnswer: { ending: false, viewers: 1 } }));
    await settle();
    f.source.stop();
    await settle();
    const { close } = f.actions.at(-1);
    assert.equal(close.detached, true);
    assert.equal(close.reason, "stopped here; another viewer keeps the run going on north");
  });

  it("stop before the node answered start: stopped as soon as it is known", async () => {
    const session = new FakeSession();
    const f = follow(session);
    f.source.stop();
    assert.equal(f.source.state, "starting");
    await settle();
    assert.ok(session.calls.some((c) => c[0] === "stop"));
    assert.equal(f.actions.at(-1).close.reason, "stopped");
  });

  it("abort: tells the node, and reports nothing more", async () => {
    const session = new FakeSession();
    const f = follow(session);
    await settle();
    const count = f.actions.length;
    f.source.abort();
    session.publish("reply");
    await settle();
    assert.equal(f.actions.length, count);
    assert.ok(session.calls.some((c) => c[0] === "stop"));
    assert.equal(f.source.state, "finished");
  });

  it("transitions the table has not are refused", async () => {
    const f = follow(new FakeSession());
    await settle();
    assert.equal(f.source.to("starting"), false);
    f.source.resume(); // following: nothing to resume
    assert.equal(f.source.state, "following");
  });

  it("a backlog longer than a page: fetched page by page from the last n, start's own page first", async () => {
    const session = new FakeSession({ page: 4 });
    session.event("start");
    for (let i = 0; i < 9; i++) session.event("reply");
    const f = follow(session);
    await settle();
    assert.deepEqual(f.shown(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // start's page was 1..4; then from 4 (5..8, full), from 8 (9..10, short: the last)
    assert.deepEqual(session.calls.filter((c) => c[0] === "backlog").map((c) => c[3]), [4, 8]);
    assert.equal(f.source.state, "following");
    session.publish("reply");
    assert.deepEqual(f.shown().at(-1), 11);
  });

  it("a page exactly full: one more call, which comes back empty", async () => {
    const session = new FakeSession({ page: 3 });
    for (let i = 0; i < 6; i++) session.event(i ? "reply" : "start");
    const f = follow(session);
    await settle();
    assert.deepEqual(f.shown(), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(session.calls.filter((c) => c[0] === "backlog").map((c) => c[3]), [3, 6]);
  });

  it("events published while the pages come are kept and shown in order, once", async () => {
    const session = new FakeSession({ page: 2 });
    for (let i = 0; i < 5; i++) session.event(i ? "reply" : "start");
    const backlog = session.backlog.bind(session);
    session.backlog = async (...args) => {
      const page = await backlog(...args);
      if (session.log.length < 8) session.publish("reply"); // live, while the viewer still pages
      return page;
    };
    const f = follow(session);
    await settle();
    assert.deepEqual(f.shown(), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("the end in a later page ends the run, and no more pages are asked for", async () => {
    const session = new FakeSession({ page: 2 });
    session.event("start");
    session.event("hop", { hop: 1, address: "10.0.0.1", rtt_ms: [0.1] });
    session.event("hop", { hop: 2, address: null, rtt_ms: [null] });
    session.event("end", { code: 1000, how: "completed", message: "" });
    const f = follow(session);
    await settle();
    assert.deepEqual(f.shown(), [1, 2, 3, 4]);
    assert.equal(f.run().phase, "done");
    assert.deepEqual(session.calls.filter((c) => c[0] === "backlog").map((c) => c[3]), [2]);
  });

  it("after a reconnection, the gap is fetched from the last n shown, page by page", async () => {
    const session = new FakeSession({ page: 3 });
    const f = follow(session);
    await settle();
    session.publish("start");
    session.drop();
    f.source.suspend("lost");
    for (let i = 0; i < 7; i++) session.publish("reply");
    f.source.resume();
    await settle();
    assert.deepEqual(f.shown(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(session.calls.filter((c) => c[0] === "backlog").map((c) => c[3]).slice(-3), [1, 4, 7]);
  });

  it("the page size defaults to the node's default, 1000", async () => {
    const session = new FakeSession();
    const f = follow(session, { target: "h", tool: "mtr" }, {});
    await settle();
    assert.equal(f.source.pageSize, 1000);
    assert.deepEqual(session.calls[0], ["start", "north", { target: "h", tool: "mtr" }]);
  });

  it("a joined path run is said so too", async () => {
    const session = new FakeSession();
    session.event("start", { tool: "traceroute" });
    session.event("hop", { hop: 1, address: "10.0.0.1", rtt_ms: [0.1] });
    const f = follow(session);
    await settle();
    assert.ok(f.actions.some((a) => a.type === "joined"));
    assert.equal(f.run().phase, "running");
  });
});

/** The node's refusal while its event loop is behind (pingu/wamp/node.py). */
const busy = (seconds) => ({ error: "pingu.error.busy", args: [`busy, retry in ${seconds} s`], kwargs: { code: 4503, reason: "busy" } });
/** The router's refusal when it holds as many calls for the node as the node takes. */
const full = () => ({ error: MAX_CONCURRENCY_REACHED, args: ["maximum concurrency 256 of callee/endpoint reached"], kwargs: {} });
const calls = (session, name) => session.calls.filter((c) => c[0] === name).length;

describe("WampSource, refusals for load", () => {
  // time is node:test's mock timers (setTimeout only: settle() still turns the event loop)
  beforeEach(() => {
    mock.timers.reset();
    mock.timers.enable({ apis: ["setTimeout"] });
    mock.method(Math, "random", () => 0.5);
  });

  it("a busy start is tried again after the N s the node says and jitter, then followed", async () => {
    const session = new FakeSession({ refusals: { start: [busy(2), busy(2)] } });
    session.event("start");
    const f = follow(session);
    await settle();
    assert.deepEqual(f.actions.map((a) => a.type), ["retry"]);
    assert.deepEqual(f.actions[0], { type: "retry", delay: 2500, reason: "busy, retry in 2 s" });
    assert.equal(f.source.state, "retrying");
    assert.equal(f.run().phase, "connecting"); // not refused: still on its way
    mock.timers.tick(2499);
    await settle();
    assert.equal(calls(session, "start"), 1); // not before the wait is over
    mock.timers.tick(1);
    await settle();
    assert.equal(calls(session, "start"), 2);
    mock.timers.tick(2500);
    await settle();
    assert.deepEqual(session.calls.map((c) => c[0]), ["start", "start", "start", "subscribe", "backlog"]);
    assert.equal(f.source.state, "following");
    session.publish("end", { code: 1000, how: "completed", message: "" });
    assert.deepEqual(f.shown(), [1, 2]);
    assert.equal(f.run().phase, "done");
  });

  it("the router's max_concurrency_reached: 0.2-1 s doubling, then the refusal is the answer, said", async () => {
    mock.method(Math, "random", () => 0);
    const session = new FakeSession({ refusals: { start: Array.from({ length: BUSY_RETRIES + 1 }, full) } });
    const f = follow(session);
    await settle();
    for (let i = 0; i < BUSY_RETRIES; i++) {
      mock.timers.tick(f.actions.at(-1).delay);
      await settle();
    }
    const retries = f.actions.filter((a) => a.type === "retry");
    assert.deepEqual(retries.map((a) => a.delay), [200, 400, 800, 1600, 3200]);
    assert.equal(retries[0].reason, "the router holds as many calls for it as it takes");
    assert.equal(calls(session, "start"), BUSY_RETRIES + 1);
    const error = f.actions.find((a) => a.type === "event").event;
    assert.equal(error.message, "node north is still busy after 6 tries: giving up (the router holds as many calls for it as it takes)");
    assert.equal(error.code, 4503);
    assert.equal(f.actions.at(-1).close.code, 4503);
    assert.equal(f.run().phase, "refused");
    assert.equal(f.source.state, "finished");
  });

  it("a stop while it waits to try again ends the run at once; nothing more is called", async () => {
    const session = new FakeSession({ refusals: { start: [busy(1)] } });
    const f = follow(session);
    await settle();
    f.source.stop();
    assert.equal(f.source.state, "finished");
    assert.equal(f.actions.at(-1).close.reason, "stopped before the node took the run");
    mock.timers.tick(60_000);
    await settle();
    assert.deepEqual(session.calls.map((c) => c[0]), ["start"]);
  });

  it("a lost session while it waits: the wait is dropped, and the start made again on the new one", async () => {
    const session = new FakeSession({ refusals: { start: [busy(5)] } });
    session.event("start");
    const f = follow(session);
    await settle();
    f.source.suspend("lost");
    mock.timers.tick(60_000);
    await settle();
    assert.equal(calls(session, "start"), 1); // the dropped wait does not go on
    f.source.resume();
    await settle();
    assert.equal(calls(session, "start"), 2);
    assert.equal(f.source.state, "following");
  });

  it("a backlog page refused for load is tried again", async () => {
    const session = new FakeSession({ refusals: { backlog: [full()] } });
    session.event("start");
    const f = follow(session);
    await settle();
    assert.equal(calls(session, "backlog"), 1);
    assert.equal(f.actions.at(-1).type, "retry");
    mock.timers.tick(600); // 0.2 + 0.8 * 0.5 s
    await settle();
    assert.equal(calls(session, "backlog"), 2);
    assert.equal(f.source.state, "following");
    session.publish("end", { code: 1000, how: "completed", message: "" });
    assert.equal(f.run().phase, "done");
  });
});
