// The tools (web/tools.js) as the server describes them (test/tools.json is
// `python -m pingu.tools describe`: tests/test_registry.py checks it is the
// registry's); the form's checks per tool (web/form.js); the link and the
// tool (web/url-state.js).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { checkForm } from "../form.js";
import { allInputs, buildRequest, describeOptions, displayOf, isPathDisplay, mergeTools, paramsOf, toolOf, toolSet } from "../tools.js";
import { PAGE_PARAMS, readQuery, writeQuery } from "../url-state.js";

const described = JSON.parse(readFileSync(new URL("./tools.json", import.meta.url), "utf8"));
const tools = toolSet(described);
const byDisplay = (display) => tools.names.find((n) => tools.byName[n].display === display);
const byTarget = (target) => tools.names.find((n) => tools.byName[n].target === target);
const HOPS = byDisplay("hop-table");
const STATS = byDisplay("hop-stats");
const RESOLVER = byTarget("name-at-resolver");
const PORTED = tools.names.find((n) => tools.byName[n].inputs.some((f) => f.name === "port"));
const values = (v) => ({ target: "h", family: "", nodes: [], badInput: {}, ...v });

describe("tools from the server's description", () => {
  it("every tool described, the first the default; anything else is the default", () => {
    assert.deepEqual(tools.names, described.map((t) => t.name));
    assert.equal(tools.default, described[0].name);
    assert.equal(toolOf(tools, "nmap"), tools.default);
    assert.equal(toolOf(tools, undefined), tools.default);
    assert.equal(toolOf(tools, HOPS), HOPS);
  });
  it("no description: no tool, no field, a request without a tool", () => {
    const none = toolSet(null);
    assert.deepEqual([none.names, none.default, allInputs(none)], [[], null, []]);
    assert.deepEqual(buildRequest(none, "h", undefined, { count: 3 }), { target: "h" });
    assert.equal(checkForm(values({}), none).targets[0], "h");
  });
  it("display kinds: the path ones have a hop table", () => {
    assert.deepEqual([HOPS, STATS, tools.default].map((n) => isPathDisplay(displayOf(tools, n))), [true, true, false]);
  });
  it("a tool whose target is a name at a resolver asks for the resolver first, required", () => {
    const first = tools.byName[RESOLVER].inputs[0];
    assert.equal(first.name, "server");
    assert.equal(first.required, true);
    assert.ok(!PAGE_PARAMS.includes(first.param));
  });
  it("a field two tools take is one input; no field takes a page parameter", () => {
    const inputs = allInputs(tools);
    assert.equal(new Set(inputs.map((f) => f.name)).size, inputs.length);
    for (const param of Object.values(paramsOf(tools))) assert.ok(!PAGE_PARAMS.includes(param), param);
  });
  it("the request: the tool when it is not the default, only its own fields", () => {
    assert.deepEqual(buildRequest(tools, "h", undefined, { count: 3, max_hops: 5 }), { target: "h", count: 3 });
    assert.deepEqual(buildRequest(tools, "h", HOPS, { tool: HOPS, count: 3, max_hops: 5, family: 4 }), {
      target: "h", tool: HOPS, max_hops: 5, family: 4,
    });
    assert.deepEqual(buildRequest(tools, "n.example", RESOLVER, { server: "127.0.0.1", type: "MX", port: 1 }), {
      target: "n.example", tool: RESOLVER, server: "127.0.0.1", type: "MX",
    });
  });
  it("describes the options by the tool's own labels", () => {
    assert.equal(describeOptions(tools, { count: 5, interval: 0.2 }, []), `${tools.default} · Count 5 · Interval 0.2 s`);
    assert.equal(describeOptions(tools, { tool: STATS, count: 10, family: 6 }, ["a"]), `${STATS} · Rounds 10 · IPv6 only · from a`);
  });
  it("several nodes' tools: each once, in order, installed when any has it", () => {
    const a = [{ name: "x", installed: false, fields: [] }];
    const b = [{ name: "y", fields: [] }, { name: "x", installed: true, fields: [] }];
    const merged = mergeTools([a, b]);
    assert.deepEqual(merged.map((t) => [t.name, t.installed]), [["x", true], ["y", undefined]]);
  });
});

describe("checkForm per tool", () => {
  it("no tool is the default, and its options carry none; other tools' fields are ignored", () => {
    assert.deepEqual(checkForm(values({ count: "2", max_hops: "99" }), tools).options, { count: 2 });
  });
  it("a hop table tool: its own fields, the others ignored", () => {
    const r = checkForm(values({ tool: HOPS, count: "x", max_hops: "10", queries: "2", wait: "1.5", family: "4" }), tools);
    assert.deepEqual(r.options, { tool: HOPS, max_hops: 10, queries: 2, wait: 1.5, family: 4 });
  });
  it("bounded as the server described the fields", () => {
    assert.deepEqual(checkForm(values({ tool: HOPS, max_hops: "31" }), tools), { error: "Max hops must be between 1 and 30.", field: "max_hops" });
    assert.equal(checkForm(values({ tool: STATS, count: "0" }), tools).error, "Rounds must be between 1 and 1000.");
    assert.equal(checkForm(values({ interval: "0.05" }), tools).error, "Interval must be between 0.2 and 60 seconds.");
    assert.equal(checkForm(values({ tool: PORTED, port: "1.5" }), tools).error, "Port must be a whole number.");
  });
  it("a choice is one of the described ones; a required resolver is asked for", () => {
    assert.equal(checkForm(values({ tool: RESOLVER, server: "", type: "A" }), tools).field, "server");
    assert.match(checkForm(values({ tool: RESOLVER, server: "127.0.0.1", type: "ANY" }), tools).error, /Type must be one of: A, AAAA/);
    assert.deepEqual(checkForm(values({ tool: RESOLVER, server: "127.0.0.1", type: "MX" }), tools).options, { tool: RESOLVER, server: "127.0.0.1", type: "MX" });
  });
  it("no target, in the target kind's words", () => {
    assert.equal(checkForm(values({ tool: HOPS, target: "" }), tools).error, "Enter a host name or an IP address.");
    assert.equal(checkForm(values({ tool: byTarget("url"), target: "" }), tools).error, "Enter an http:// or https:// URL.");
  });
});

describe("the link carries the tool and its fields by their parameters", () => {
  it("an old link, without a tool, asks for none", () => {
    const q = readQuery("t=h&c=3");
    assert.equal("tool" in q, false);
    assert.deepEqual(q.params, { c: "3" });
  });
  it("reads the tool and every other parameter", () => {
    const q = readQuery(`t=h&tool=${HOPS}&m=12&q=2&w=1.5`);
    assert.deepEqual([q.tool, q.params], [HOPS, { m: "12", q: "2", w: "1.5" }]);
  });
  it("writes the last panel's tool and options by the fields' parameters; reads back what it wrote", () => {
    const panels = [{ target: "a", options: { tool: STATS, count: 5, interval: 1, max_hops: 9 }, nodes: [] }];
    const text = writeQuery(panels, {}, tools);
    assert.equal(text, `t=a&tool=${STATS}&c=5&i=1&m=9`);
    const q = readQuery(text);
    assert.deepEqual([q.tool, q.params], [STATS, { c: "5", i: "1", m: "9" }]);
    assert.equal(writeQuery([{ target: "a", options: { count: 1 }, nodes: [] }], {}, tools), "t=a&c=1");
    const resolver = writeQuery([{ target: "n", options: { tool: RESOLVER, server: "::1", type: "MX" }, nodes: [] }], {}, tools);
    assert.deepEqual(readQuery(resolver).params, { r: "::1", y: "MX" });
  });
});
