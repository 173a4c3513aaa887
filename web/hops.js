// The hop table of a path tool's display kinds (hop-table: a line per hop,
// once; hop-stats: per-hop statistics each round), pure: events -> rows, and
// what the table shows of them (columns, cell texts, the worst hop, the RTT
// bar's geometry). No DOM: hop-table-view.js and hop-stats-view.js draw it.
//
//   let hops = initialHops(HOP_STATS);
//   hops = hopsStep(hops, event);     // start, hop, hop_stats; others change nothing
//   hops.rows                         // one per hop number, ascending
//
// hop-table: a `hop` event is the hop's row: {hop, address, addresses, rtt_ms}
// (address null for `*`, one rtt_ms per probe, null for a lost one).
// hop-stats: each round's `hop_stats` replaces its hop's row: {hop, address,
// addresses, sent, received, loss_pct, last_ms, best_ms, avg_ms, worst_ms,
// stdev_ms, jitter_ms}; a `hop` before its first statistics makes a row
// with only the address.

import { formatLoss, formatRtt } from "./stats.js";
import { HOP_STATS, HOP_TABLE } from "./tools.js";

export const STAT_KEYS = Object.freeze(["sent", "received", "loss_pct", "last_ms", "best_ms", "avg_ms", "worst_ms", "stdev_ms", "jitter_ms"]);

/** No hop yet. */
export function initialHops(display = HOP_TABLE) {
  return Object.freeze({ display, rows: Object.freeze([]), probes: 0, rounds: 0 });
}

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const orNull = (v) => (isNumber(v) ? v : null);
const text = (v) => (typeof v === "string" && v ? v : null);

/** rows with `row` in its hop's place (replacing the one there), ascending by hop. */
function put(rows, row) {
  const out = rows.filter((r) => r.hop !== row.hop);
  out.push(Object.freeze(row));
  out.sort((a, b) => a.hop - b.hop);
  return Object.freeze(out);
}

function addressesOf(event) {
  const list = Array.isArray(event.addresses) ? event.addresses.filter(text) : [];
  const first = text(event.address);
  if (first && !list.includes(first)) list.unshift(first);
  return list;
}

function traceRow(event) {
  const rtt = Array.isArray(event.rtt_ms) ? event.rtt_ms.map(orNull) : [];
  const addresses = addressesOf(event);
  return { hop: event.hop, address: addresses[0] ?? null, addresses, rtt_ms: rtt };
}

function statsRow(event) {
  const addresses = addressesOf(event);
  const row = { hop: event.hop, address: addresses[0] ?? null, addresses };
  for (const key of STAT_KEYS) row[key] = orNull(event[key]);
  if (row.loss_pct == null && row.sent) row.loss_pct = Math.round((1000 * (row.sent - (row.received ?? 0))) / row.sent) / 10;
  return row;
}

/** One event into the table. Events that are not about hops leave it as it is. */
export function hopsStep(state, event) {
  if (!event || typeof event !== "object") return state;
  if (!Number.isInteger(event.hop) || event.hop < 1) return state;
  if (event.type === "hop") {
    const row = traceRow(event);
    if (state.display === HOP_STATS) {
      // per-hop statistics make the row; a hop only says who answers there until they come
      const known = state.rows.find((r) => r.hop === row.hop);
      if (known?.address || (known && !row.address)) return state;
      const stats = known || Object.fromEntries([["hop", row.hop], ...STAT_KEYS.map((k) => [k, null])]);
      return Object.freeze({ ...state, rows: put(state.rows, { ...stats, address: row.address, addresses: row.addresses }) });
    }
    return Object.freeze({ ...state, rows: put(state.rows, row), probes: Math.max(state.probes, row.rtt_ms.length) });
  }
  if (event.type === "hop_stats") {
    const row = statsRow(event);
    return Object.freeze({ ...state, rows: put(state.rows, row), rounds: Math.max(state.rounds, row.sent ?? 0) });
  }
  return state;
}

/** Every event of a list, in order (a replay: the export, a test). */
export const hopsOf = (events, display) => events.reduce(hopsStep, initialHops(display));

