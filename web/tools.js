// The tools a run can use, pure: ping (the default), traceroute and mtr, the
// option fields each one takes and their bounds from the server's limits
// (/pingu-info.json). The bounds only help the form: the server stays the judge.

export const TOOLS = Object.freeze(["ping", "traceroute", "mtr"]);
export const DEFAULT_TOOL = "ping";

/** A tool's name, or ping for anything else (old links, old requests). */
export const toolOf = (name) => (TOOLS.includes(name) ? name : DEFAULT_TOOL);

/** Tools that trace a path: their panels show a hop table, not an RTT chart. */
export const isPathTool = (tool) => tool === "traceroute" || tool === "mtr";

/** Each tool's option fields (request names), in the form's order; family is every tool's. */
export const TOOL_FIELDS = Object.freeze({
  ping: Object.freeze(["count", "interval", "size"]),
  traceroute: Object.freeze(["max_hops", "queries", "wait", "size"]),
  mtr: Object.freeze(["count", "interval", "max_hops", "size"]),
});

/** Every option field: what it is called, whether whole, its unit, its bounds when the server names none. */
export const FIELD_RULES = Object.freeze({
  count: { what: "Count", int: true, unit: "", min: 1 },
  interval: { what: "Interval", int: false, unit: " seconds", min: null },
  size: { what: "Size", int: true, unit: " bytes", min: 0 },
  max_hops: { what: "Max hops", int: true, unit: "", min: 1, max: 255 },
  queries: { what: "Probes per hop", int: true, unit: "", min: 1, max: 10 },
  wait: { what: "Wait", int: false, unit: " seconds", min: 0 },
});

/** The server's other names for a tool's field's limits (pingu/limits.py): mtr's rounds, the path tools' packets. */
const ALIASES = Object.freeze({
  mtr: { count: ["rounds", "mtr_rounds"], interval: ["round_interval"], size: ["packet_size"] },
  traceroute: { size: ["packet_size"] },
});

/** Bounds of a tool's own, not in the limits: a path tool's packet holds its IP and ICMP/UDP headers (28 bytes). */
const TOOL_BOUNDS = Object.freeze({ mtr: { size: { min: 28 } }, traceroute: { size: { min: 28 } } });

/** What mtr's count is (rounds) where the tools differ in words. */
export const FIELD_WHAT = Object.freeze({ mtr: { count: "Rounds" } });

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

/**
 * The limit of `tool`'s `key` at `end` ("min" or "max"), by whichever name the
 * server uses: max_mtr_count, mtr_max_count, max_count (for mtr's count also
 * max_rounds; max_hops is max_mtr_hops, mtr_max_hops, max_hops), ...; the field's own bound when the server names none.
 */
export function bound(limits, tool, key, end) {
  const l = limits || {};
  const stem = key === "max_hops" ? "hops" : key;
  const names = [`${end}_${tool}_${stem}`, `${tool}_${end}_${stem}`];
  for (const alias of ALIASES[tool]?.[key] || []) names.push(`${end}_${alias}`);
  names.push(`${end}_${stem}`);
  for (const name of names) if (isNumber(l[name])) return l[name];
  const own = TOOL_BOUNDS[tool]?.[key]?.[end];
  if (own != null) return own;
  const rule = FIELD_RULES[key];
  return rule ? rule[end] ?? null : null;
}

/** The rule of one field for one tool under these limits: {what, int, unit, min, max}. */
export function fieldRule(tool, key, limits) {
  const rule = FIELD_RULES[key];
  return {
    ...rule,
    what: FIELD_WHAT[tool]?.[key] || rule.what,
    min: bound(limits, tool, key, "min"),
    max: bound(limits, tool, key, "max"),
  };
}

/** The request a panel sends: the target, the tool when it is not ping, the options the tool takes. */
export function buildRequest(target, tool, options) {
  const request = { target };
  tool = toolOf(tool);
  if (tool !== DEFAULT_TOOL) request.tool = tool;
  for (const key of [...TOOL_FIELDS[tool], "family"]) if (options[key] != null) request[key] = options[key];
  return request;
}

/** "5× · every 0.2 s · 56 B · IPv6 only · from alpha, beta", per tool. */
export function describeOptions(options, nodes, tool = options.tool) {
  tool = toolOf(tool);
  const parts = [];
  if (tool === "ping") {
    parts.push(options.count ? `${options.count}×` : "until stopped", `every ${options.interval ?? 1} s`);
  } else if (tool === "traceroute") {
    parts.push("traceroute");
    if (options.max_hops != null) parts.push(`≤ ${options.max_hops} hops`);
    if (options.queries != null) parts.push(`${options.queries} probe${options.queries === 1 ? "" : "s"} a hop`);
    if (options.wait != null) parts.push(`wait ${options.wait} s`);
  } else {
    parts.push("mtr", options.count ? `${options.count} round${options.count === 1 ? "" : "s"}` : "until stopped");
    if (options.interval != null) parts.push(`every ${options.interval} s`);
    if (options.max_hops != null) parts.push(`≤ ${options.max_hops} hops`);
  }
  if (options.size != null) parts.push(`${options.size} B`);
  if (options.family) parts.push(`IPv${options.family} only`);
  if (nodes.length) parts.push(`from ${nodes.join(", ")}`);
  return parts.join(" · ");
}
