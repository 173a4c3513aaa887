// Live statistics of one run as seen by one source (the WebSocket, or one
// WAMP vantage node). Pure: no DOM, no network; fed the server's events
// (see pingu/events.py) one at a time.

/** How many of the latest requests' phases a run keeps (the bars drawn). */
export const REQUESTS_KEPT = 120;

/** Round-trip statistics that update with every event. */
export class RunStats {
  constructor() {
    this.packets = new Map(); // seq -> "ok" | "lost"
    this.unnumberedSent = 0; // replies/timeouts that carried no seq
    this.unnumberedReceived = 0;
    this.samples = 0;
    this.sum = 0;
    this.sumSq = 0;
    this.min = null;
    this.max = null;
    this.last = null;
    this.sumAbsDelta = 0;
    this.deltas = 0;
    this.sorted = []; // every RTT, ascending, for percentiles
    this.duplicates = 0;
    this.errors = 0;
    this.lost = 0; // timeouts and ICMP errors reported so far
    this.summary = null; // ping's own closing figures, when they arrived
    // what the events say besides the RTT, counted: a lost probe's reason
    // (refused, timed out, unreachable), a reply's rcode or HTTP status
    this.tallies = { reason: new Map(), rcode: new Map(), status: new Map() };
    this.answers = null; // the last reply's number of answers (a DNS query's)
    this.requests = []; // the latest requests' phases: {seq, status, timings} (HTTP timings)
  }

  /** Count one value of an event's field (a text or a number; anything else is not counted). */
  tally(key, value) {
    if (typeof value !== "string" && !(typeof value === "number" && Number.isFinite(value))) return;
    const counts = this.tallies[key];
    counts.set(String(value), (counts.get(String(value)) || 0) + 1);
  }

  /**
   * Take one event. Returns what it means for the chart:
   * {rtt} for a reply, {lost: true} for a lost packet, or null.
   */
  add(event) {
    switch (event.type) {
      case "reply":
        return this.addReply(event);
      case "timeout":
        this.markLost(event.seq);
        this.tally("reason", event.reason);
        return { lost: true };
      case "line":
        if (event.error != null) {
          this.errors += 1;
          this.markLost(event.seq);
          return { lost: true };
        }
        return null;
      case "summary":
        this.summary = event;
        return null;
      default:
        return null;
    }
  }

  addReply(event) {
    if (event.dup) {
      this.duplicates += 1;
      return null;
    }
    this.tally("rcode", event.rcode);
    this.tally("status", event.status);
    if (typeof event.answers === "number") this.answers = event.answers;
    if (event.timings && typeof event.timings === "object") {
      this.requests.push(Object.freeze({ seq: event.seq ?? null, status: event.status ?? null, timings: { ...event.timings } }));
      if (this.requests.length > REQUESTS_KEPT) this.requests.shift();
    }
    if (event.seq == null) {
      this.unnumberedSent += 1;
      this.unnumberedReceived += 1;
    } else {
      this.packets.set(event.seq, "ok"); // a late reply clears an earlier "lost"
    }
    const rtt = event.rtt_ms;
    if (typeof rtt !== "number" || !Number.isFinite(rtt)) return null;
    if (this.last != null) {
      this.sumAbsDelta += Math.abs(rtt - this.last);
      this.deltas += 1;
    }
    this.last = rtt;
    this.samples += 1;
    this.sum += rtt;
    this.sumSq += rtt * rtt;
    this.min = this.min == null ? rtt : Math.min(this.min, rtt);
    this.max = this.max == null ? rtt : Math.max(this.max, rtt);
    insertSorted(this.sorted, rtt);
    return { rtt };
  }

  markLost(seq) {
    this.lost += 1;
    if (seq == null) {
      this.unnumberedSent += 1;
    } else if (this.packets.get(seq) !== "ok") {
      this.packets.set(seq, "lost");
    }
  }

  get sent() {
    if (this.summary && this.summary.transmitted != null) return this.summary.transmitted;
    return this.packets.size + this.unnumberedSent;
  }

  get received() {
    if (this.summary && this.summary.received != null) return this.summary.received;
    let ok = 0;
    for (const state of this.packets.values()) if (state === "ok") ok += 1;
    return ok + this.unnumberedReceived;
  }

  get lossPct() {
    if (this.summary && this.summary.loss_pct != null) return this.summary.loss_pct;
    const sent = this.sent;
    return sent ? (100 * (sent - this.received)) / sent : null;
  }

  get avg() {
    return this.samples ? this.sum / this.samples : null;
  }

  /** Standard deviation as ping prints it ("mdev"). */
  get mdev() {
    if (!this.samples) return null;
    const mean = this.sum / this.samples;
    return Math.sqrt(Math.max(0, this.sumSq / this.samples - mean * mean));
  }

  /** Mean absolute difference of consecutive RTTs. */
  get meanDelta() {
    return this.deltas ? this.sumAbsDelta / this.deltas : null;
  }

  percentile(p) {
    return nearestRank(this.sorted, p);
  }

  get p95() {
    return this.percentile(95);
  }

  /** Every figure at once, for display and export. */
  snapshot() {
    return {
      sent: this.sent,
      received: this.received,
      loss_pct: this.lossPct,
      last_ms: this.last,
      min_ms: this.min,
      avg_ms: this.avg,
      max_ms: this.max,
      mdev_ms: this.mdev,
      mean_delta_ms: this.meanDelta,
      p95_ms: this.p95,
      duplicates: this.duplicates,
      errors: this.errors,
      reasons: Object.fromEntries(this.tallies.reason),
      rcodes: Object.fromEntries(this.tallies.rcode),
      statuses: Object.fromEntries(this.tallies.status),
      answers: this.answers,
    };
  }
}

/** The value at percentile p of an ascending array (nearest rank); null when empty. */
export function nearestRank(sorted, p) {
  const n = sorted.length;
  if (!n) return null;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1];
}

/** Put value into an ascending array, after any equal ones (a binary search). */
export function insertSorted(array, value) {
  let lo = 0;
  let hi = array.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (array[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  array.splice(lo, 0, value);
}

/** A round-trip time without its unit: "123", "12.3", "1.23", "0.045"; "—" for none. */
export function formatRtt(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : value >= 1 ? 2 : 3;
  return value.toFixed(digits);
}

/** "12.3 ms", "0.045 ms", "—" for no value. */
export function formatMs(value) {
  const text = formatRtt(value);
  return text === "—" ? text : `${text} ms`;
}

/** A loss percentage without its unit: "0", "2.5", "100". */
export function formatLoss(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  return value.toFixed(value === 0 || value === 100 || value >= 10 ? 0 : 1);
}
