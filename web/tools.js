// The tools a run can use, pure, as the server describes them: /pingu-info.json's
// `tools` (or a WAMP node's pingu.<node>.tools), pingu.tools.describe() on the
// server. Nothing here names a tool: the list, each tool's fields, their
// bounds, labels, help and URL parameters, its target kind and its display kind
// all come from that description. The bounds only help the form: the server
// stays the judge.

/** The display kinds (pingu/tools/spec.py's DISPLAY_KINDS): a view per kind. */
export const RTT_SERIES = "rtt-series"; // one reply per probe: chart, statistics
export const HOP_TABLE = "hop-table"; // one line per hop, once
export const HOP_STATS = "hop-stats"; // per-hop statistics updated each round
export const HTTP_TIMINGS = "http-timings"; // an RTT series, and each request's phases and status

/** Display kinds drawn as a hop table (no RTT chart). */
const PATH_DISPLAYS = new Set([HOP_TABLE, HOP_STATS]);

/** What the target input asks for, by target kind (pingu/tools/spec.py's PROBED_FIELD). */
export const TARGET_KINDS = Object.freeze({
  address: { placeholder: "host or address, e.g. 127.0.0.1 ::1 localhost", what: "a host name or an IP address" },
  url: { placeholder: "http:// or https:// URL, e.g. http://127.0.0.1/", what: "an http:// or https:// URL" },
  "name-at-resolver": { placeholder: "name to query, e.g. example.com", what: "a name to query" },
});

const isText = (v) => typeof v === "string" && v !== "";
const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

/** One field of the description, as the form uses it: {name, type, choices, min, max, param, label, help, unit, required}. */
function input(field, required = false) {
  return Object.freeze({
    name: field.name,
    type: field.type,
    choices: Object.freeze(Array.isArray(field.choices) ? field.choices.filter(isText) : []),
    min: isNumber(field.min) ? field.min : null,
    max: isNumber(field.max) ? field.max : null,
    param: field.param,
    label: isText(field.label) ? field.label : field.name,
    help: isText(field.help) ? field.help : "",
    unit: isText(field.unit) ? field.unit : "",
    required,
  });
}

const validField = (f) => f && isText(f.name) && /^[a-z_]+$/.test(f.name) && isText(f.param);

/**
 * The server's description -> the page's tools: {names, default, byName}.
 * The first tool is the default (the registry lists the default tool first):
 * a request or a link without a tool is its. Each tool: {name, display,
 * target, installed, inputs}; inputs are the probed field when it is not the
 * target (a resolver), then the tool's fields, in the server's order.
 */
export function toolSet(described) {
  const list = (Array.isArray(described) ? described : []).filter((t) => t && isText(t.name) && /^[a-z0-9-]+$/.test(t.name));
  const byName = {};
  for (const t of list) {
    const fields = (Array.isArray(t.fields) ? t.fields : []).filter(validField).map((f) => input(f));
    const probed = validField(t.probed) ? [input(t.probed, true)] : [];
    byName[t.name] = Object.freeze({
      name: t.name,
      display: isText(t.display) ? t.display : RTT_SERIES,
      target: t.target in TARGET_KINDS ? t.target : "address",
      installed: t.installed !== false,
      inputs: Object.freeze([...probed, ...fields]),
    });
  }
  const names = Object.freeze(Object.keys(byName));
  return Object.freeze({ names, default: names[0] ?? null, byName: Object.freeze(byName) });
}

/**
 * Several nodes' descriptions (WAMP) as one: every tool any of them has, in
 * the order they list them; a tool's fields from the first that lists it,
 * installed when any has it.
 */
export function mergeTools(descriptions) {
  const merged = new Map();
  for (const described of descriptions) {
    for (const t of Array.isArray(described) ? described : []) {
      if (!t || !isText(t.name)) continue;
      const known = merged.get(t.name);
      if (!known) merged.set(t.name, { ...t });
      else if (t.installed !== false) known.installed = true;
    }
  }
  return [...merged.values()];
}

/** A tool's name, or the default tool for anything else (old links, old requests). */
export const toolOf = (tools, name) => (tools.byName[name] ? name : tools.default);

/** The description of a tool (the default's for an unknown name), or null when the server described none. */
export const toolInfo = (tools, name) => tools.byName[toolOf(tools, name)] ?? null;

/** How a tool's runs are shown (an RTT series when the server said nothing). */
export const displayOf = (tools, name) => toolInfo(tools, name)?.display ?? RTT_SERIES;

/** Display kinds drawn as a hop table, not an RTT chart. */
export const isPathDisplay = (display) => PATH_DISPLAYS.has(display);

/** Every input any tool has, each once (a field two tools take is one input), in order of first appearance. */
export function allInputs(tools) {
  const seen = new Map();
  for (const name of tools.names) for (const f of tools.byName[name].inputs) if (!seen.has(f.name)) seen.set(f.name, f);
  return [...seen.values()];
}

/** Every URL parameter of the tools' inputs: field name -> param. */
export function paramsOf(tools) {
  return Object.fromEntries(allInputs(tools).map((f) => [f.name, f.param]));
}

/** The request a panel sends: the target, the tool when it is not the default, the options the tool takes. */
export function buildRequest(tools, target, tool, options) {
  const request = { target };
  const info = toolInfo(tools, tool);
  if (info && info.name !== tools.default) request.tool = info.name;
  for (const key of [...(info?.inputs.map((f) => f.name) ?? []), "family"]) if (options[key] != null) request[key] = options[key];
  return request;
}

/** "tcp · Port 443 · Count 5 · Interval 0.2 s · IPv6 only · from alpha, beta": the tool, its fields' labels and values. */
export function describeOptions(tools, options, nodes, tool = options.tool) {
  const info = toolInfo(tools, tool);
  const parts = [];
  if (info) {
    parts.push(info.name);
    for (const f of info.inputs) {
      if (options[f.name] == null) continue;
      parts.push(`${f.label} ${options[f.name]}${f.unit ? ` ${f.unit}` : ""}`);
    }
  }
  if (options.family) parts.push(`IPv${options.family} only`);
  if (nodes.length) parts.push(`from ${nodes.join(", ")}`);
  return parts.join(" · ");
}
