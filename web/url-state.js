// The form and the open panels as a link, pure:
//   ?t=a&t=b&c=5&i=0.5&s=56&f=4&n=alpha[&tool=mtr&m=30&q=3&w=2][&router=ws://…&realm=…]
// so that a link reopens the same runs. A link without a tool is ping's.

import { parseTargets } from "./form.js";
import { DEFAULT_TOOL, TOOLS } from "./tools.js";

/** The option fields' names in a link (tool is `tool`). */
const PARAMS = Object.freeze({ count: "c", interval: "i", size: "s", max_hops: "m", queries: "q", wait: "w" });
const PATH_PARAMS = ["max_hops", "queries", "wait"];

/**
 * A query (URLSearchParams or string) -> what it asks for. `tool`, max_hops,
 * queries and wait are there only when the link has them.
 */
export function readQuery(query) {
  const params = new URLSearchParams(query);
  const family = params.get("f");
  const asked = {
    targets: params.getAll("t").flatMap(parseTargets),
    count: params.get(PARAMS.count),
    interval: params.get(PARAMS.interval),
    size: params.get(PARAMS.size),
    family: family === "4" || family === "6" ? family : "",
    nodes: params.getAll("n"),
    router: params.get("router"),
    realm: params.get("realm"),
  };
  const tool = params.get("tool");
  if (tool != null) asked.tool = TOOLS.includes(tool) ? tool : DEFAULT_TOOL;
  for (const key of PATH_PARAMS) if (params.has(PARAMS[key])) asked[key] = params.get(PARAMS[key]);
  return asked;
}

/**
 * The query for these panels ([{target, options, nodes}], in order): every
 * target once, the tool, options and nodes of the last; `keep` (router, realm)
 * from the query the page was opened with.
 */
export function writeQuery(panels, keep = {}) {
  const params = new URLSearchParams();
  for (const key of ["router", "realm"]) if (keep[key]) params.set(key, keep[key]);
  for (const t of new Set(panels.map((p) => p.target))) params.append("t", t);
  const last = panels[panels.length - 1];
  const options = last ? last.options : {};
  if (options.tool && options.tool !== DEFAULT_TOOL) params.set("tool", options.tool);
  for (const [key, name] of Object.entries(PARAMS)) if (options[key] != null) params.set(name, options[key]);
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
