// The tools (web/tools.js): fields per tool, bounds from the server's limits
// by whatever name it uses; the form's checks per tool (web/form.js); the
// link and the tool (web/url-state.js).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { checkForm } from "../form.js";
import { bound, buildRequest, describeOptions, fieldRule, isPathTool, toolOf } from "../tools.js";
import { readQuery, writeQuery } from "../url-state.js";

const values = (v) => ({ target: "h", count: "", interval: "", size: "", max_hops: "", queries: "", wait: "", family: "", nodes: [], badInput: {}, ...v });

describe("tools", () => {
  it("anything but traceroute and mtr is ping", () => {
    assert.deepEqual(["ping", "traceroute", "mtr", "nmap", undefined].map(toolOf), ["ping", "traceroute", "mtr", "ping", "ping"]);
    assert.deepEqual(["ping", "traceroute", "mtr"].map(isPathTool), [false, true, true]);
  });
  it("bounds by the server's name for them, the field's own when it names none", () => {
    assert.equal(bound({ max_hops: 40 }, "mtr", "max_hops", "max"), 40);
    assert.equal(bound({ max_hops: 40, max_mtr_hops: 20 }, "mtr", "max_hops", "max"), 20);
    assert.equal(bound({ max_hops: 40, traceroute_max_hops: 9 }, "traceroute", "max_hops", "max"), 9);
    assert.equal(bound({}, "traceroute", "max_hops", "max"), 255);
    assert.equal(bound({ max_count: 100, max_rounds: 50 }, "mtr", "count", "max"), 50);
    assert.equal(bound({ max_count: 100 }, "mtr", "count", "max"), 100);
    assert.equal(bound({ max_wait: "x" }, "traceroute", "wait", "max"), null);
    assert.equal(fieldRule("mtr", "count", {}).what, "Rounds");
    // pingu/limits.py's names: mtr's rounds and round interval, the path tools' packet size
    const served = { max_count: 10000, min_interval: 0.2, max_size: 1472, max_rounds: 1000, min_round_interval: 1, max_packet_size: 1500 };
    assert.deepEqual([bound(served, "mtr", "count", "max"), bound(served, "mtr", "interval", "min")], [1000, 1]);
    assert.deepEqual([bound(served, "ping", "interval", "min"), bound(served, "ping", "size", "max")], [0.2, 1472]);
    assert.deepEqual([bound(served, "traceroute", "size", "min"), bound(served, "traceroute", "size", "max")], [28, 1500]);
  });
  it("the request: the tool when it is not ping, only its own fields", () => {
    assert.deepEqual(buildRequest("h", undefined, { count: 3, max_hops: 5 }), { target: "h", count: 3 });
    assert.deepEqual(buildRequest("h", "traceroute", { tool: "traceroute", count: 3, max_hops: 5, family: 4 }), {
      target: "h", tool: "traceroute", max_hops: 5, family: 4,
    });
    assert.deepEqual(buildRequest("h", "mtr", { count: 10, interval: 1, max_hops: 30, size: 64, family: 4 }), {
      target: "h", tool: "mtr", count: 10, interval: 1, max_hops: 30, size: 64, family: 4,
    });
  });
  it("describes each tool's options", () => {
    assert.equal(describeOptions({ count: 5, interval: 0.2 }, []), "5× · every 0.2 s");
    assert.equal(describeOptions({ tool: "traceroute", max_hops: 8, queries: 1 }, ["a"]), "traceroute · ≤ 8 hops · 1 probe a hop · from a");
    assert.equal(describeOptions({ tool: "mtr", count: 10, family: 6 }, []), "mtr · 10 rounds · IPv6 only");
  });
});

describe("checkForm per tool", () => {
  const limits = { max_count: 10000, min_interval: 0.2, max_interval: 60, max_size: 1472, max_hops: 30, max_queries: 5, max_wait: 10 };
  it("no tool is ping, and ping's options carry none", () => {
    assert.deepEqual(checkForm(values({ count: "2", max_hops: "99" }), limits).options, { count: 2 });
  });
  it("traceroute: its own fields, the others ignored", () => {
    const r = checkForm(values({ tool: "traceroute", count: "x", max_hops: "10", queries: "2", wait: "1.5", family: "4" }), limits);
    assert.deepEqual(r.options, { tool: "traceroute", max_hops: 10, queries: 2, wait: 1.5, family: 4 });
  });
  it("mtr: rounds, interval, hops", () => {
    const r = checkForm(values({ tool: "mtr", count: "10", interval: "1", max_hops: "30", size: "64" }), limits);
    assert.deepEqual(r.options, { tool: "mtr", count: 10, interval: 1, max_hops: 30, size: 64 });
  });
  it("bounded by the server's limits when it has them", () => {
    assert.deepEqual(checkForm(values({ tool: "traceroute", max_hops: "31" }), limits), { error: "Max hops must be between 1 and 30.", field: "max_hops" });
    assert.equal(checkForm(values({ tool: "traceroute", queries: "6" }), limits).error, "Probes per hop must be between 1 and 5.");
    assert.equal(checkForm(values({ tool: "traceroute", wait: "-1" }), limits).error, "Wait must be between 0 and 10 seconds.");
    assert.equal(checkForm(values({ tool: "mtr", count: "0" }), limits).error, "Rounds must be between 1 and 10000.");
    assert.equal(checkForm(values({ tool: "traceroute", max_hops: "256" }), {}).error, "Max hops must be between 1 and 255.");
    assert.equal(checkForm(values({ tool: "traceroute", wait: "1e9" }), {}).error, undefined);
  });
  it("no target, in the tool's words", () => {
    assert.equal(checkForm(values({ tool: "mtr", target: "" }), limits).error, "Enter a host name or an IP address to trace.");
  });
});

describe("the link carries the tool", () => {
  it("an old link, without a tool, is ping's: it asks for no tool", () => {
    const q = readQuery("t=h&c=3");
    assert.equal("tool" in q, false);
  });
  it("reads the tool and its fields", () => {
    const q = readQuery("t=h&tool=traceroute&m=12&q=2&w=1.5");
    assert.deepEqual([q.tool, q.max_hops, q.queries, q.wait], ["traceroute", "12", "2", "1.5"]);
    assert.equal(readQuery("tool=nmap").tool, "ping");
  });
  it("writes the last panel's tool and options; reads back what it wrote", () => {
    const panels = [{ target: "a", options: { tool: "mtr", count: 5, interval: 1, max_hops: 9 }, nodes: [] }];
    const text = writeQuery(panels);
    assert.equal(text, "t=a&tool=mtr&c=5&i=1&m=9");
    const q = readQuery(text);
    assert.deepEqual([q.tool, q.count, q.interval, q.max_hops], ["mtr", "5", "1", "9"]);
    assert.equal(writeQuery([{ target: "a", options: { count: 1 }, nodes: [] }]), "t=a&c=1");
  });
});
