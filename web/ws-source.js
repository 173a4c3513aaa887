// The WebSocket run source: one run over one "pingu.json" WebSocket to
// `twistd pingu`'s /ws. It reports to its sink the run machine's actions
// (run.js): {type: "open"}, {type: "event", event}, then one {type: "close"}.
//
//   connecting ─socket open→ open ─stop()→ stopping ─socket closed→ closed
//   connecting | open | stopping ─socket closed→ closed
//   any ─abort()→ closed (and nothing more is reported)

import { SUBPROTOCOL_JSON } from "./vocabulary.js";

const TRANSITIONS = Object.freeze({
  connecting: ["open", "closed"],
  open: ["stopping", "closed"],
  stopping: ["closed"],
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
    this.sink = sink;
    try {
      this.socket = new WebSocket(url, SUBPROTOCOL_JSON);
    } catch (err) {
      this.socket = null;
      queueMicrotask(() => this.closed({ code: 0, reason: String(err.message || err), clean: false }));
      return;
    }
    this.socket.onopen = () => {
      if (!this.to("open")) return;
      this.socket.send(JSON.stringify(request));
      this.sink({ type: "open" });
    };
    this.socket.onmessage = (message) => {
      if (this.state === "closed") return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        event = { type: "line", raw: String(message.data) };
      }
      if (event && typeof event === "object") this.sink({ type: "event", event });
    };
    this.socket.onclose = (close) => this.closed({ code: close.code, reason: close.reason, clean: close.wasClean });
  }

  /** The one place the state changes: false (and no change) for a transition the table has not. */
  to(state) {
    if (!TRANSITIONS[this.state].includes(state)) return false;
    this.state = state;
    return true;
  }

  closed(close) {
    if (this.to("closed")) this.sink({ type: "close", close });
  }

  /** Ask ping to stop (its statistics and the close still come). */
  stop() {
    const { socket } = this;
    if (this.state === "open" && this.to("stopping")) socket.send(JSON.stringify({ stop: true }));
    else if (this.state === "connecting" && socket) socket.close();
  }

  /** Close now; report nothing more. */
  abort() {
    const { socket } = this;
    if (!this.to("closed")) return;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "panel closed");
  }
}
