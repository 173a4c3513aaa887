// The run's state machine (web/run.js): every transition, and what each end says.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ACTIVE, initial, isActive, outcome, panelStatus, step } from "../run.js";

const ev = (event) => ({ type: "event", event });
const close = (c) => ({ type: "close", close: { clean: true, reason: "", ...c } });
const run = (...actions) => actions.reduce(step, initial());
const running = () => run({ type: "begin" }, { type: "open" }, ev({ type: "start", target: "h", address: "127.0.0.1" }));

describe("starting", () => {
  it("begins idle", () => {
    assert.equal(initial().phase, "idle");
    assert.equal(isActive(initial()), false);
  });
  it("begin -> connecting, open -> waiting, start -> running", () => {
    const a = run({ type: "begin" });
    assert.equal(a.phase, "connecting");
    const b = step(a, { type: "open" });
    assert.equal(b.phase, "waiting");
    const c = step(b, ev({ type: "start", address: "::1" }));
    assert.equal(c.phase, "running");
    assert.equal(c.start.address, "::1");
    assert.equal(c.started, true);
    assert.equal(c.events, 1);
  });
  it("open only applies while connecting", () => {
    const r = running();
    assert.equal(step(r, { type: "open" }), r);
    assert.equal(step(initial(), { type: "open" }).phase, "idle");
  });
  for (const type of ["reply", "timeout", "line"]) {
    it(`a ${type} with no start (a run joined late) is running too`, () => {
      const s = run({ type: "begin" }, ev({ type, seq: 3 }));
      assert.equal(s.phase, "running");
      assert.equal(s.start, null);
      assert.equal(s.started, true);
    });
  }
  it("begin again starts afresh from an ended run", () => {
    const ended = step(running(), close({ code: 1000 }));
    const again = step(ended, { type: "begin" });
    assert.deepEqual({ ...again }, { ...initial(), phase: "connecting" });
  });
  it("never changes the state it is given", () => {
    const s = run({ type: "begin" });
    const before = JSON.stringify(s);
    const t = step(s, ev({ type: "start" }));
    assert.notEqual(t, s);
    assert.equal(JSON.stringify(s), before);
    assert.ok(Object.isFrozen(t));
  });
  it("leaves the state as it is for an unknown action", () => {
    const r = running();
    assert.equal(step(r, { type: "joined", since: 1 }), r);
  });
});

describe("refusal", () => {
  it("an error event, then the close: refused, with the server's message and code", () => {
    const s = run(
      { type: "begin" },
      { type: "open" },
      ev({ type: "error", code: 4403, reason: "forbidden", message: "224.0.0.1 is a multicast address", field: "target" }),
      close({ code: 4403 }),
    );
    assert.equal(s.phase, "refused");
    const o = outcome(s);
    assert.equal(o.badge, "refused");
    assert.equal(o.tone, "error");
    assert.equal(o.notice, "Refused: 224.0.0.1 is a multicast address (4403)");
  });
  it("a refusing close code without an error event: refused, in the close code's words", () => {
    const s = run({ type: "begin" }, { type: "open" }, close({ code: 4429 }));
    assert.equal(s.phase, "refused");
    assert.equal(outcome(s).notice, "Refused: too many runs — try again in a moment (4429)");
  });
});

