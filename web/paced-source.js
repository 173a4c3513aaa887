// A run source that waits its turn in the page's start queue (start-queue.js)
// before it opens the real one (ws-source.js, wamp-source.js), and tells the
// queue what its run holds: the socket open (handshake over), the run ended,
// the socket closed. To the panel it is a source like the others: its sink
// gets the same actions; stop() while it waits ends it as stopped, without a
// connection ever made.

export class PacedSource {
  /** queue: a StartQueue; key: where the run starts (null, or a WAMP node); open(sink): the real source. */
  constructor(queue, key, open, sink) {
    this.queue = queue;
    this.node = key;
    this.sink = sink;
    this.source = null;
    this.suspended = null; // a suspend() that came while waiting: said to the source once it exists
    this.ticket = queue.enqueue(key, () => {
      this.source = open((action) => this.took(action));
      if (this.suspended != null) this.source.suspend?.(this.suspended);
    });
  }

  /** Waiting in the queue (not started yet). */
  get waiting() {
    return this.ticket.state === "waiting";
  }

  /** 1 for the next to start, 2 after it, …; 0 once started. */
  get position() {
    return this.queue.position(this.ticket);
  }

  took(action) {
    if (action.type === "open") this.queue.opened(this.ticket);
    if (action.type === "event" && action.event?.type === "end") this.queue.ended(this.ticket);
    if (action.type === "close") this.queue.closed(this.ticket);
    this.sink(action);
  }

  stop() {
    if (this.waiting) {
      this.queue.cancel(this.ticket);
      this.sink({ type: "close", close: { code: 1000, reason: "stopped before it started", clean: true } });
      return;
    }
    this.source?.stop();
  }

  abort() {
    if (this.waiting) {
      this.queue.cancel(this.ticket);
      return;
    }
    this.source?.abort();
    this.queue.closed(this.ticket); // an aborted source reports nothing more: free what it held now
  }

  suspend(detail) {
    if (this.source) this.source.suspend?.(detail);
    else this.suspended = detail;
  }

  resume() {
    if (this.source) this.source.resume?.();
    else this.suspended = null;
  }
}
