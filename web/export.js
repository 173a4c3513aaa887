// Export of one panel's runs as CSV or JSON. Everything but download() is
// pure (and tested with node --test, web/test/export.test.js).

export const CSV_COLUMNS = Object.freeze(["node", "n", "type", "time", "t", "seq", "ttl", "rtt_ms", "bytes", "from", "dup", "error", "raw"]);

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

/** sources: [{node, events}] -> one row per event, tagged with its node ("" for the WebSocket). */
export function exportRows(sources) {
  const rows = [];
  for (const source of sources) {
    for (const e of source.events) rows.push({ node: source.node ?? "", ...e });
  }
  return rows;
}

/** The rows as a CSV document, CRLF line ends, a header line first. */
export function toCSV(rows) {
  const lines = [CSV_COLUMNS.join(",")];
  for (const row of rows) {
    const values = CSV_COLUMNS.map((c) => {
      if (c === "time") return typeof row.t === "number" ? new Date(row.t * 1000).toISOString() : "";
      if (c === "error" && row.type === "error") return row.message;
      return row[c];
    });
    lines.push(values.map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** The JSON export: {pingu, mode, exported, target, request, sources: [{node, state, close, stats, events}]}. */
export function toJSON({ version = null, mode, target, request, sources, now = new Date() }) {
  const body = { pingu: version, mode, exported: now.toISOString(), target, request, sources };
  return JSON.stringify(body, null, 1) + "\n";
}

/** "pingu-<target, safe for a file name>-<YYYYMMDD-HHMMSS>" */
export function fileStem(target, now = new Date()) {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  return `pingu-${String(target).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60)}-${stamp}`;
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
