// The smoke chart's buckets (web/smoke.js): bucketing, percentiles, loss,
// late replies across a bucket edge, and widening as the run grows.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Smoke, WIDTHS, bucketFigures, lowerBound } from "../smoke.js";
import { nearestRank } from "../stats.js";

const figures = (smoke, s = 0) => smoke.data.series[s];

describe("nearestRank", () => {
  it("is stats.js's percentile: the ceil(p/100*n)th value", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(nearestRank(sorted, 10), 1);
    assert.equal(nearestRank(sorted, 50), 5);
    assert.equal(nearestRank(sorted, 90), 9);
    assert.equal(nearestRank(sorted, 100), 10);
    assert.equal(nearestRank([7], 10), 7);
    assert.equal(nearestRank([], 50), null);
  });
});

describe("Smoke: bucketing", () => {
  it("puts replies into buckets aligned to whole seconds, centred x", () => {
    const smoke = new Smoke();
    smoke.reply(0, 100.2, 10, 1);
    smoke.reply(0, 100.9, 30, 2);
    smoke.reply(0, 101.0, 20, 3); // the next second's edge: the next bucket
    smoke.reply(0, 103.5, 40, 4); // a bucket with nothing in between
    assert.deepEqual(smoke.data.xs, [100.5, 101.5, 102.5, 103.5]);
    assert.deepEqual(figures(smoke).replies, [2, 1, 0, 1]);
    assert.deepEqual(figures(smoke).min, [10, 20, null, 40]);
    assert.deepEqual(figures(smoke).max, [30, 20, null, 40]);
  });

  it("gives each bucket its median, p10, p90, min and max", () => {
    const smoke = new Smoke();
    // 1..20 ms in one second, shuffled
    const rtts = [13, 2, 19, 7, 1, 20, 5, 11, 16, 3, 9, 18, 4, 14, 6, 17, 8, 12, 10, 15];
    rtts.forEach((rtt, i) => smoke.reply(0, 50 + i / 25, rtt, i));
    const f = smoke.at(0, 50.5);
    assert.deepEqual(
      { min: f.min, p10: f.p10, median: f.median, p90: f.p90, max: f.max, replies: f.replies },
      { min: 1, p10: 2, median: 10, p90: 18, max: 20, replies: 20 },
    );
    assert.equal(f.start, 50);
    assert.equal(f.width, 1);
  });

  it("keeps series apart on one grid", () => {
    const smoke = new Smoke(2);
    smoke.reply(0, 10.1, 5, 1);
    smoke.reply(1, 12.1, 50, 1);
    assert.deepEqual(smoke.data.xs, [10.5, 11.5, 12.5]);
    assert.deepEqual(figures(smoke, 0).median, [5, null, null]);
    assert.deepEqual(figures(smoke, 1).median, [null, null, 50]);
  });

  it("grows the grid backwards for an earlier time (another node's clock)", () => {
    const smoke = new Smoke(2);
    smoke.reply(0, 10.1, 5, 1);
    smoke.reply(1, 8.9, 7, 1);
    assert.deepEqual(smoke.data.xs, [8.5, 9.5, 10.5]);
    assert.deepEqual(figures(smoke, 1).median, [7, null, null]);
    assert.deepEqual(figures(smoke, 0).median, [null, null, 5]);
  });
});

describe("Smoke: loss", () => {
  it("counts losses per bucket and their share of the packets", () => {
    const smoke = new Smoke();
    smoke.reply(0, 1.0, 10, 1);
    smoke.loss(0, 1.2, 2);
    smoke.reply(0, 1.4, 10, 3);
    smoke.loss(0, 1.6, 4);
    smoke.loss(0, 2.1, 5);
    assert.deepEqual(figures(smoke).lost, [2, 1]);
    assert.deepEqual(figures(smoke).loss, [0.5, 1]);
    assert.deepEqual(figures(smoke).median, [10, null]); // a bucket of losses only: no RTT
  });

  it("counts a loss said twice for one seq once", () => {
    const smoke = new Smoke();
    smoke.loss(0, 1.2, 7);
    smoke.loss(0, 1.3, 7);
    assert.deepEqual(figures(smoke).lost, [1]);
  });

  it("counts losses without a seq each", () => {
    const smoke = new Smoke();
    smoke.loss(0, 1.2);
    smoke.loss(0, 1.3);
    assert.deepEqual(figures(smoke).lost, [2]);
  });
});