/** The worst hop of per-hop statistics: the highest loss, then the highest average; null before any statistics. */
export function worstHop(rows) {
  let worst = null;
  for (const r of rows) {
    if (!r.sent) continue;
    const loss = r.loss_pct ?? 0;
    const avg = r.avg_ms ?? -Infinity;
    if (!worst || loss > worst.loss || (loss === worst.loss && avg > worst.avg)) worst = { hop: r.hop, loss, avg };
  }
  return worst ? worst.hop : null;
}

/** Every hop number any of the tables has, ascending: the rows of a table of several nodes. */
export function hopNumbers(tables) {
  return [...new Set(tables.flatMap((t) => t.rows.map((r) => r.hop)))].sort((a, b) => a - b);
}

/** The largest RTT any row of any table shows: the RTT bars' scale. */
export function scaleMax(tables) {
  let max = 0;
  for (const t of tables) {
    for (const r of t.rows) {
      for (const v of [r.worst_ms, r.last_ms, ...(r.rtt_ms || [])]) if (isNumber(v) && v > max) max = v;
    }
  }
  return max;
}

const pct = (v, max) => Math.max(0, Math.min(100, (100 * v) / max));

/** A per-hop statistics row's RTT bar on a scale of 0..max ms, in percent: {from, to, avg, last}, or null. */
export function rttBar(row, max) {
  if (!(max > 0) || !isNumber(row.best_ms) || !isNumber(row.worst_ms)) return null;
  return {
    from: pct(row.best_ms, max),
    to: pct(row.worst_ms, max),
    avg: isNumber(row.avg_ms) ? pct(row.avg_ms, max) : null,
    last: isNumber(row.last_ms) ? pct(row.last_ms, max) : null,
  };
}

/** The columns of one node's group: {key, label, title?, numeric?}. */
export function hopColumns(display, probes = 3) {
  if (display === HOP_STATS) {
    return [
      { key: "address", label: "Host" },
      { key: "loss_pct", label: "Loss %", numeric: true },
      { key: "sent", label: "Sent", numeric: true },
      { key: "last_ms", label: "Last", numeric: true },
      { key: "avg_ms", label: "Avg", numeric: true },
      { key: "best_ms", label: "Best", numeric: true },
      { key: "worst_ms", label: "Worst", numeric: true },
      { key: "stdev_ms", label: "StDev", numeric: true, title: "standard deviation of the RTT, ms" },
      { key: "bar", label: "RTT", title: "best … worst, with the average (bar) and the last (tick)" },
    ];
  }
  const columns = [{ key: "address", label: "Address" }];
  for (let i = 0; i < Math.max(1, probes); i++) columns.push({ key: `rtt.${i}`, label: `RTT ${i + 1}`, numeric: true, title: `probe ${i + 1}, ms` });
  return columns;
}

/**
 * What one cell says: a row's address (`*` for none), an RTT in ms (`*` for
 * a lost probe, "" for one not sent), a loss, a count. row null: this node
 * has no such hop (yet).
 */
export function cellText(row, key) {
  if (!row) return "";
  if (key === "address") {
    if (!row.address) return "*";
    return row.addresses?.length > 1 ? `${row.address} (+${row.addresses.length - 1})` : row.address;
  }
  if (key.startsWith("rtt.")) {
    const i = Number(key.slice(4));
    if (!row.rtt_ms || i >= row.rtt_ms.length) return "";
    return row.rtt_ms[i] == null ? "*" : formatRtt(row.rtt_ms[i]);
  }
  if (key === "loss_pct") return formatLoss(row.loss_pct);
  if (key === "sent" || key === "received") return row[key] == null ? "—" : String(row[key]);
  if (key === "bar") return "";
  return formatRtt(row[key]);
}

/** A hop table as plain data, for the test hook and the export: per source, its rows and worst hop. */
export function hopsSnapshot(state) {
  return {
    display: state.display,
    probes: state.probes,
    rounds: state.rounds,
    worst: state.display === HOP_STATS ? worstHop(state.rows) : null,
    rows: state.rows.map((r) => ({ ...r, addresses: [...r.addresses], ...(r.rtt_ms ? { rtt_ms: [...r.rtt_ms] } : {}) })),
  };
}
