// The WAMP run source: one run through one node, as a viewer on the router.
// It reports to its sink the run machine's actions (run.js): open, event
// (in order of n, each once: sequence.js), suspend, resume, then one close;
// and two notes for the panel: {type: "joined", since}, {type: "skipped", count}.
//
// start, subscribe to the run's topic, then ask for the backlog: the backlog
// has everything published before the subscription, the subscription
// everything after. The node answers a page at a time (at most pageSize
// events numbered above `since`; start's own backlog is the first page):
// while a page comes back full, ask again from the last n it had. When the router connection drops, the app calls
// suspend(); when autobahn has joined again, resume() subscribes to the same
// topic again and asks for the backlog again, which fills the gap.
//
//   starting ─answer→ subscribing ─backlog→ following ─stop()→ stopping ─end→ finished
//   starting ─refused for load→ retrying ─a while later→ starting
//   starting | retrying | subscribing | following ─suspend()→ suspended ─resume()→ resuming ─backlog→ following
//   resuming ─node not back yet→ resuming (again, a while later)
//   any ─end, refusal, error, abort()→ finished
//
// A call refused for load (the node's pingu.error.busy "busy, retry in N s",
// the router's crossbar.error.max_concurrency_reached) is tried again after
// a while with jitter (retry.js, through wamp.retried), reported as
// {type: "retry", delay, reason}: start (in state retrying meanwhile: a stop
// then ends it at once) and each backlog page. After the last try the
// refusal is the answer.

import { isLoadRefusal } from "./retry.js";
import { CLOSE_CODES, runTopic } from "./vocabulary.js";
import { order, sequence } from "./sequence.js";
import * as wamp from "./wamp.js";

const STOP_WAIT_MS = 6000; // how long a stopped run may take to send its end
const CALL_MS = 10000; // a call that takes longer is taken as lost
const RESUME_TRIES = 30; // after a reconnection, how often to look for a node not back yet
const RESUME_DELAY_MS = 1000;
export const PAGE_SIZE = 1000; // the node's --max-backlog-page when the page is not told it
const MAX_PAGES = 10000; // a node that answers full pages for ever is not followed for ever
const JOINED_TYPES = new Set(["reply", "timeout", "hop", "hop_stats"]); // in a backlog: the run was going already

const TRANSITIONS = Object.freeze({
  starting: ["subscribing", "retrying", "suspended", "finished"],
  retrying: ["starting", "suspended", "finished"],
  subscribing: ["following", "stopping", "suspended", "finished"],
  following: ["stopping", "suspended", "finished"],
  stopping: ["finished"],
  suspended: ["resuming", "finished"],
  resuming: ["following", "suspended", "finished"],
  finished: [],
});

/** The highest n of a page (null for none). */
function lastN(page) {
  let last = null;
  for (const e of Array.isArray(page) ? page : []) if (e && typeof e.n === "number" && (last == null || e.n > last)) last = e.n;
  return last;
}

export class WampSource {
  /**
   * session: the calls it makes (wamp.js by default; the unit tests give their own);
   * pageSize: the most events the node sends in one backlog answer (/pingu-info.json's max_backlog_page).
   */
  constructor(node, request, sink, session = wamp, { pageSize } = {}) {
    this.session = session;
    this.pageSize = Number.isInteger(pageSize) && pageSize > 0 ? pageSize : PAGE_SIZE;
    this.node = node;
    this.request = request;
    this.sink = sink;
    this.state = "starting";
    this.run = null;
    this.topic = null;
    this.subscription = null;
    this.seq = sequence();
    this.filling = false;
    this.stopAsked = false;
    this.attempt = 0; // one more for every (re)start of following: stale answers are dropped
    this.resumeTries = 0;
    this.timers = new Set();
    this.begin();
  }

  /** The one place the state changes: false (and no change) for a transition the table has not. */
  to(state) {
    if (!TRANSITIONS[this.state].includes(state)) return false;
    this.state = state;
    return true;
  }

  /** A call (make() makes it), each answer within CALL_MS, tried again while it is
   * refused for load; a stale attempt's refusal is not tried again. */
  retrying(mine, make) {
    return wamp.retried(
      () => {
        if (mine !== this.attempt) throw { error: "pingu.page.stale", args: ["stale"] };
        return wamp.timed(make(), CALL_MS);
      },
      {
        who: `node ${this.node}`,
        onRetry: ({ delay, reason }) => {
          if (this.state === "starting") this.to("retrying");
          this.sink({ type: "retry", delay, reason });
        },
        // (the timer is dropped with the attempt: a suspended or finished source never goes on)
        wait: (ms) =>
          new Promise((resolve) =>
            this.later(() => {
              if (this.state === "retrying") this.to("starting");
              resolve();
            }, ms),
          ),
      },
    );
  }

  later(fn, ms) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /** Let go of the run: no more answers, timers or events count. */
  release() {
    this.attempt += 1;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.subscription?.unsubscribe().catch(() => {});
    this.subscription = null;
  }

  finish(close) {
    if (!this.to("finished")) return;
    this.release();
    this.sink({ type: "close", close });
  }

  /** Events from the topic, or (whole) a backlog: all the node still has. */
  take(events, whole = false) {
    const { seq, ready, skipped, gap } = order(this.seq, events, { whole });
    this.seq = seq;
    if (skipped) this.sink({ type: "skipped", count: skipped });
    for (const event of ready) {
      if (this.state === "finished") return;
      this.sink({ type: "event", event });
      if (event.type === "end") this.finish({ code: event.code ?? CLOSE_CODES.NORMAL, reason: event.message || "", clean: true });
    }
    // a gap (an event the subscription missed): the backlog has it
    const live = ["subscribing", "following", "stopping"].includes(this.state);
    if (gap && live && !this.filling) this.fill(this.attempt).catch(() => {});
  }

