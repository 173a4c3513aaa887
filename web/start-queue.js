// The page's own pacing of the runs it starts, so that the server never has
// to refuse one for the page's haste: per place a run starts (the one
// `twistd pingu`, or each WAMP node), the limits it read from
// /pingu-info.json -- starts per second, runs at once, connections at once,
// sockets in their handshake at once -- and the starts waiting for them, in
// the order they were asked. Pure: the clock and the timer are given (the
// unit tests give their own).
//
// A start holds, from the moment it goes: one start (a token of the same
// bucket the server keeps, pingu/clients.py's RateLimit), one run until
// ended(), one connection until closed(), one handshake until opened() or
// closed().

/**
 * The share of the server's rate the page uses, and the tokens it keeps in
 * hand: the server counts a start when the request arrives, which may be a
 * little later or sooner than the page sent it (a socket opens in a
 * variable time). With one token in hand and 90% of the rate, two starts may
 * arrive up to 1/(0.9 rate) apart from when they were sent -- 111 ms at the
 * default 10 a second -- and still be within the server's bucket.
 */
export const RATE_SHARE = 0.9;
export const TOKENS_IN_HAND = 1;

/**
 * Sockets in their handshake at once, whatever the server allows: a browser
 * opens one WebSocket to a host at a time anyway (RFC 6455, 4.1), and the
 * next start then takes its token only after the previous request went out
 * (ws-source.js sends it before it reports the socket open), so starts reach
 * the server in the order and at the pace they were taken, not bunched
 * behind a slow handshake. It also leaves the server's handshake cap to the
 * page's own idle HTTP connections (a browser keeps up to 6 per host).
 */
export const HANDSHAKES_AT_ONCE = 1;

/** The limits of /pingu-info.json (or a node's) that pacing reads, by the names the server gives them. */
export function pacingLimits(limits, { sockets = true } = {}) {
  const l = limits || {};
  const positive = (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : Infinity);
  return {
    startsPerSecond: positive(l.max_starts_per_second),
    runs: positive(l.max_runs_per_client),
    // a WAMP node's runs share one session: no socket of their own
    connections: sockets ? positive(l.max_connections_per_client) : Infinity,
    handshakes: sockets ? Math.min(HANDSHAKES_AT_ONCE, positive(l.max_handshakes_per_client)) : Infinity,
  };
}

/**
 * The calls a WAMP start costs at its node, each counted against
 * max_calls_per_second: start, the backlog after subscribing, and one to
 * spare (a second backlog page, a stop).
 */
export const CALLS_PER_START = 3;

/** A WAMP node's limits (its pingu.<node>.limits) for pacing: no sockets of its own, its calls and watched runs count too. */
export function nodePacingLimits(limits) {
  const l = limits || {};
  const paced = pacingLimits(l, { sockets: false });
  const calls = pacingLimits({ max_starts_per_second: l.max_calls_per_second / CALLS_PER_START, max_runs_per_client: l.max_watched_per_client });
  return { ...paced, startsPerSecond: Math.min(paced.startsPerSecond, calls.startsPerSecond), runs: Math.min(paced.runs, calls.runs) };
}

const TRANSITIONS = Object.freeze({ waiting: ["going", "cancelled"], going: ["done"], cancelled: [], done: [] });

class Place {
  constructor(limits, now) {
    this.limits = limits;
    const rate = limits.startsPerSecond;
    this.rate = Number.isFinite(rate) ? rate * RATE_SHARE : Infinity;
    this.full = Number.isFinite(rate) ? Math.max(1, Math.floor(Math.max(1, rate) - TOKENS_IN_HAND)) : Infinity;
    this.tokens = this.full;
    this.updated = now;
    this.runs = 0;
    this.connections = 0;
    this.handshakes = 0;
  }

  refill(now) {
    if (!Number.isFinite(this.rate)) return;
    this.tokens = Math.min(this.full, this.tokens + (now - this.updated) * this.rate);
    this.updated = now;
  }

  /** Seconds until a start may go (0: now; Infinity: when something ends). */
  wait(now) {
    const l = this.limits;
    if (this.runs >= l.runs || this.connections >= l.connections || this.handshakes >= l.handshakes) return Infinity;
    this.refill(now);
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.rate;
  }
}

