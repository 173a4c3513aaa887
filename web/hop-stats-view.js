// The hop-stats display kind's own parts of the hop table: the RTT bar of one hop (best..worst, the
// average as a bar, the last as a tick, all on the table's one scale) and the
// line under the table (the round, the worst hop). DOM from plain data only:
// textContent and style properties, never HTML.

import { el } from "./dom.js";
import { rttBar } from "./hops.js";
import { formatLoss, formatRtt } from "./stats.js";

/** The bar of `row` on a scale of 0..max ms, in a cell (replacing what it held). */
export function fillBar(cell, row, max) {
  const geometry = row ? rttBar(row, max) : null;
  if (!geometry) {
    cell.replaceChildren();
    cell.removeAttribute("title");
    return;
  }
  const track = el("span", "rtt-bar");
  track.setAttribute("aria-hidden", "true");
  const range = el("span", "rtt-range");
  range.style.left = `${geometry.from}%`;
  range.style.width = `${Math.max(geometry.to - geometry.from, 0.8)}%`;
  track.append(range);
  if (geometry.avg != null) {
    const avg = el("span", "rtt-avg");
    avg.style.left = `${geometry.avg}%`;
    track.append(avg);
  }
  if (geometry.last != null) {
    const last = el("span", "rtt-last");
    last.style.left = `${geometry.last}%`;
    track.append(last);
  }
  cell.replaceChildren(track);
  cell.title = `best ${formatRtt(row.best_ms)} · avg ${formatRtt(row.avg_ms)} · worst ${formatRtt(row.worst_ms)} · last ${formatRtt(row.last_ms)} ms`;
}

/** "round 4 · worst: hop 3, 10.0.2.2, 25 % loss, avg 4.20 ms" for one node's table. */
export function statsNote(hops, worst) {
  if (!hops.rows.length) return "waiting for the first round…";
  const parts = [hops.rounds ? `round ${hops.rounds}` : "first round"];
  const row = hops.rows.find((r) => r.hop === worst);
  if (row) {
    const loss = row.loss_pct ? `, ${formatLoss(row.loss_pct)} % loss` : "";
    const avg = row.avg_ms != null ? `, avg ${formatRtt(row.avg_ms)} ms` : "";
    parts.push(`worst: hop ${row.hop}, ${row.address ?? "*"}${loss}${avg}`);
  }
  return parts.join(" · ");
}
