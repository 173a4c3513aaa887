// The form and the open panels as a link, pure:
//   ?t=a&t=b&f=4&n=alpha[&tool=NAME][&<a field's param>=…][&router=ws://…&realm=…]
// so that a link reopens the same runs. Each tool field's parameter is the
// server's (tools.js, /pingu-info.json's `tools`); a link without a tool is the
// default tool's.

import { parseTargets } from "./form.js";
import { paramsOf } from "./tools.js";

/** The page's own parameters: no tool field may take one of these (tests/test_registry.py reads this line). */
export const PAGE_PARAMS = Object.freeze(["t", "f", "n", "tool", "router", "realm"]);

/**
 * A query (URLSearchParams or string) -> what it asks for: targets, family,
 * nodes, router, realm, `tool` (only when the link has one) and `params`,
 * every other parameter as it is (the form reads its fields' from them).
 */
export function readQuery(query) {
  const params = new URLSearchParams(query);
  const family = params.get("f");
  const asked = {
    targets: params.getAll("t").flatMap(parseTargets),
    family: family === "4" || family === "6" ? family : "",
    nodes: params.getAll("n"),
    router: params.get("router"),
    realm: params.get("realm"),
    params: {},
  };
  const tool = params.get("tool");
  if (tool != null) asked.tool = tool;
  for (const [name, value] of params) if (!PAGE_PARAMS.includes(name) && !(name in asked.params)) asked.params[name] = value;
  return asked;
}

/**
 * The query for these panels ([{target, options, nodes}], in order): every
 * target once, the tool, options and nodes of the last (each field by its
 * parameter in `tools`); `keep` (router, realm) from the query the page was
 * opened with.
 */
export function writeQuery(panels, keep = {}, tools = null) {
  const params = new URLSearchParams();
  for (const key of ["router", "realm"]) if (keep[key]) params.set(key, keep[key]);
  for (const t of new Set(panels.map((p) => p.target))) params.append("t", t);
  const last = panels[panels.length - 1];
  const options = last ? last.options : {};
  if (options.tool) params.set("tool", options.tool);
  const names = tools ? paramsOf(tools) : {};
  for (const [key, value] of Object.entries(options)) {
    const name = names[key];
    if (name && !PAGE_PARAMS.includes(name) && value != null) params.set(name, value);
  }
  if (options.family) params.set("f", options.family);
  if (last) for (const n of last.nodes) params.append("n", n);
  return params.toString();
}

/** A ws:// or wss:// URL's origin ("ws://host:port"), or null for anything else. */
export function routerOrigin(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  return parsed.protocol === "ws:" || parsed.protocol === "wss:" ? parsed.origin : null;
}

/**
 * May the page use the router a link asks for (`?router=`)? Only one of its
 * own origin (ws: for an http: page, wss: for https:, same host and port) or
 * one its server lists in /pingu-info.json's `routers`: a link must not point
 * the page at a router that would show forged results under the page's
 * origin. -> {router, refused}: the URL to use (null: none asked), or the one
 * refused (it is then neither used nor kept in the page's link).
 */
export function checkRouter(asked, info, page) {
  if (!asked) return { router: null, refused: null };
  const origin = routerOrigin(asked);
  const own = new URL(page.href);
  const ownOrigin = `${own.protocol === "https:" ? "wss:" : "ws:"}//${own.host}`;
  const listed = Array.isArray(info?.routers) ? info.routers.map(routerOrigin).filter(Boolean) : [];
  if (origin && (origin === ownOrigin || listed.includes(origin))) return { router: asked, refused: null };
  return { router: null, refused: asked };
}

/** A query without `router` and `realm` (what is left of a link whose router was refused). */
export function withoutRouter(query) {
  const params = new URLSearchParams(query);
  params.delete("router");
  params.delete("realm");
  return params.toString();
}
