// The WebSocket run source (web/ws-source.js) against a FAKE WebSocket: a
// busy refusal (4503 "busy, retry in N s") is reported as a retry, and the
// request goes again on a new socket after N s and jitter; a stop while it
// waits ends it; the tries are bounded. Time is node:test's mock timers.
import assert from "node:assert/strict";
import { beforeEach, describe, it, mock } from "node:test";

import { initial, step } from "../run.js";
import { CLOSE_CODES } from "../vocabulary.js";
import { BUSY_RETRIES, busyDelay } from "../retry.js";
import { WsSource } from "../ws-source.js";

/** A FAKE browser WebSocket: the test plays the server. */
class FakeWebSocket {
  static made = [];
  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.sent = [];
    this.readyState = 0;
    FakeWebSocket.made.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
  }
  // -- the server's side
  open() {
    this.readyState = 1;
    this.onopen();
  }
  message(event) {
    this.onmessage({ data: JSON.stringify(event) });
  }
  closeWith(code, reason) {
    this.readyState = 3;
    this.onclose({ code, reason, wasClean: true });
  }
  busy(seconds) {
    const reason = `busy, retry in ${seconds} s`;
    this.message({ type: "error", code: CLOSE_CODES.OVERLOADED, reason: "busy", message: reason });
    this.closeWith(CLOSE_CODES.OVERLOADED, reason);
  }
}

function started() {
  const actions = [];
  let run = step(initial(), { type: "begin" });
  const source = new WsSource("ws://127.0.0.1:8080/ws", { target: "127.0.0.1" }, (action) => {
    actions.push(action);
    run = step(run, action);
  });
  return { source, actions, run: () => run };
}

describe("ws-source, busy refusals", () => {
  beforeEach(() => {
    FakeWebSocket.made = [];
    globalThis.WebSocket = FakeWebSocket;
    mock.timers.reset();
    mock.timers.enable({ apis: ["setTimeout"] });
    mock.method(Math, "random", () => 0.5);
  });

  it("waits N s plus jitter, then sends the request again on a new socket", () => {
    const { actions, run } = started();
    const [first] = FakeWebSocket.made;
    first.open();
    first.busy(2);
    assert.deepEqual(actions.map((a) => a.type), ["open", "retry"]);
    assert.equal(actions[1].delay, 2500); // 2 s and a quarter (half of the most jitter)
    assert.equal(run().phase, "waiting"); // not refused: still on its way
    mock.timers.tick(2499);
    assert.equal(FakeWebSocket.made.length, 1);
    mock.timers.tick(1);
    const second = FakeWebSocket.made[1];
    assert.ok(second);
    second.open();
    assert.deepEqual(second.sent, [{ target: "127.0.0.1" }]);
    second.message({ type: "reply", raw: "64 bytes", seq: 1 });
    second.closeWith(CLOSE_CODES.NORMAL, "ping completed (exit 0)");
    assert.deepEqual(actions.map((a) => a.type), ["open", "retry", "event", "close"]);
    assert.equal(run().phase, "done");
  });

  it("a stop while it waits ends the run, and no socket is opened", () => {
    const { source, actions, run } = started();
    FakeWebSocket.made[0].open();
    FakeWebSocket.made[0].busy(1);
    source.stop();
    mock.timers.tick(60_000);
    assert.equal(FakeWebSocket.made.length, 1);
    assert.equal(actions.at(-1).type, "close");
    assert.notEqual(run().phase, "waiting");
  });

  it("gives up after BUSY_RETRIES tries: the refusal is the answer", () => {
    const { actions, run } = started();
    for (let i = 0; i <= BUSY_RETRIES; i++) {
      const socket = FakeWebSocket.made[i];
      socket.open();
      socket.busy(1);
      mock.timers.tick(1500);
    }
    assert.equal(FakeWebSocket.made.length, BUSY_RETRIES + 1);
    assert.equal(actions.filter((a) => a.type === "retry").length, BUSY_RETRIES);
    assert.deepEqual(actions.at(-1).close.code, CLOSE_CODES.OVERLOADED);
    assert.notEqual(run().phase, "waiting");
  });

  it("busyDelay reads N from the reason; one second when it says none", () => {
    assert.equal(busyDelay("busy, retry in 3 s", () => 0), 3000);
    assert.equal(busyDelay("busy, retry in 3 s", () => 1), 4500);
    assert.equal(busyDelay("overloaded", () => 0), 1000);
  });
});
