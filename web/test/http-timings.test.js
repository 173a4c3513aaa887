// The http-timings display kind's pure parts (web/http-timings-view.js): each
// request's phases, the bars on one scale, the averages, the statuses; and
// the statistics' tallies of what events say besides the RTT (web/stats.js).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { phaseAverages, phasesOf, requestBars, statusText } from "../http-timings-view.js";
import { REQUESTS_KEPT, RunStats } from "../stats.js";

const request = (seq, connect, tls, first_byte, total, status = 200) => ({ seq, status, timings: { connect, tls, first_byte, total } });

describe("http timings", () => {
  it("a request's phases: the transfer is what the others leave of the total; no TLS is 0", () => {
    assert.deepEqual(phasesOf({ connect: 1, tls: 2, first_byte: 3, total: 10 }), { connect: 1, tls: 2, first_byte: 3, rest: 4, total: 10 });
    assert.deepEqual(phasesOf({ connect: 1, tls: null, first_byte: 3, total: 4 }), { connect: 1, tls: 0, first_byte: 3, rest: 0, total: 4 });
    assert.equal(phasesOf({ connect: 5, first_byte: 5, total: 4 }).total, 10); // never shorter than its parts
    assert.equal(phasesOf(null).total, 0);
  });
  it("bars on one scale across the sources, each bar's parts adding up to it", () => {
    const { bars, max } = requestBars([[request(1, 1, null, 1, 2)], [request(1, 2, 2, 2, 8)]]);
    assert.equal(max, 8);
    assert.deepEqual(bars.map((b) => b[0].height), [25, 100]);
    for (const bar of bars.flat()) assert.equal(Math.round(bar.segments.reduce((a, s) => a + s.pct, 0)), 100);
    assert.deepEqual(bars[1][0].segments.map((s) => s.pct), [25, 25, 25, 25]);
  });
  it("averages per phase, TLS over the requests that had it", () => {
    const avg = phaseAverages([request(1, 1, null, 1, 2), request(2, 3, 4, 1, 8)]);
    assert.deepEqual(avg, { connect: 2, tls: 4, first_byte: 1, rest: 0 });
    assert.deepEqual(phaseAverages([]), { connect: null, tls: null, first_byte: null, rest: null });
  });
  it("statuses counted, ascending", () => {
    assert.equal(statusText({ 301: 1, 200: 5 }), "200 ×5 · 301 ×1");
  });
});

describe("the statistics' tallies", () => {
  it("lost probes by reason, replies by rcode and status, the last answers, the latest requests", () => {
    const s = new RunStats();
    s.add({ type: "reply", seq: 1, rtt_ms: 1, rcode: "NOERROR", answers: 2 });
    s.add({ type: "timeout", seq: 2, reason: "refused" });
    s.add({ type: "timeout", seq: 3, reason: "refused" });
    s.add({ type: "timeout", seq: 4, reason: { not: "text" } });
    s.add({ type: "reply", seq: 5, rtt_ms: 1, rcode: "SERVFAIL", answers: 0 });
    const f = s.snapshot();
    assert.deepEqual([f.reasons, f.rcodes, f.answers, f.sent, f.received], [{ refused: 2 }, { NOERROR: 1, SERVFAIL: 1 }, 0, 5, 2]);
    for (let i = 0; i < REQUESTS_KEPT + 5; i++) s.add({ type: "reply", seq: 10 + i, rtt_ms: 3, status: 200, timings: { total: 3 } });
    assert.equal(s.requests.length, REQUESTS_KEPT);
    assert.equal(s.requests[0].seq, 15);
    assert.deepEqual(s.snapshot().statuses, { 200: REQUESTS_KEPT + 5 });
  });
});