export class StartQueue {
  /** now(): seconds; later(fn, ms) -> handle; cancelLater(handle); changed(): the waiting list changed. */
  constructor({ now, later, cancelLater, changed = () => {} }) {
    this.now = now;
    this.later = later;
    this.cancelLater = cancelLater;
    this.changed = changed;
    this.places = new Map(); // key -> Place
    this.limitsOf = new Map(); // key -> pacing limits
    this.queue = []; // tickets waiting, in the order asked
    this.timer = null;
  }

  /** The limits of place `key` (null: the WebSocket server; a node's name in WAMP mode). */
  setLimits(key, limits) {
    this.limitsOf.set(key, limits);
    const place = this.places.get(key);
    if (place) place.limits = limits;
    this.pump();
  }

  place(key) {
    let place = this.places.get(key);
    if (!place) {
      place = new Place(this.limitsOf.get(key) || pacingLimits(null), this.now());
      this.places.set(key, place);
    }
    return place;
  }

  /** The most runs that may ever go at once at `key`. */
  capacity(key) {
    const l = this.limitsOf.get(key) || pacingLimits(null);
    return Math.min(l.runs, l.connections);
  }

  /** Ask to start at `key`: go(ticket) is called once the limits allow (maybe at once). */
  enqueue(key, go) {
    const ticket = { key, go, state: "waiting", run: false, connection: false, handshake: false };
    this.queue.push(ticket);
    this.pump();
    if (ticket.state === "waiting") this.changed();
    return ticket;
  }

  to(ticket, state) {
    if (!TRANSITIONS[ticket.state].includes(state)) return false;
    ticket.state = state;
    return true;
  }

  /** A waiting start is no longer wanted (its panel was stopped or closed). */
  cancel(ticket) {
    if (!this.to(ticket, "cancelled")) return;
    this.queue.splice(this.queue.indexOf(ticket), 1);
    this.changed();
  }

  /** The socket opened: its handshake is over. */
  opened(ticket) {
    this.release(ticket, "handshake");
  }

  /** The run ended (its process is gone on the server). */
  ended(ticket) {
    this.release(ticket, "run");
  }

  /** The socket closed (or the WAMP run finished): everything it held is free. */
  closed(ticket) {
    for (const what of ["handshake", "run", "connection"]) this.release(ticket, what, false);
    if (ticket.state === "waiting") this.cancel(ticket);
    else this.to(ticket, "done");
    this.pump();
  }

  release(ticket, what, pump = true) {
    if (!ticket[what]) return;
    ticket[what] = false;
    const place = this.place(ticket.key);
    place[what === "run" ? "runs" : what === "connection" ? "connections" : "handshakes"] -= 1;
    if (pump) this.pump();
  }

  /** Start every waiting ticket that may go now, in order per place; wake up when the next may. */
  pump() {
    if (this.timer != null) {
      this.cancelLater(this.timer);
      this.timer = null;
    }
    const now = this.now();
    let soonest = Infinity;
    const blocked = new Set(); // a place whose first waiting start cannot go: the later ones wait too
    const going = [];
    for (const ticket of [...this.queue]) {
      if (blocked.has(ticket.key)) continue;
      const place = this.place(ticket.key);
      const wait = place.wait(now);
      if (wait > 0) {
        blocked.add(ticket.key);
        soonest = Math.min(soonest, wait);
        continue;
      }
      place.tokens -= 1;
      place.runs += 1;
      place.connections += 1;
      place.handshakes += 1;
      Object.assign(ticket, { run: true, connection: true, handshake: true });
      this.to(ticket, "going");
      this.queue.splice(this.queue.indexOf(ticket), 1);
      going.push(ticket);
    }
    if (Number.isFinite(soonest)) this.timer = this.later(() => this.pump(), Math.ceil(soonest * 1000));
    if (going.length) this.changed();
    for (const ticket of going) ticket.go(ticket);
  }

  /** How many wait, at `key` or in all. */
  waiting(key) {
    return key === undefined ? this.queue.length : this.queue.filter((t) => t.key === key).length;
  }

  /** A waiting ticket's place in its queue (1: next), or 0. */
  position(ticket) {
    let n = 0;
    for (const t of this.queue) {
      if (t.key === ticket.key) n += 1;
      if (t === ticket) return n;
    }
    return 0;
  }
}