describe("Smoke: a late reply", () => {
  it("takes the loss off its timeout's bucket, across a bucket edge, and puts its RTT there", () => {
    const smoke = new Smoke();
    smoke.reply(0, 4.5, 20, 1);
    smoke.loss(0, 4.9, 2); // "no answer yet for icmp_seq=2"
    smoke.reply(0, 5.1, 22, 3);
    smoke.reply(0, 5.3, 1300, 2); // seq 2 after all, in the next second
    assert.deepEqual(figures(smoke).lost, [0, 0]);
    assert.deepEqual(figures(smoke).replies, [2, 1]);
    assert.deepEqual(figures(smoke).max, [1300, 22]);
    assert.deepEqual(figures(smoke).loss, [0, 0]);
  });

  it("is not taken for another series' loss of the same seq", () => {
    const smoke = new Smoke(2);
    smoke.loss(0, 4.9, 2);
    smoke.reply(1, 5.3, 30, 2);
    assert.deepEqual(figures(smoke, 0).lost, [1, 0]);
    assert.deepEqual(figures(smoke, 1).replies, [0, 1]);
  });

  it("finds its timeout's bucket after the buckets widened", () => {
    const smoke = new Smoke(1, { maxBuckets: 4 });
    smoke.loss(0, 0.5, 0);
    for (let i = 1; i <= 9; i += 1) smoke.reply(0, i + 0.5, 10, i); // 10 s: widens to 5 s buckets
    assert.equal(smoke.width, 5);
    smoke.reply(0, 9.9, 700, 0);
    assert.deepEqual(figures(smoke).lost, [0, 0]);
    assert.deepEqual(figures(smoke).max, [700, 10]);
  });
});

describe("Smoke: widening as the run grows", () => {
  it("steps the width up and builds the buckets again when they would pass maxBuckets", () => {
    const smoke = new Smoke(1, { maxBuckets: 10 });
    for (let i = 0; i < 10; i += 1) smoke.reply(0, 100 + i, i, i);
    assert.equal(smoke.width, 1);
    assert.equal(smoke.rebuilds, 0);
    smoke.reply(0, 110, 10, 10); // the 11th second: 2 s buckets
    assert.equal(smoke.width, 2);
    assert.equal(smoke.rebuilds, 1);
    assert.deepEqual(smoke.data.xs, [101, 103, 105, 107, 109, 111]);
    assert.deepEqual(figures(smoke).replies, [2, 2, 2, 2, 2, 1]);
    assert.deepEqual(figures(smoke).min, [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(figures(smoke).max, [1, 3, 5, 7, 9, 10]);
  });

  it("keeps every reply and loss through the rebuilds, and rebuilds only a few times in an hour", () => {
    const smoke = new Smoke(1, { maxBuckets: 150 });
    let lost = 0;
    for (let i = 0; i < 18_000; i += 1) {
      if (i % 97 === 0) {
        smoke.loss(0, 1000 + i * 0.2, i);
        lost += 1;
      } else smoke.reply(0, 1000 + i * 0.2, 10 + (i % 13), i);
    }
    const f = figures(smoke);
    assert.ok(smoke.data.xs.length <= 150, `${smoke.data.xs.length} buckets`);
    assert.equal(smoke.width, 30); // an hour in 30 s buckets: 121 of them
    assert.equal(f.replies.reduce((a, b) => a + b, 0), 18_000 - lost);
    assert.equal(f.lost.reduce((a, b) => a + b, 0), lost);
    assert.ok(smoke.rebuilds <= WIDTHS.indexOf(30), `${smoke.rebuilds} rebuilds`);
  });

  it("jumps several widths at once for a long gap", () => {
    const smoke = new Smoke(1, { maxBuckets: 10 });
    smoke.reply(0, 0, 1, 0);
    smoke.reply(0, 3000, 1, 1); // 50 min later: 5 min buckets would be 11, so 10 min
    assert.equal(smoke.width, 600);
    assert.equal(smoke.rebuilds, 1);
    assert.deepEqual(smoke.data.xs, [300, 900, 1500, 2100, 2700, 3300]);
    assert.deepEqual(figures(smoke).replies, [1, 0, 0, 0, 0, 1]);
  });
});

describe("bucketFigures, lowerBound", () => {
  it("says nothing of an empty bucket", () => {
    assert.deepEqual(bucketFigures({ rtts: [], lost: 0 }), {
      replies: 0, lost: 0, loss: null, min: null, p10: null, median: null, p90: null, max: null,
    }); // fmt: skip
  });

  it("finds the first index at or above x", () => {
    assert.equal(lowerBound([1, 2, 2, 5], 2), 1);
    assert.equal(lowerBound([1, 2, 2, 5], 3), 3);
    assert.equal(lowerBound([1, 2, 2, 5], 9), 4);
    assert.equal(lowerBound([], 1), 0);
  });
});
