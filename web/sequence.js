// Events of a WAMP run in order of `n`, each once, pure: the topic and the
// backlog (pingu.<node>.backlog) overlap and may arrive in any order; what
// one of them lacks the other has (docs/wamp.rst: "To follow a run with no
// gap and no duplicate").
//
//   let seq = sequence();
//   ({seq, ready, skipped, gap} = order(seq, events, {whole}));
//
// `ready`: the events to show now, in order. `gap`: events are held back
// for one that has not come (ask for the backlog). `whole`: `events` is a
// backlog, everything the node still keeps: what is older than its first
// event is gone for good, and `skipped` says how many were.

/** Nothing shown yet. */
export function sequence() {
  return Object.freeze({ last: 0, pending: Object.freeze(new Map()) });
}

export function order(seq, events, { whole = false } = {}) {
  const pending = new Map(seq.pending);
  let last = seq.last;
  const ready = [];
  let first = Infinity;
  for (const event of Array.isArray(events) ? events : []) {
    if (!event || typeof event !== "object") continue;
    if (typeof event.n !== "number") {
      ready.push(event); // nothing to order it by: as it comes
      continue;
    }
    first = Math.min(first, event.n);
    if (event.n > last) pending.set(event.n, event);
  }
  let skipped = 0;
  if (whole && first !== Infinity && first > last + 1) {
    skipped = first - 1 - last;
    last = first - 1;
    for (const n of pending.keys()) if (n <= last) pending.delete(n);
  }
  while (pending.has(last + 1)) {
    last += 1;
    ready.push(pending.get(last));
    pending.delete(last);
  }
  return { seq: Object.freeze({ last, pending: Object.freeze(pending) }), ready, skipped, gap: pending.size > 0 };
}
