// The hop tables of traceroute and mtr (web/hops.js): events -> rows, the
// worst hop, the RTT bar's geometry, what each cell says.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { cellText, hopColumns, hopNumbers, hopsOf, hopsSnapshot, hopsStep, initialHops, rttBar, scaleMax, worstHop } from "../hops.js";

const hop = (n, address, rtt_ms) => ({ type: "hop", raw: `${n} ${address ?? "*"}`, hop: n, address, rtt_ms, n: n + 1, t: n });
const stats = (n, address, sent, received, rtt = {}) => ({
  type: "hop_stats", raw: null, hop: n, address, addresses: address ? [address] : [], sent, received,
  loss_pct: sent ? Math.round((1000 * (sent - received)) / sent) / 10 : null,
  last_ms: null, best_ms: null, avg_ms: null, worst_ms: null, stdev_ms: null, jitter_ms: null, ...rtt, n: 1, t: 0,
});

describe("traceroute rows", () => {
  it("fill row by row as hops arrive, lost probes as null", () => {
    let s = initialHops("hop-table");
    s = hopsStep(s, { type: "start", tool: "hop-table", target: "x" });
    s = hopsStep(s, hop(1, "10.0.0.1", [0.1, 0.2, 0.3]));
    assert.equal(s.rows.length, 1);
    s = hopsStep(s, hop(2, null, [null, null, null]));
    s = hopsStep(s, hop(3, "10.0.2.2", [1.5, null, 1.25]));
    assert.deepEqual(s.rows.map((r) => [r.hop, r.address]), [[1, "10.0.0.1"], [2, null], [3, "10.0.2.2"]]);
    assert.deepEqual(s.rows[2].rtt_ms, [1.5, null, 1.25]);
    assert.equal(s.probes, 3);
  });
  it("a hop said again replaces its row; rows stay in hop order", () => {
    const s = hopsOf([hop(2, "b", [1]), hop(1, "a", [1]), hop(2, "c", [2, 3])], "hop-table");
    assert.deepEqual(s.rows.map((r) => [r.hop, r.address]), [[1, "a"], [2, "c"]]);
    assert.equal(s.probes, 2);
  });
  it("events that are not about hops, and nonsense, change nothing", () => {
    const s = initialHops("hop-table");
    for (const e of [{ type: "line", raw: "x" }, { type: "hop", hop: 0 }, { type: "hop", hop: "1" }, null, { type: "end" }]) {
      assert.equal(hopsStep(s, e), s);
    }
  });
  it("cells: * for no address and a lost probe, nothing for a probe not sent", () => {
    const s = hopsOf([hop(1, null, [null, 0.5])], "hop-table");
    const cols = hopColumns("hop-table", 3).map((c) => c.key);
    assert.deepEqual(cols, ["address", "rtt.0", "rtt.1", "rtt.2"]);
    assert.deepEqual(cols.map((k) => cellText(s.rows[0], k)), ["*", "*", "0.500", ""]);
    assert.equal(cellText(null, "address"), "");
  });
  it("the table is of the display kind it was made for; a start changes nothing", () => {
    const s = initialHops("hop-stats");
    assert.equal(hopsStep(s, { type: "start", tool: "x" }), s);
    assert.equal(initialHops().display, "hop-table");
  });
});

describe("mtr rows", () => {
  const rounds = [
    stats(1, "10.0.0.1", 1, 1, { last_ms: 0.2, best_ms: 0.2, avg_ms: 0.2, worst_ms: 0.2, stdev_ms: 0 }),
    stats(2, "10.0.1.1", 1, 0),
    stats(1, "10.0.0.1", 2, 2, { last_ms: 0.4, best_ms: 0.2, avg_ms: 0.3, worst_ms: 0.4, stdev_ms: 0.1 }),
    stats(2, "10.0.1.1", 2, 1, { last_ms: 3, best_ms: 3, avg_ms: 3, worst_ms: 3, stdev_ms: 0 }),
    stats(3, "10.0.2.2", 2, 2, { last_ms: 5, best_ms: 4, avg_ms: 4.5, worst_ms: 5, stdev_ms: 0.5 }),
  ];
  it("each round replaces its hop's row", () => {
    const s = hopsOf(rounds, "hop-stats");
    assert.equal(s.rows.length, 3);
    assert.deepEqual(s.rows.map((r) => [r.hop, r.sent, r.received, r.loss_pct]), [[1, 2, 2, 0], [2, 2, 1, 50], [3, 2, 2, 0]]);
    assert.equal(s.rows[0].avg_ms, 0.3);
    assert.equal(s.rounds, 2);
  });
  it("the worst hop: the highest loss, then the highest average", () => {
    const s = hopsOf(rounds, "hop-stats");
    assert.equal(worstHop(s.rows), 2);
    const noLoss = hopsOf([rounds[2], rounds[4]], "hop-stats");
    assert.equal(worstHop(noLoss.rows), 3);
    assert.equal(worstHop([]), null);
    assert.equal(hopsSnapshot(s).worst, 2);
  });
  it("a hop before its statistics: a row with its address only", () => {
    let s = hopsOf([hop(1, "10.0.0.1", [0.3])], "hop-stats");
    assert.deepEqual([s.rows[0].address, s.rows[0].sent], ["10.0.0.1", null]);
    assert.equal(cellText(s.rows[0], "sent"), "—");
    s = hopsStep(s, rounds[0]);
    assert.equal(s.rows[0].sent, 1);
    assert.equal(hopsStep(s, hop(1, "10.9.9.9", [1])), s); // the statistics' address stays
  });
  it("loss from sent and received when the event has none", () => {
    const s = hopsOf([{ ...stats(1, "a", 4, 3), loss_pct: null }], "hop-stats");
    assert.equal(s.rows[0].loss_pct, 25);
  });
  it("several addresses at one hop: the first, and how many more", () => {
    const s = hopsOf([{ ...stats(1, "a", 1, 1), addresses: ["a", "b", "c"] }], "hop-stats");
    assert.equal(cellText(s.rows[0], "address"), "a (+2)");
  });
  it("cells and columns", () => {
    const row = hopsOf(rounds, "hop-stats").rows[1];
    const keys = hopColumns("hop-stats").map((c) => c.key);
    assert.deepEqual(keys, ["address", "loss_pct", "sent", "last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms", "bar"]);
    assert.deepEqual(keys.map((k) => cellText(row, k)), ["10.0.1.1", "50", "2", "3.00", "3.00", "3.00", "3.00", "0.000", ""]);
  });
});

describe("tables of several nodes", () => {
  const a = hopsOf([stats(1, "a1", 1, 1, { best_ms: 1, worst_ms: 2, avg_ms: 1.5, last_ms: 2 })], "hop-stats");
  const b = hopsOf([stats(1, "b1", 1, 1, { best_ms: 1, worst_ms: 8, avg_ms: 4, last_ms: 8 }), stats(3, "b3", 1, 0)], "hop-stats");
  it("every hop number once, ascending", () => {
    assert.deepEqual(hopNumbers([a, b]), [1, 3]);
  });
  it("one scale for every bar: the largest RTT of any node", () => {
    assert.equal(scaleMax([a, b]), 8);
    assert.equal(scaleMax([hopsOf([hop(1, "x", [null, 7])], "hop-table")]), 7);
  });
  it("the bar: best..worst, avg and last, in percent of the scale", () => {
    assert.deepEqual(rttBar(a.rows[0], 8), { from: 12.5, to: 25, avg: 18.75, last: 25 });
    assert.equal(rttBar(b.rows[1], 8), null); // nothing came back
    assert.equal(rttBar(a.rows[0], 0), null);
  });
});
