// The "smoke" of a long run (after SmokePing): its replies in time buckets,
// each with the median RTT, the spread (p10–p90, min–max) and the packets
// lost. Pure: no DOM; fed one reply or loss at a time, in O(log k) for a
// bucket of k replies, never a pass over every reply. Only when the run
// outgrows `maxBuckets` does the bucket width step up (1 s, 2 s, 5 s, … 1 h)
// and the buckets are built again from the kept records: a handful of times
// in a run, not once per reply.
//
// Buckets are aligned to whole multiples of their width in clock time, so
// that their edges fall on whole seconds and minutes. Several series (one
// per WAMP vantage node) share one grid: one x array for the chart.
//
// A packet belongs to the bucket of its first report: a reply that comes
// after its timeout was reported ("late") takes the loss off the timeout's
// bucket and puts its RTT there, even when the reply itself arrives in a
// later bucket.

import { insertSorted, nearestRank } from "./stats.js";

/** Bucket widths in seconds, each a whole clock unit. */
export const WIDTHS = Object.freeze([1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400]);

/** The first index of an ascending array whose value is >= x. */
export function lowerBound(array, x) {
  let lo = 0;
  let hi = array.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (array[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const emptyBucket = () => ({ rtts: [], lost: 0 });

/** One bucket's figures: {replies, lost, loss (0..1), min, p10, median, p90, max}; null RTTs without a reply. */
export function bucketFigures({ rtts, lost }) {
  const replies = rtts.length;
  return {
    replies,
    lost,
    loss: replies + lost ? lost / (replies + lost) : null,
    min: replies ? rtts[0] : null,
    p10: nearestRank(rtts, 10),
    median: nearestRank(rtts, 50),
    p90: nearestRank(rtts, 90),
    max: replies ? rtts[replies - 1] : null,
  };
}

export const FIGURES = Object.freeze(["median", "p10", "p90", "min", "max", "loss", "replies", "lost"]);

export class Smoke {
  /** series: how many sources share the grid; maxBuckets: the most buckets before they widen. */
  constructor(series = 1, { maxBuckets = 150, widths = WIDTHS } = {}) {
    this.seriesCount = series;
    this.maxBuckets = maxBuckets;
    this.widths = widths;
    this.widthIndex = 0;
    this.records = []; // {t, series, rtt | null, seq}: what a rebuild reads
    this.lostBySeq = new Map(); // "series:seq" -> the record of a loss a late reply may still clear
    this.rebuilds = 0; // how often the buckets were built again (the tests read it)
    this.clear();
  }

  get width() {
    return this.widths[this.widthIndex];
  }

  clear() {
    this.first = null; // the first bucket's index (time / width)
    this.buckets = this.seriesList(() => []); // per series, per bucket from `first`
    this.data = { xs: [], series: this.seriesList(() => Object.fromEntries(FIGURES.map((f) => [f, []]))) };
  }

  seriesList(make) {
    return Array.from({ length: this.seriesCount }, make);
  }

  /** Replies and losses taken so far. */
  get size() {
    return this.records.length;
  }

  /** A reply of `series` at time t (seconds): rtt in ms; seq when ping numbered it. */
  reply(series, t, rtt, seq = null) {
    const key = seq == null ? null : `${series}:${seq}`;
    const lost = key == null ? undefined : this.lostBySeq.get(key);
    if (lost) {
      // late: its timeout was counted in the bucket of its first report
      this.lostBySeq.delete(key);
      lost.rtt = rtt;
      const bucket = this.bucketAt(series, lost.t);
      bucket.lost -= 1;
      insertSorted(bucket.rtts, rtt);
      this.refresh(series, this.indexOf(lost.t));
      return;
    }
    this.take({ t, series, rtt, seq });
  }

  /** A lost packet of `series` at time t (a timeout, an ICMP error). */
  loss(series, t, seq = null) {
    const key = seq == null ? null : `${series}:${seq}`;
    if (key != null && this.lostBySeq.has(key)) return; // said twice: one packet
    const record = { t, series, rtt: null, seq };
    if (key != null) this.lostBySeq.set(key, record);
    this.take(record);
  }

  take(record) {
    this.records.push(record);
    const index = this.indexOf(record.t);
    if (this.first != null && this.spanWith(index) > this.maxBuckets) {
      this.rebuild(index);
      return;
    }
    this.place(record);
  }

  indexOf(t) {
    return Math.floor(t / this.width);
  }

  /** How many buckets the grid would span with bucket `index` in it. */
  spanWith(index) {
    const last = this.first + this.data.xs.length - 1;
    return Math.max(last, index) - Math.min(this.first, index) + 1;
  }

  /** Widen the buckets until the grid, with bucket `index` in it, fits in maxBuckets; then place every record again. */
  rebuild(index) {
    const fromT = Math.min(this.first, index) * this.width;
    const toT = (Math.max(this.first + this.data.xs.length - 1, index) + 1) * this.width;
    while (this.widthIndex < this.widths.length - 1) {
      this.widthIndex += 1;
      if (Math.ceil(toT / this.width) - Math.floor(fromT / this.width) <= this.maxBuckets) break;
    }
    this.rebuilds += 1;
    this.clear();
    for (const record of this.records) this.place(record);
  }

  /** Put one record into its bucket (the grid grows to reach it) and refresh that bucket's figures. */
  place(record) {
    const bucket = this.bucketAt(record.series, record.t);
    if (record.rtt == null) bucket.lost += 1;
    else insertSorted(bucket.rtts, record.rtt);
    this.refresh(record.series, this.indexOf(record.t));
  }

  /** Series `series`'s bucket at time t, the grid extended (before or after) to hold it. */
  bucketAt(series, t) {
    const index = this.indexOf(t);
    if (this.first == null) this.first = index;
    while (index < this.first) this.grow(-1);
    while (index >= this.first + this.data.xs.length) this.grow(1);
    return this.buckets[series][index - this.first];
  }

  /** One more bucket at the end (1) or the start (-1) of every series. */
  grow(end) {
    const add = end > 0 ? "push" : "unshift";
    if (end < 0) this.first -= 1;
    const index = end > 0 ? this.first + this.data.xs.length : this.first;
    this.data.xs[add]((index + 0.5) * this.width);
    for (let s = 0; s < this.seriesCount; s += 1) {
      this.buckets[s][add](emptyBucket());
      for (const f of FIGURES) this.data.series[s][f][add](f === "replies" || f === "lost" ? 0 : null);
    }
  }

  refresh(series, index) {
    const i = index - this.first;
    const figures = bucketFigures(this.buckets[series][i]);
    const out = this.data.series[series];
    for (const f of FIGURES) out[f][i] = figures[f];
  }

  /** The figures of the bucket holding time t, for `series` (null outside the grid). */
  at(series, t) {
    if (this.first == null) return null;
    const i = this.indexOf(t) - this.first;
    const bucket = this.buckets[series][i];
    return bucket ? { start: (this.first + i) * this.width, width: this.width, ...bucketFigures(bucket) } : null;
  }
}
