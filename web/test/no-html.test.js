// The page never inserts text as HTML: no page module uses the DOM's HTML parsers.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { it } from "node:test";

const WEB = new URL("../", import.meta.url);
const HTML_SINKS = /\b(innerHTML|outerHTML|insertAdjacentHTML|createContextualFragment|DOMParser|document\.write)\b/;

it("no page module parses text as HTML", () => {
  const modules = readdirSync(WEB).filter((name) => name.endsWith(".js"));
  assert.ok(modules.includes("app.js") && modules.includes("panel-view.js"), modules.join());
  const found = modules.filter((name) => HTML_SINKS.test(readFileSync(new URL(name, WEB), "utf8")));
  assert.deepEqual(found, []);
});
