// Gap filling by n (web/sequence.js): the topic and the backlog, in any order, each event once.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { order, sequence } from "../sequence.js";

const e = (n, type = "reply") => ({ n, type, seq: n });
const ns = (events) => events.map((x) => x.n);

/** Feed batches ([events, whole]) in turn; all that became ready, and the last result. */
function feed(batches) {
  let seq = sequence();
  const shown = [];
  let last;
  for (const [events, whole] of batches) {
    last = order(seq, events, { whole });
    seq = last.seq;
    shown.push(...last.ready);
  }
  return { shown, last, seq };
}

describe("order by n", () => {
  it("passes events that come in order", () => {
    const { shown, last } = feed([[[e(1), e(2), e(3)]]]);
    assert.deepEqual(ns(shown), [1, 2, 3]);
    assert.equal(last.gap, false);
    assert.equal(last.seq.last, 3);
  });
  it("drops what was shown already", () => {
    const { shown } = feed([[[e(1), e(2)]], [[e(2), e(1), e(3)]]]);
    assert.deepEqual(ns(shown), [1, 2, 3]);
  });
  it("holds events back behind a gap, and says so", () => {
    let r = order(sequence(), [e(1), e(3), e(4)]);
    assert.deepEqual(ns(r.ready), [1]);
    assert.equal(r.gap, true);
    r = order(r.seq, [e(2)]);
    assert.deepEqual(ns(r.ready), [2, 3, 4]);
    assert.equal(r.gap, false);
  });
  it("subscribe, then the backlog: the overlap once, nothing lost", () => {
    // live events 5 and 6 arrive before the backlog that has 1..5
    const { shown, last } = feed([[[e(5), e(6)]], [[1, 2, 3, 4, 5].map((n) => e(n)), true]]);
    assert.deepEqual(ns(shown), [1, 2, 3, 4, 5, 6]);
    assert.equal(last.gap, false);
  });
  it("after a reconnection, the backlog fills the gap the topic left", () => {
    // shown 1..4; the connection drops; back, the new subscription brings 9, then the backlog 1..9
    const { shown, last } = feed([[[1, 2, 3, 4].map((n) => e(n))], [[e(9)]], [[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => e(n)), true]]);
    assert.deepEqual(ns(shown), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(last.skipped, 0);
  });
  it("a backlog that starts late (the node keeps only so many): skips to it, and counts what is gone", () => {
    const { shown, last } = feed([[[10, 11, 12].map((n) => e(n)), true]]);
    assert.deepEqual(ns(shown), [10, 11, 12]);
    assert.equal(last.skipped, 9);
  });
  it("a late backlog drops what was held back from before it", () => {
    const { shown, last } = feed([[[e(1)]], [[e(3)]], [[e(20), e(21)], true]]);
    assert.deepEqual(ns(shown), [1, 20, 21]);
    assert.equal(last.skipped, 18);
    assert.equal(last.gap, false);
  });
  it("only a backlog may skip: live events behind a gap wait", () => {
    const r = order(sequence(), [e(10)]);
    assert.deepEqual(r.ready, []);
    assert.equal(r.skipped, 0);
    assert.equal(r.gap, true);
  });
  it("passes events without n as they come, and ignores what is not an event", () => {
    const plain = { type: "line", raw: "x" };
    const r = order(sequence(), [null, 7, plain, e(1)]);
    assert.deepEqual(r.ready, [plain, e(1)]);
    assert.deepEqual(order(sequence(), "nonsense").ready, []);
  });
  it("an end arrives in its place", () => {
    const { shown } = feed([[[e(2, "end")]], [[e(1)], true]]);
    assert.deepEqual(shown.map((x) => x.type), ["reply", "end"]);
  });
  it("never changes the sequence it is given", () => {
    const s0 = order(sequence(), [e(1), e(3)]).seq;
    const pending = [...s0.pending.keys()];
    order(s0, [e(2)]);
    assert.equal(s0.last, 1);
    assert.deepEqual([...s0.pending.keys()], pending);
  });
});
