// The form and the open panels as a link, pure:
//   ?t=a&t=b&c=5&i=0.5&s=56&f=4&n=alpha[&router=ws://…&realm=…]
// so that a link reopens the same pings.

import { parseTargets } from "./form.js";

/** A query (URLSearchParams or string) -> what it asks for. */
export function readQuery(query) {
  const params = new URLSearchParams(query);
  const family = params.get("f");
  return {
    targets: params.getAll("t").flatMap(parseTargets),
    count: params.get("c"),
    interval: params.get("i"),
    size: params.get("s"),
    family: family === "4" || family === "6" ? family : "",
    nodes: params.getAll("n"),
    router: params.get("router"),
    realm: params.get("realm"),
  };
}

/**
 * The query for these panels ([{target, options, nodes}], in order): every
 * target once, the options and nodes of the last; `keep` (router, realm)
 * from the query the page was opened with.
 */
export function writeQuery(panels, keep = {}) {
  const params = new URLSearchParams();
  for (const key of ["router", "realm"]) if (keep[key]) params.set(key, keep[key]);
  for (const t of new Set(panels.map((p) => p.target))) params.append("t", t);
  const last = panels[panels.length - 1];
  const options = last ? last.options : {};
  if (options.count != null) params.set("c", options.count);
  if (options.interval != null) params.set("i", options.interval);
  if (options.size != null) params.set("s", options.size);
  if (options.family) params.set("f", options.family);
  if (last) for (const n of last.nodes) params.append("n", n);
  return params.toString();
}
