// The WebSocket run source: one run over one "pingu.json" WebSocket to
// `twistd pingu`'s /ws. It reports to its sink the run machine's actions
// (run.js): {type: "open"}, {type: "event", event}, then one {type: "close"}.
//
//   connecting ─socket open→ open ─stop()→ stopping ─socket closed→ closed
//   connecting | open | stopping ─socket closed→ closed
//   connecting | open ─closed 4503 "busy, retry in N s"→ retrying ─N s and jitter→ connecting
//   any ─abort()→ closed (and nothing more is reported)
//
// A server behind its load refuses a new session with 4503 (pingu/lag.py):
// the source reports {type: "retry", delay, reason} and opens a new socket
// after the delay (N s plus a random up-to-half of it, so that a crowd
// refused together does not come back together), up to BUSY_RETRIES times
// (retry.js).

import { BUSY_RETRIES, busyDelay } from "./retry.js";
import { CLOSE_CODES, SUBPROTOCOL_JSON } from "./vocabulary.js";

const TRANSITIONS = Object.freeze({
  connecting: ["open", "closed", "retrying"],
  open: ["stopping", "closed", "retrying"],
  stopping: ["closed"],
  retrying: ["connecting", "closed"],
  closed: [],
});

/** The WebSocket URL of `path` relative to the page. */
export function wsURL(path, base = location.href) {
  const url = new URL(path || "ws", base);
  url.protocol = url.protocol === "https:" ? "wss:" : url.protocol === "http:" ? "ws:" : url.protocol;
  return url.href;
}

export class WsSource {
  constructor(url, request, sink) {
    this.state = "connecting";
    this.url = url;
    this.request = request;
    this.sink = sink;
    this.opened = false; // "open" is reported once, whatever the retries
    this.retries = BUSY_RETRIES;
    this.timer = null;
    this.connect();
  }

  connect() {
    let socket;
    try {
      socket = this.socket = new WebSocket(this.url, SUBPROTOCOL_JSON);
    } catch (err) {
      this.socket = null;
      queueMicrotask(() => this.closed({ code: 0, reason: String(err.message || err), clean: false }));
      return;
    }
    socket.onopen = () => {
      if (socket !== this.socket || !this.to("open")) return;
      socket.send(JSON.stringify(this.request));
      if (!this.opened) this.sink({ type: "open" });
      this.opened = true;
    };
    socket.onmessage = (message) => {
      if (socket !== this.socket || this.state === "closed") return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        event = { type: "line", raw: String(message.data) };
      }
      // a busy refusal's error event: the close that follows tells it
      if (event && event.type === "error" && event.code === CLOSE_CODES.OVERLOADED) return;
      if (event && typeof event === "object") this.sink({ type: "event", event });
    };
    socket.onclose = (close) => {
      if (socket !== this.socket) return;
      if (close.code === CLOSE_CODES.OVERLOADED && this.retry(close.reason)) return;
      this.closed({ code: close.code, reason: close.reason, clean: close.wasClean });
    };
  }

  /** After a busy refusal: report it and connect again later (false: no try left). */
  retry(reason) {
    if (this.retries <= 0 || !this.to("retrying")) return false;
    this.retries -= 1;
    const delay = busyDelay(reason);
    this.sink({ type: "retry", delay, reason });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.to("connecting")) this.connect();
    }, delay);
    return true;
  }

  /** The one place the state changes: false (and no change) for a transition the table has not. */
  to(state) {
    if (!TRANSITIONS[this.state].includes(state)) return false;
    this.state = state;
    return true;
  }

  closed(close) {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.to("closed")) this.sink({ type: "close", close });
  }

  /** Ask ping to stop (its statistics and the close still come). */
  stop() {
    const { socket } = this;
    if (this.state === "open" && this.to("stopping")) socket.send(JSON.stringify({ stop: true }));
    else if (this.state === "connecting" && socket) socket.close();
    else if (this.state === "retrying") this.closed({ code: CLOSE_CODES.NORMAL, reason: "stopped before the server took the run", clean: true });
  }

  /** Close now; report nothing more. */
  abort() {
    const { socket } = this;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!this.to("closed")) return;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "panel closed");
  }
}
