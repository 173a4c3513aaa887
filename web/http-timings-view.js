// The http-timings display kind's own view: under the RTT chart, a stacked bar
// per request (connect, TLS, first byte, the rest of the transfer, in ms, on
// one scale) for each source, the phases' averages, and the status codes
// counted. The geometry is pure (requestBars, phaseAverages: web/test/
// http-timings.test.js); the DOM is built from plain data with textContent and
// style properties only, never HTML.

import { el, seriesVar } from "./dom.js";
import { formatRtt } from "./stats.js";

/** The phases of a request, in order: its `timings` key, a label; "rest" is the total less the others. */
export const PHASES = Object.freeze([
  { key: "connect", label: "connect" },
  { key: "tls", label: "TLS" },
  { key: "first_byte", label: "first byte" },
  { key: "rest", label: "transfer" },
]);

const ms = (v) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);

/** One request's phases in ms: {connect, tls, first_byte, rest, total}; rest is what the others leave of the total. */
export function phasesOf(timings) {
  const t = timings || {};
  const total = ms(t.total);
  const parts = { connect: ms(t.connect), tls: ms(t.tls), first_byte: ms(t.first_byte) };
  const known = parts.connect + parts.tls + parts.first_byte;
  return { ...parts, rest: Math.max(0, total - known), total: Math.max(total, known) };
}

/**
 * Every source's requests ({seq, status, timings}) as bars on one scale (the
 * largest total of any source): per source [{seq, status, height (% of the
 * scale), segments: [{key, pct (% of the bar)}], total}], and the scale in ms.
 */
export function requestBars(sources) {
  const all = sources.map((requests) => requests.map((r) => ({ ...r, phases: phasesOf(r.timings) })));
  const max = Math.max(0, ...all.flat().map((r) => r.phases.total));
  const bars = all.map((requests) =>
    requests.map((r) => {
      const { total } = r.phases;
      return {
        seq: r.seq,
        status: r.status,
        total,
        height: max > 0 ? (100 * total) / max : 0,
        segments: PHASES.map(({ key }) => ({ key, pct: total > 0 ? (100 * r.phases[key]) / total : 0 })),
      };
    }),
  );
  return { bars, max };
}

/** Each phase's mean over the requests (null with none; TLS over the requests that had one). */
export function phaseAverages(requests) {
  const out = {};
  for (const { key } of PHASES) {
    const values = requests
      .filter((r) => key !== "tls" || (r.timings && r.timings.tls != null))
      .map((r) => phasesOf(r.timings)[key]);
    out[key] = values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  }
  return out;
}

/** "200 ×5 · 301 ×1", ascending by status. */
export function statusText(statuses) {
  return Object.entries(statuses || {})
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, n]) => `${status} ×${n}`)
    .join(" · ");
}

export class HttpTimingsView {
  /** box: where it goes; nodes: one name per source ([] for the one WebSocket source). */
  constructor(box, { nodes, target }) {
    this.box = box;
    this.nodes = nodes;
    box.hidden = false;
    const legend = el("p", "timings-legend");
    legend.setAttribute("aria-hidden", "true");
    for (const { key, label } of PHASES) {
      const item = el("span", `timings-key phase-${key}`);
      item.append(el("span", "timings-swatch"), label);
      legend.append(item);
    }
    this.scale = el("span", "timings-scale muted");
    legend.append(this.scale);
    box.append(legend);
    this.groups = (nodes.length ? nodes : [null]).map((node, i) => {
      const group = el("div", "timings-group");
      if (nodes.length > 1) {
        const name = el("p", "timings-node");
        const swatch = el("span", "swatch");
        swatch.style.setProperty("--swatch", seriesVar(i));
        name.append(swatch, node);
        group.append(name);
      }
      const strip = el("div", "timings-bars");
      strip.setAttribute("role", "img");
      strip.setAttribute("aria-label", `Each request's phases for ${target}${node ? ` from ${node}` : ""}`);
      const summary = el("p", "timings-summary");
      group.append(strip, summary);
      box.append(group);
      return { strip, summary, drawn: "" };
    });
  }

  /** stats: stats.js RunStats, one per source. */
  render(stats) {
    const { bars, max } = requestBars(stats.map((s) => s.requests));
    this.scale.textContent = max > 0 ? `scale 0–${formatRtt(max)} ms` : "";
    bars.forEach((requests, i) => {
      const group = this.groups[i];
      const key = `${max}|${requests.map((b) => `${b.seq}:${b.total}`).join()}`;
      if (key !== group.drawn) {
        group.drawn = key;
        group.strip.replaceChildren(
          ...requests.map((b) => {
            const bar = el("span", "timings-bar");
            bar.style.height = `${Math.max(b.height, 1)}%`;
            bar.title = `#${b.seq ?? "?"} · ${b.status ?? "?"} · ${formatRtt(b.total)} ms`;
            for (const s of b.segments) {
              if (!(s.pct > 0)) continue;
              const part = el("span", `timings-part phase-${s.key}`);
              part.style.height = `${s.pct}%`;
              bar.append(part);
            }
            return bar;
          }),
        );
        if (!requests.length) group.strip.append(el("span", "timings-empty muted", "waiting for the first response…"));
      }
      const averages = phaseAverages(stats[i].requests);
      const parts = PHASES.filter(({ key }) => averages[key] != null).map(({ key, label }) => `${label} ${formatRtt(averages[key])}`);
      const codes = statusText(Object.fromEntries(stats[i].tallies.status));
      const text = [parts.length ? `avg ms: ${parts.join(" · ")}` : "", codes ? `status ${codes}` : ""].filter(Boolean).join("  —  ");
      if (group.summary.textContent !== text) group.summary.textContent = text;
    });
  }

  /** What it shows, as plain data (the test hook). */
  snapshot() {
    return {
      bars: this.groups.map((g) => g.strip.querySelectorAll(".timings-bar").length),
      parts: this.groups.map((g) => [...g.strip.querySelectorAll(".timings-bar")].map((b) => [...b.children].map((p) => p.className.replace("timings-part phase-", "")))),
      summary: this.groups.map((g) => g.summary.textContent),
      scale: this.scale.textContent,
    };
  }
}
