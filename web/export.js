// Export of one panel's runs as CSV or JSON. Everything but download() is
// pure (and tested with node --test, web/test/export.test.js). Both carry the
// tool: a first CSV column, a field of the JSON document.

import { HOP_STATS, HOP_TABLE, HTTP_TIMINGS } from "./tools.js";

export const CSV_COLUMNS = Object.freeze(["node", "n", "type", "time", "t", "seq", "ttl", "rtt_ms", "bytes", "from", "dup", "error", "raw"]);

/** An RTT series' columns: the default's, and what a lost probe or a query says besides (reason, rcode, answers). */
export const SERIES_CSV_COLUMNS = Object.freeze([
  "tool", "node", "n", "type", "time", "t", "seq", "ttl", "rtt_ms", "bytes", "from", "dup", "reason", "rcode", "answers", "error", "raw",
]);

/** The columns of HTTP timings: each request's status, its phases (timings.<phase>, ms), its size and redirect. */
export const HTTP_CSV_COLUMNS = Object.freeze([
  "tool", "node", "n", "type", "time", "t", "seq", "status", "rtt_ms", "timings.connect", "timings.tls", "timings.first_byte",
  "timings.total", "bytes", "from", "redirect", "reason", "error", "raw",
]);

/** The columns of the path display kinds' events (hop, hop_stats, and the rest). */
export const PATH_CSV_COLUMNS = Object.freeze([
  "tool", "node", "n", "type", "time", "t", "hop", "address", "addresses", "rtt_ms", "sent", "received", "loss_pct",
  "last_ms", "best_ms", "avg_ms", "worst_ms", "stdev_ms", "jitter_ms", "error", "raw",
]);

/** A panel's CSV columns, by its tool's display kind (an RTT series' for any other). */
export function csvColumns(display) {
  if (display === HOP_TABLE || display === HOP_STATS) return [...PATH_CSV_COLUMNS];
  if (display === HTTP_TIMINGS) return [...HTTP_CSV_COLUMNS];
  return [...SERIES_CSV_COLUMNS];
}

/** What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"). */
const FORMULA = /^[=+\-@\t\r]/;

/**
 * A text that a spreadsheet would take for a formula, made inert with a
 * leading single quote. Only text: numbers (a negative RTT is still a
 * number), booleans and null are left as they are.
 */
export function neutralise(value) {
  return typeof value === "string" && FORMULA.test(value) ? `'${value}` : value;
}

/** One CSV cell (RFC 4180 quoting), never a formula. */
export function csvCell(value) {
  if (value == null) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : value;
  const cell = String(neutralise(text));
  return /[",\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** sources: [{node, events}] -> one row per event, tagged with its node ("" for the WebSocket) and the tool when given. */
export function exportRows(sources, tool) {
  const rows = [];
  for (const source of sources) {
    for (const e of source.events) rows.push(tool ? { tool, node: source.node ?? "", ...e } : { node: source.node ?? "", ...e });
  }
  return rows;
}

/** The rows as a CSV document, CRLF line ends, a header line first. */
export function toCSV(rows, columns = CSV_COLUMNS) {
  const lines = [columns.join(",")];
  for (const row of rows) {
    const values = columns.map((c) => {
      if (c === "time") return typeof row.t === "number" ? new Date(row.t * 1000).toISOString() : "";
      if (c === "error" && row.type === "error") return row.message;
      if (c.includes(".")) {
        const [outer, inner] = c.split(".", 2); // a nested figure: timings.connect
        return row[outer] && typeof row[outer] === "object" ? row[outer][inner] : null;
      }
      return row[c];
    });
    lines.push(values.map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** The JSON export: {pingu, mode, exported, tool, target, request, sources: [{node, state, close, stats | hops, events}]}. */
export function toJSON({ version = null, mode, tool, target, request, sources, now = new Date() }) {
  const body = { pingu: version, mode, exported: now.toISOString(), tool, target, request, sources }; // no tool given: none
  return JSON.stringify(body, null, 1) + "\n";
}

/** "pingu-<target, safe for a file name>-<YYYYMMDD-HHMMSS>", "pingu-<tool>-<target>-…" with a tool (one not the default). */
export function fileStem(target, now = new Date(), tool = "") {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  return `pingu-${tool ? `${tool}-` : ""}${String(target).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60)}-${stamp}`;
}

/** Let the browser save `text` as the file `name`. */
export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