describe("end", () => {
  it("completed: done", () => {
    const s = [ev({ type: "end", how: "completed", code: 1000 }), close({ code: 1000 })].reduce(step, running());
    assert.equal(s.phase, "done");
    assert.deepEqual(outcome(s), { badge: "done", notice: "", tone: "ok" });
  });
  it("no reply: failed, as a warning, with exit status and code", () => {
    const end = { type: "end", how: "no-reply", code: 4000, exit_code: 1, message: "ping got no reply (exit 1)" };
    const s = [ev(end), close({ code: 4000 })].reduce(step, running());
    assert.equal(s.phase, "failed");
    assert.deepEqual(outcome(s), { badge: "no reply", notice: "Ping got no reply (exit 1) (exit 1, code 4000).", tone: "warn" });
  });
  it("a ping error: failed, as an error", () => {
    const s = [ev({ type: "end", how: "ping-error", code: 4001, exit_code: 2 }), close({ code: 4001 })].reduce(step, running());
    assert.equal(s.phase, "failed");
    assert.equal(outcome(s).tone, "error");
    assert.equal(outcome(s).badge, "ping error");
  });
  it("a close code from 4000 to 4099 without an end: failed", () => {
    assert.equal(step(running(), close({ code: 4002 })).phase, "failed");
  });
  it("1000 without an end: done", () => {
    assert.equal(step(running(), close({ code: 1000 })).phase, "done");
  });
  it("events and closes after the end change nothing", () => {
    const done = step(running(), close({ code: 1000 }));
    assert.equal(step(done, ev({ type: "reply", seq: 9 })), done);
    assert.equal(step(done, close({ code: 1006 })), done);
    assert.equal(step(done, { type: "stop" }), done);
    assert.equal(step(done, { type: "suspend" }), done);
  });
});

describe("stop", () => {
  it("running -> stopping, once", () => {
    const s = step(running(), { type: "stop" });
    assert.equal(s.phase, "stopping");
    assert.equal(s.userStopped, true);
    assert.equal(step(s, { type: "stop" }), s);
  });
  it("can stop while still connecting", () => {
    assert.equal(run({ type: "begin" }, { type: "stop" }).phase, "stopping");
  });
  it("cannot stop what is not running", () => {
    assert.equal(step(initial(), { type: "stop" }).phase, "idle");
  });
  for (const how of ["completed", "signal", "no-reply"]) {
    it(`an end (${how}) after Stop: stopped`, () => {
      const s = [{ type: "stop" }, ev({ type: "end", how, code: 1000 }), close({ code: 1000 })].reduce(step, running());
      assert.equal(s.phase, "stopped");
      assert.deepEqual(outcome(s), { badge: "stopped", notice: "", tone: "info" });
    });
  }
  it("a ping error after Stop is still a failure", () => {
    const s = [{ type: "stop" }, ev({ type: "end", how: "ping-error", code: 4001 }), close({ code: 4001 })].reduce(step, running());
    assert.equal(s.phase, "failed");
  });
  it("1000 after Stop with no end: stopped", () => {
    assert.equal([{ type: "stop" }, close({ code: 1000 })].reduce(step, running()).phase, "stopped");
  });
  it("WAMP: stopped here while other viewers keep the run going (detached)", () => {
    const s = [{ type: "stop" }, close({ code: 1000, reason: "stopped here; another viewer keeps the run going on north", detached: true })].reduce(step, running());
    assert.equal(s.phase, "stopped");
    assert.equal(outcome(s).notice, "Stopped here; another viewer keeps the run going on north.");
  });
  it("detached without the user's Stop is stopped too", () => {
    assert.equal(step(running(), close({ code: 1000, detached: true, reason: "x" })).phase, "stopped");
  });
});

describe("lost connection", () => {
  it("a 1006 with events: lost, offering to reconnect", () => {
    const s = step(running(), close({ code: 1006, clean: false }));
    assert.equal(s.phase, "lost");
    const o = outcome(s);
    assert.equal(o.badge, "disconnected");
    assert.equal(o.reconnect, true);
    assert.match(o.notice, /^Connection lost before ping finished: the connection dropped \(code 1006\)\. Reconnect/);
  });
  it("a 1006 before anything came: the server could not be reached", () => {
    const s = run({ type: "begin" }, close({ code: 1006, clean: false }));
    assert.equal(s.phase, "lost");
    assert.match(outcome(s).notice, /^Could not reach the server \(code 1006\)/);
  });
  it("a node that no longer has the run (away)", () => {
    const s = step(running(), close({ code: 1006, away: true, reason: "node north no longer has it" }));
    assert.equal(s.phase, "away");
    assert.equal(outcome(s).notice, "The run ended while this page was disconnected from the router (node north no longer has it).");
  });
});

