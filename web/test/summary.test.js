// The summary of every run (web/summary.js): its rows, their order, one CSV of all runs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { COLUMNS, allRunsCSV, detailText, sortRows, summaryRows } from "../summary.js";

const figures = (sent, loss, avg, p95 = avg, last = avg, jitter = 1) => ({
  sent, loss_pct: loss, avg_ms: avg, p95_ms: p95, last_ms: last, mean_delta_ms: jitter,
}); // fmt: skip

const PANELS = [
  { id: 1, target: "gw", tool: "ping", sources: [{ node: null, phase: "running", waiting: false, figures: figures(10, 0, 1.5), recent: [1, 2] }] },
  { id: 2, target: "b.example", tool: "ping", sources: [{ node: null, phase: "connecting", waiting: true, figures: figures(0, null, null), recent: [] }] },
  { id: 3, target: "a.example", tool: "traceroute", sources: [{ node: null, phase: "done", waiting: false, figures: null }] },
  {
    id: 4, target: "far", tool: "ping", sources: [
      { node: "north", phase: "running", waiting: false, figures: figures(12, 25, 80.2), recent: [80, null] },
      { node: "south", phase: "done", waiting: false, figures: figures(12, 0, 20.1) },
    ],
  },
]; // fmt: skip

describe("summaryRows", () => {
  it("has one row per run: each source of each panel, a waiting one as queued", () => {
    const rows = summaryRows(PANELS);
    assert.deepEqual(rows.map((r) => [r.key, r.target, r.node, r.state]), [
      ["1:0", "gw", null, "running"],
      ["2:0", "b.example", null, "queued"],
      ["3:0", "a.example", null, "done"],
      ["4:0", "far", "north", "running"],
      ["4:1", "far", "south", "done"],
    ]);
    assert.deepEqual(rows[3].recent, [80, null]);
    assert.equal(rows[2].sent, null); // a path tool: no ping figures
    assert.equal(rows[3].loss, 25);
    assert.equal(rows[0].jitter, 1);
  });

  it("shows each column's figure as text", () => {
    const row = summaryRows(PANELS)[3];
    const text = Object.fromEntries(COLUMNS.filter((c) => c.text).map((c) => [c.key, c.text(row)]));
    assert.deepEqual(text, {
      target: "far", tool: "ping", node: "north", state: "running", sent: "12", loss: "25", last: "80.2", avg: "80.2", p95: "80.2", jitter: "1.00", detail: "",
    }); // fmt: skip
  });
});

describe("sortRows", () => {
  const rows = summaryRows(PANELS);
  const targets = (sorted) => sorted.map((r) => `${r.target}${r.node ? `@${r.node}` : ""}`);

  it("sorts numbers as numbers, either way, with no value last both ways", () => {
    assert.deepEqual(targets(sortRows(rows, "avg")), ["gw", "far@south", "far@north", "b.example", "a.example"]);
    assert.deepEqual(targets(sortRows(rows, "avg", -1)), ["far@north", "far@south", "gw", "b.example", "a.example"]);
  });

  it("sorts text as text, numbers in it by value", () => {
    assert.deepEqual(targets(sortRows(rows, "target")), ["a.example", "b.example", "far@north", "far@south", "gw"]);
    const hosts = summaryRows([10, 9, 100].map((n, id) => ({ id, target: `127.0.0.${n}`, tool: "ping", sources: [{ phase: "done" }] })));
    assert.deepEqual(sortRows(hosts, "target").map((r) => r.target), ["127.0.0.9", "127.0.0.10", "127.0.0.100"]);
  });

  it("keeps the panels' order for ties, and for a column that does not sort", () => {
    assert.deepEqual(targets(sortRows(rows, "tool")), ["gw", "b.example", "far@north", "far@south", "a.example"]);
    assert.deepEqual(sortRows(rows, "recent"), rows);
    assert.deepEqual(sortRows(rows, "nonsense"), rows);
  });
});

describe("detailText", () => {
  it("statuses, rcodes and lost probes by reason, counted; nothing for none", () => {
    assert.equal(detailText({ statuses: { 200: 5, 301: 1 } }), "200 ×5 · 301 ×1");
    assert.equal(detailText({ rcodes: { NOERROR: 2 }, reasons: { "timed out": 1 } }), "NOERROR ×2 · lost timed out ×1");
    assert.equal(detailText(figures(1, 0, 1)), "");
    assert.equal(detailText(null), "");
  });
});

describe("allRunsCSV", () => {
  it("is every panel's events in one CSV, a target column first, the tools' columns together", () => {
    const panels = [
      { target: "gw", tool: "ping", display: "rtt-series", sources: [{ node: null, events: [{ type: "reply", n: 1, seq: 1, rtt_ms: 1.5, t: 0 }] }] },
      { target: "=cmd", tool: "traceroute", display: "hop-table", sources: [{ node: "north", events: [{ type: "hop", n: 1, hop: 1, address: "10.0.0.1" }] }] },
      { target: "http://h/", tool: "web", display: "http-timings", sources: [{ node: null, events: [{ type: "reply", n: 1, seq: 1, status: 200, timings: { connect: 0.5, tls: null, first_byte: 2, total: 3 } }] }] },
    ];
    const lines = allRunsCSV(panels).trimEnd().split("\r\n");
    const header = lines[0].split(",");
    assert.deepEqual(header.slice(0, 4), ["target", "tool", "node", "n"]);
    assert.ok(header.includes("rtt_ms") && header.includes("hop") && header.includes("address"));
    assert.ok(header.includes("status") && header.includes("timings.connect") && header.includes("timings.first_byte"));
    assert.equal(new Set(header).size, header.length);
    assert.equal(lines.length, 4);
    const row = (i) => Object.fromEntries(header.map((h, k) => [h, lines[i].split(",")[k]]));
    assert.equal(row(1).target, "gw");
    assert.equal(row(1).rtt_ms, "1.5");
    assert.equal(row(2).target, "'=cmd"); // a target that reads as a formula is made inert
    assert.equal(row(2).node, "north");
    assert.equal(row(2).hop, "1");
    assert.deepEqual([row(3).status, row(3)["timings.connect"], row(3)["timings.tls"], row(3)["timings.total"]], ["200", "0.5", "", "3"]);
  });
});
