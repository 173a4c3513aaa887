// The link that reopens the page's pings (web/url-state.js), and the form's checks (web/form.js).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { readFileSync } from "node:fs";

import { checkForm, parseTargets } from "../form.js";
import { toolSet } from "../tools.js";
import { checkRouter, readQuery, withoutRouter, writeQuery } from "../url-state.js";

const tools = toolSet(JSON.parse(readFileSync(new URL("./tools.json", import.meta.url), "utf8")));

describe("readQuery", () => {
  it("reads targets, options, nodes, router and realm", () => {
    const q = readQuery("?t=127.0.0.1&t=::1%20localhost&c=5&i=0.5&s=56&f=6&n=alpha&n=beta&router=ws://r:1/ws&realm=x");
    assert.deepEqual(q, {
      targets: ["127.0.0.1", "::1", "localhost"],
      family: "6",
      nodes: ["alpha", "beta"],
      router: "ws://r:1/ws",
      realm: "x",
      params: { c: "5", i: "0.5", s: "56" },
    });
  });
  it("an unknown family is none", () => {
    assert.equal(readQuery("f=5").family, "");
    assert.deepEqual(readQuery("").params, {});
  });
});

describe("writeQuery", () => {
  it("every target once, the last panel's options and nodes, router and realm kept", () => {
    const panels = [
      { target: "a", options: { count: 1 }, nodes: ["x"] },
      { target: "b", options: { interval: 0.2, size: 0, family: 4 }, nodes: ["y", "z"] },
      { target: "a", options: { interval: 0.2, size: 0, family: 4 }, nodes: ["y", "z"] },
    ];
    assert.equal(writeQuery(panels, { router: "ws://r/ws", realm: null }, tools), "router=ws%3A%2F%2Fr%2Fws&t=a&t=b&i=0.2&s=0&f=4&n=y&n=z");
  });
  it("no panel: only what is kept", () => {
    assert.equal(writeQuery([]), "");
  });
  it("reads back what it wrote", () => {
    const q = readQuery(writeQuery([{ target: "::1", options: { count: 3, interval: 1 }, nodes: [] }], {}, tools));
    assert.deepEqual([q.targets, q.params.c, q.params.i], [["::1"], "3", "1"]);
  });
});

describe("checkForm", () => {
  const limits = tools; // the bounds as the server's description gives them
  const values = (v) => ({ target: "127.0.0.1", count: "", interval: "", size: "", family: "", nodes: [], badInput: {}, ...v });
  it("several targets, each once", () => {
    assert.deepEqual(parseTargets(" a b,a;c "), ["a", "b", "c"]);
  });
  it("a valid form as a request", () => {
    const r = checkForm(values({ count: "5", interval: "0.5", size: "0", family: "6" }), limits);
    assert.deepEqual(r, { targets: ["127.0.0.1"], options: { count: 5, interval: 0.5, size: 0, family: 6 }, nodes: [] });
  });
  it("no target", () => {
    assert.deepEqual(checkForm(values({ target: "  " }), limits), { error: "Enter a host name or an IP address.", field: "target" });
  });
  it("a too long name", () => {
    assert.equal(checkForm(values({ target: "a".repeat(254) }), limits).field, "target");
  });
  it("out of the server's limits", () => {
    assert.deepEqual(checkForm(values({ interval: "0.05" }), limits), { error: "Interval must be between 0.2 and 60 seconds.", field: "interval" });
    assert.equal(checkForm(values({ size: "2000" }), limits).error, "Size must be between 0 and 1472 bytes.");
    assert.equal(checkForm(values({ count: "0" }), limits).error, "Count must be between 1 and 10000.");
  });
  it("not a whole number, not a number", () => {
    assert.equal(checkForm(values({ count: "1.5" }), limits).error, "Count must be a whole number.");
    assert.equal(checkForm(values({ badInput: { size: true } }), limits).error, "Size must be a number.");
  });
  it("WAMP: at least one node", () => {
    assert.deepEqual(checkForm(values(), limits, { nodes: ["a"] }), { error: "Choose at least one vantage node.", field: "nodes" });
    assert.equal(checkForm(values(), limits, { nodes: [] }).error, "No pingu node is connected to the router yet.");
    assert.deepEqual(checkForm(values({ nodes: ["a"] }), limits, { nodes: ["a"] }).nodes, ["a"]);
  });
});

describe("checkRouter", () => {
  const page = { href: "http://pingu.example:8080/?t=x" };
  it("no router asked: none", () => {
    assert.deepEqual(checkRouter(null, {}, page), { router: null, refused: null });
  });
  it("the page's own origin is accepted (ws: for http:, wss: for https:)", () => {
    assert.equal(checkRouter("ws://pingu.example:8080/ws", {}, page).router, "ws://pingu.example:8080/ws");
    assert.equal(checkRouter("wss://pingu.example/ws", {}, { href: "https://pingu.example/" }).router, "wss://pingu.example/ws");
    assert.equal(checkRouter("ws://pingu.example/ws", {}, { href: "https://pingu.example/" }).refused, "ws://pingu.example/ws");
  });
  it("a router the server lists is accepted, any path on its origin", () => {
    const info = { routers: ["wss://router.example/ws"] };
    assert.equal(checkRouter("wss://router.example/ws", info, page).router, "wss://router.example/ws");
    assert.equal(checkRouter("wss://router.example:443/other", info, page).router, "wss://router.example:443/other");
  });
  it("any other is refused", () => {
    const info = { routers: ["wss://router.example/ws"] };
    for (const asked of ["wss://evil.example/ws", "ws://router.example/ws", "wss://router.example:8443/ws", "https://router.example/ws", "javascript:alert(1)", "not a url", "wss://pingu.example:8080/ws"]) {
      assert.deepEqual(checkRouter(asked, info, page), { router: null, refused: asked }, asked);
    }
    assert.equal(checkRouter("wss://evil/ws", null, page).refused, "wss://evil/ws");
    assert.equal(checkRouter("wss://evil/ws", { routers: "wss://evil/ws" }, page).refused, "wss://evil/ws");
  });
});

describe("withoutRouter", () => {
  it("drops router and realm, keeps the rest", () => {
    assert.equal(withoutRouter("?router=wss://evil/ws&realm=x&t=bank.example&c=5"), "t=bank.example&c=5");
  });
});