  /** The backlog from what was shown last, a page at a time, until a page is not full. */
  async fill(mine) {
    this.filling = true;
    try {
      let since = this.seq.last;
      for (let pages = 0; pages < MAX_PAGES; pages++) {
        const page = await this.retrying(mine, () => this.session.backlog(this.node, this.run, since));
        if (mine !== this.attempt) return;
        this.take(page, true);
        const last = lastN(page);
        if (!Array.isArray(page) || page.length < this.pageSize || last == null || last <= since) break;
        if (this.state === "finished") break;
        since = last;
      }
    } finally {
      if (mine === this.attempt) this.filling = false;
    }
  }

  async follow(mine) {
    const s = await this.session.subscribe(this.topic, (event) => mine === this.attempt && this.take([event]));
    if (mine !== this.attempt || this.state === "finished") {
      s.unsubscribe().catch(() => {});
      return;
    }
    this.subscription = s;
    await this.fill(mine);
  }

  async begin() {
    const mine = ++this.attempt;
    try {
      if (this.run == null) {
        const result = await this.retrying(mine, () => this.session.start(this.node, this.request));
        if (mine !== this.attempt) return;
        this.run = result.run;
        this.topic = result.topic || runTopic(this.node, result.run);
        if (this.state === "starting") this.to("subscribing");
        this.sink({ type: "open" });
        this.take(result.backlog, true);
        // someone else's run, already going: say so after its backlog
        const backlog = Array.isArray(result.backlog) ? result.backlog : [];
        if (backlog.some((e) => e && JOINED_TYPES.has(e.type))) {
          this.sink({ type: "joined", since: backlog[0]?.type === "start" ? backlog[0].t : null });
        }
        if (this.state === "finished") return;
        if (this.stopAsked) {
          this.session.stop(this.node, this.run).catch(() => {});
          this.finish({ code: CLOSE_CODES.NORMAL, reason: "stopped", clean: true });
          return;
        }
      }
      await this.follow(mine);
      if (mine !== this.attempt) return;
      if (this.state === "resuming") {
        this.to("following");
        this.resumeTries = 0;
        this.sink({ type: "resume" });
      } else if (this.state === "subscribing") {
        this.to("following");
      }
    } catch (err) {
      if (mine !== this.attempt || this.state === "finished") return;
      this.failed(wamp.describeError(err));
    }
  }

  failed(error) {
    const node = this.node;
    if (error.uri === wamp.NO_SUCH_RUN) {
      this.finish({ code: 1006, reason: `node ${node} no longer has it`, clean: false, away: true });
    } else if (this.state === "resuming" && this.resumeTries < RESUME_TRIES && !isLoadRefusal(error)) {
      // the node itself may still be on its way back to the router
      this.resumeTries += 1;
      this.later(() => this.state === "resuming" && this.session.currentGeneration() && this.begin(), RESUME_DELAY_MS);
    } else if (this.state === "starting" || (this.run == null && isLoadRefusal(error))) {
      // a refusal (or a node that is not on the router): say it as the WebSocket face does
      const message = error.uri === wamp.NO_SUCH_PROCEDURE ? `node ${node} is not on the router` : error.message;
      this.sink({ type: "event", event: { type: "error", raw: null, code: error.code, reason: error.reason, message, field: error.field } });
      this.finish({ code: error.code ?? CLOSE_CODES.BAD_REQUEST, reason: message, clean: true });
    } else {
      this.finish({ code: 1006, reason: `cannot follow the run on node ${node}: ${error.message}`, clean: false });
    }
  }

  stop() {
    if (this.state === "finished") return;
    this.stopAsked = true;
    if (this.state === "retrying") {
      this.finish({ code: CLOSE_CODES.NORMAL, reason: "stopped before the node took the run", clean: true });
      return;
    }
    if (this.state === "starting") return; // begin() stops it as soon as it is known
    if (this.state === "suspended" || this.state === "resuming") {
      // our session is gone: the node has already dropped us as a viewer
      this.finish({ code: CLOSE_CODES.NORMAL, reason: "stopped", clean: true });
      return;
    }
    if (!this.to("stopping")) return;
    const node = this.node;
    wamp
      .timed(this.session.stop(node, this.run), CALL_MS)
      .then((answer) => {
        if (answer && answer.ending === false) {
          const others = answer.viewers === 1 ? "another viewer keeps" : `${answer.viewers} other viewers keep`;
          this.finish({ code: CLOSE_CODES.NORMAL, reason: `stopped here; ${others} the run going on ${node}`, clean: true, detached: true });
        }
      })
      .catch(() => {});
    // when the run ends, its summary and end come on the topic; if not, give up waiting
    const gaveUp = { code: CLOSE_CODES.NORMAL, reason: "stopped here (the node did not confirm)", clean: true, detached: true };
    this.later(() => this.finish(gaveUp), STOP_WAIT_MS);
  }

  abort() {
    const following = this.run != null && !["suspended", "resuming"].includes(this.state);
    if (!this.to("finished")) return;
    if (following) this.session.stop(this.node, this.run).catch(() => {});
    this.release();
  }

  /** The router connection is gone (and with it the subscription). */
  suspend(detail) {
    if (this.state === "stopping" || this.stopAsked) {
      this.finish({ code: CLOSE_CODES.NORMAL, reason: "stopped", clean: true });
      return;
    }
    if (!this.to("suspended")) return;
    this.attempt += 1; // whatever was in flight belongs to the lost session
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.filling = false;
    this.subscription = null;
    this.sink({ type: "suspend", detail });
  }

  /** A new session: follow the run again, and fill the gap. */
  resume() {
    if (!this.to("resuming")) return;
    this.resumeTries = 0;
    this.begin();
  }
}
