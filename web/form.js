// The form: the tool, what it asks for (checkForm, pure), what is wrong with
// it, what the server refused (next to it, the field in question marked), the
// one button that applies (Start, or Stop while what it says is live), the
// limits. Each tool's own fields are shown only while that tool is chosen.

import { $, el } from "./dom.js";
import { capitalize } from "./run.js";
import { DEFAULT_TOOL, TOOL_FIELDS, bound, fieldRule, toolOf } from "./tools.js";

/** The option fields, by request field name. */
export const FIELDS = Object.freeze({
  count: "#count",
  interval: "#interval",
  size: "#size",
  max_hops: "#max-hops",
  queries: "#queries",
  wait: "#wait",
});

export function parseTargets(text) {
  return [...new Set(String(text).split(/[\s,;]+/).filter(Boolean))];
}

function rangeText(rule) {
  if (rule.min != null && rule.max != null) return `between ${rule.min} and ${rule.max}`;
  return rule.max != null ? `at most ${rule.max}` : `at least ${rule.min}`;
}

/**
 * The form's values ({tool, target, count, interval, size, max_hops, queries,
 * wait: strings, badInput: {key: bool}, family: "" | "4" | "6", nodes: [checked
 * names]}) against the server's limits -> {targets, options, nodes}, or {error,
 * field} (the field's name: target, an option's, or nodes). Only the chosen
 * tool's fields count; options carry `tool` when it is not ping. wamp: {nodes:
 * every known node} in WAMP mode, null in WebSocket mode.
 */
export function checkForm(values, limits = {}, wamp = null) {
  const tool = toolOf(values.tool);
  const targets = parseTargets(values.target || "");
  if (!targets.length) {
    return { error: `Enter a host name or an IP address to ${tool === "ping" ? "ping" : "trace"}.`, field: "target" };
  }
  if (targets.some((t) => t.length > 253)) return { error: "A host name is at most 253 characters.", field: "target" };
  const options = tool === DEFAULT_TOOL ? {} : { tool };
  for (const key of TOOL_FIELDS[tool]) {
    const rule = fieldRule(tool, key, limits);
    const raw = String(values[key] ?? "").trim();
    if (raw === "") {
      if (values.badInput?.[key]) return { error: `${rule.what} must be a number.`, field: key };
      continue;
    }
    const value = Number(raw);
    if (!Number.isFinite(value) || (rule.int && !Number.isInteger(value))) {
      return { error: `${rule.what} must be ${rule.int ? "a whole number" : "a number"}.`, field: key };
    }
    if ((rule.min != null && value < rule.min) || (rule.max != null && value > rule.max)) {
      return { error: `${rule.what} must be ${rangeText(rule)}${rule.unit}.`, field: key };
    }
    options[key] = value;
  }
  if (values.family === "4" || values.family === "6") options.family = Number(values.family);
  let nodes = [];
  if (wamp) {
    nodes = [...(values.nodes || [])];
    if (!nodes.length) {
      const error = wamp.nodes.length ? "Choose at least one vantage node." : "No pingu node is connected to the router yet.";
      return { error, field: "nodes" };
    }
  }
  return { targets, options, nodes };
}

const input = (field) => (field === "target" ? $("#target") : field === "nodes" ? $("#node-list input") || $("#target") : $(FIELDS[field]));

export class Form {
  constructor() {
    this.el = $("#form");
    this.limits = {};
    for (const radio of this.el.querySelectorAll("input[name=tool]")) radio.addEventListener("change", () => this.showTool());
    this.showTool();
  }

  get tool() {
    return toolOf($("#form input[name=tool]:checked")?.value);
  }

  /** Only the chosen tool's fields, with its words, placeholders and bounds. */
  showTool() {
    const tool = this.tool;
    this.el.dataset.tool = tool;
    for (const field of this.el.querySelectorAll("[data-tools]")) field.hidden = !field.dataset.tools.split(" ").includes(tool);
    for (const node of this.el.querySelectorAll("[data-text-ping]")) node.textContent = node.dataset[`text${capitalize(tool)}`] ?? node.dataset.textPing;
    for (const input of this.el.querySelectorAll("input[data-placeholder-ping]")) {
      input.placeholder = input.dataset[`placeholder${capitalize(tool)}`] ?? input.dataset.placeholderPing;
    }
    for (const [key, selector] of Object.entries(FIELDS)) {
      for (const end of ["min", "max"]) {
        const value = bound(this.limits, tool, key, end);
        if (value != null) $(selector).setAttribute(end, value);
        else $(selector).removeAttribute(end);
      }
    }
  }