describe("reconnect and resubscribe", () => {
  it("suspend -> reconnecting, resume -> running again", () => {
    const away = step(running(), { type: "suspend", detail: "" });
    assert.equal(away.phase, "reconnecting");
    assert.equal(away.resumePhase, "running");
    assert.ok(isActive(away));
    assert.equal(step(away, { type: "suspend" }), away);
    const back = step(away, { type: "resume" });
    assert.equal(back.phase, "running");
    assert.equal(back.resumePhase, null);
  });
  it("a run that had shown nothing goes back to waiting", () => {
    const s = run({ type: "begin" }, { type: "open" }, { type: "suspend" }, { type: "resume" });
    assert.equal(s.phase, "waiting");
  });
  it("a stopping run stays stopping", () => {
    const s = [{ type: "stop" }, { type: "suspend" }, { type: "resume" }].reduce(step, running());
    assert.equal(s.phase, "stopping");
  });
  it("resume applies only while reconnecting", () => {
    const r = running();
    assert.equal(step(r, { type: "resume" }), r);
  });
  it("the backlog that fills the gap keeps the run going: events while reconnecting count", () => {
    const away = step(running(), { type: "suspend" });
    const s = [ev({ type: "reply", seq: 5 }), ev({ type: "reply", seq: 6 })].reduce(step, away);
    assert.equal(s.events, 3);
    assert.equal(s.phase, "reconnecting");
  });
  it("an end in the gap (not completed): ended while away", () => {
    const s = [{ type: "suspend" }, ev({ type: "end", how: "signal", code: 4002, message: "ping was ended by a signal" }), close({ code: 4002 })].reduce(step, running());
    assert.equal(s.endedWhileAway, true);
    assert.equal(s.phase, "away");
    const o = outcome(s);
    assert.equal(o.badge, "ended while away");
    assert.equal(o.tone, "warn");
    assert.equal(o.notice, "The run ended while this page was disconnected from the router (ping was ended by a signal).");
  });
  it("a run that completed in the gap is simply done", () => {
    const s = [{ type: "suspend" }, ev({ type: "end", how: "completed", code: 1000 }), close({ code: 1000 })].reduce(step, running());
    assert.equal(s.phase, "done");
  });
});

describe("abort", () => {
  it("any phase -> idle", () => {
    for (const s of [run({ type: "begin" }), running(), step(running(), { type: "suspend" }), step(running(), close({ code: 1000 }))]) {
      assert.equal(step(s, { type: "abort" }).phase, "idle");
    }
    const idle = initial();
    assert.equal(step(idle, { type: "abort" }), idle);
  });
});

describe("panelStatus", () => {
  const lost = step(running(), close({ code: 1006 }));
  const done = step(running(), close({ code: 1000 }));
  const refused = run({ type: "begin" }, ev({ type: "error", code: 4403, message: "no" }), close({ code: 4403 }));
  it("while any source is active: the most telling active phase", () => {
    assert.equal(panelStatus([running(), done]).badge, "live");
    assert.deepEqual(
      [panelStatus([step(running(), { type: "suspend" }), running()]).state, panelStatus([run({ type: "begin" })]).badge],
      ["reconnecting", "connecting…"],
    );
    assert.equal(panelStatus([step(running(), { type: "stop" })]).badge, "stopping…");
    assert.equal(ACTIVE.length, 5);
  });
  it("when all have ended: the worst, every notice by node", () => {
    const s = panelStatus([done, refused], ["north", "south"]);
    assert.equal(s.active, false);
    assert.equal(s.state, "error");
    assert.equal(s.badge, "refused");
    assert.equal(s.notice, "south: Refused: no (4403)");
    assert.equal(s.restartLabel, "Run again");
  });
  it("a lost connection outranks everything, and offers to reconnect", () => {
    const s = panelStatus([refused, lost], ["a", "b"]);
    assert.equal(s.state, "lost");
    assert.equal(s.restartLabel, "Reconnect");
    assert.equal(s.notice.split("\n").length, 2);
  });
  it("one source: no node prefix", () => {
    assert.equal(panelStatus([refused]).notice, "Refused: no (4403)");
    assert.equal(panelStatus([done]).state, "ok");
  });
});