  values() {
    const values = { tool: this.tool, target: $("#target").value, badInput: {}, family: $("#form input[name=f]:checked")?.value || "" };
    for (const [key, selector] of Object.entries(FIELDS)) {
      values[key] = $(selector).value;
      values.badInput[key] = $(selector).validity.badInput;
    }
    values.nodes = [...document.querySelectorAll("#node-list input:checked")].map((i) => i.value);
    return values;
  }

  /** checkForm on what the form says now; wamp as checkForm's. */
  check(wamp) {
    return checkForm(this.values(), this.limits, wamp);
  }

  /** Say what is wrong (nothing: clear it), marking and focusing the field. */
  showError(message, field, focus = true) {
    const box = $("#form-error");
    for (const i of document.querySelectorAll("#form [aria-invalid]:not([data-refused])")) i.removeAttribute("aria-invalid");
    box.hidden = !message;
    box.textContent = message || "";
    const target = field && input(field);
    if (target) {
      target.setAttribute("aria-invalid", "true");
      if (focus) target.focus();
    }
  }

  /** refusals: [{target, text, field}], what the server refused. */
  showRefusals(refusals) {
    const box = $("#form-refusals");
    for (const i of document.querySelectorAll("#form [data-refused]")) {
      i.removeAttribute("data-refused");
      if (!$("#form-error").textContent) i.removeAttribute("aria-invalid");
    }
    const items = refusals.map(({ target, text, field }) => {
      const item = el("p", "refusal");
      // "224.0.0.1 refused: …", or just "Refused: …" when the message names the target already
      if (text.includes(target)) item.append(capitalize(text));
      else item.append(el("span", "refused-target", target), ` ${text}`);
      const marked = (field === "target" || FIELDS[field]) && input(field);
      if (marked) {
        marked.setAttribute("aria-invalid", "true");
        marked.dataset.refused = "true";
      }
      return item;
    });
    box.replaceChildren(...items);
    box.hidden = !items.length;
  }

  /** Start, or Stop when what the form says is live already: only the button that applies. */
  showButton(live) {
    const start = $("#start");
    const stop = $("#form-stop");
    if (start.hidden === live && stop.hidden === !live) return;
    const hadFocus = document.activeElement === start || document.activeElement === stop;
    start.hidden = live;
    stop.hidden = !live;
    if (hadFocus) (live ? stop : start).focus({ preventScroll: true });
  }

  /** Fill in what a link asked for (url-state.js's readQuery). */
  load(query) {
    const { targets, family } = query;
    if (targets.length) $("#target").value = targets.join(" ");
    const tool = $(`#form input[name=tool][value="${toolOf(query.tool)}"]`);
    if (tool) tool.checked = true;
    for (const [key, selector] of Object.entries(FIELDS)) if (query[key] != null) $(selector).value = query[key];
    const radio = $(`#form input[name=f][value="${family || ""}"]`);
    if (radio) radio.checked = true;
    this.showTool();
  }

  applyLimits(limits) {
    this.limits = limits || {};
    this.showTool();
    if (!limits) return;
    const hours = limits.max_duration >= 3600 ? `${limits.max_duration / 3600} h` : `${limits.max_duration} s`;
    const parts = [`interval ≥ ${limits.min_interval} s`, `count ≤ ${limits.max_count}`, `size ≤ ${limits.max_size} B`, `runs ≤ ${hours}`];
    if (limits.max_hops != null) parts.splice(3, 0, `hops ≤ ${limits.max_hops}`);
    $("#limits-text").textContent = `Server limits: ${parts.join(" · ")}`;
  }

  snapshot() {
    return {
      error: $("#form-error").hidden ? "" : $("#form-error").textContent,
      refusals: [...document.querySelectorAll("#form-refusals .refusal")].map((p) => p.textContent),
      button: $("#start").hidden ? "stop" : "start",
      invalid: [...document.querySelectorAll("#form [aria-invalid=true]")].map((i) => i.id),
    };
  }
}
