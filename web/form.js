// The form: the tool, what it asks for (checkForm, pure), what is wrong with
// it, what the server refused (next to it, the field in question marked), the
// one button that applies (Start, or Stop while what it says is live), the
// limits. The tool choice and every tool's fields are built from the server's
// description of its tools (tools.js: /pingu-info.json's `tools`, or the WAMP
// nodes'): a field two tools take is one input, shown only while a tool that
// takes it is chosen, with that tool's label, bounds and help.

import { $, el } from "./dom.js";
import { capitalize } from "./run.js";
import { TARGET_KINDS, allInputs, toolInfo, toolOf, toolSet } from "./tools.js";

/** An input's element id: its field name with dashes (max_hops -> #max-hops). */
export const inputId = (name) => name.replace(/_/g, "-");

export function parseTargets(text) {
  return [...new Set(String(text).split(/[\s,;]+/).filter(Boolean))];
}

function rangeText(rule) {
  if (rule.min != null && rule.max != null) return `between ${rule.min} and ${rule.max}`;
  return rule.max != null ? `at most ${rule.max}` : `at least ${rule.min}`;
}

const UNIT_WORDS = { s: " seconds", B: " bytes" };

/** One input's value (a trimmed string) -> {value} or {error}. */
function checkInput(f, raw, badInput) {
  if (raw === "") {
    if (badInput) return { error: `${f.label} must be a number.` };
    if (f.required) return { error: `${f.label}: enter ${f.type === "host" ? "a host name or an IP address" : "a value"}.` };
    return {};
  }
  if (f.type === "str") {
    return f.choices.includes(raw) ? { value: raw } : { error: `${f.label} must be one of: ${f.choices.join(", ")}.` };
  }
  if (f.type !== "int" && f.type !== "float") return raw.length > 253 ? { error: `${f.label} is at most 253 characters.` } : { value: raw };
  const value = Number(raw);
  const whole = f.type === "int";
  if (!Number.isFinite(value) || (whole && !Number.isInteger(value))) return { error: `${f.label} must be ${whole ? "a whole number" : "a number"}.` };
  if ((f.min != null && value < f.min) || (f.max != null && value > f.max)) {
    return { error: `${f.label} must be ${rangeText(f)}${UNIT_WORDS[f.unit] ?? (f.unit ? ` ${f.unit}` : "")}.` };
  }
  return { value };
}

/**
 * The form's values ({tool, target, <field>: strings, badInput: {field:
 * bool}, family: "" | "4" | "6", nodes: [checked names]}) against the
 * tools' description (tools.js's toolSet) -> {targets, options, nodes}, or
 * {error, field} (the field's name: target, an option's, or nodes). Only the
 * chosen tool's fields count; options carry `tool` when it is not the
 * default. wamp: {nodes: every known node} in WAMP mode, null in WebSocket mode.
 */
export function checkForm(values, tools = toolSet([]), wamp = null) {
  const info = toolInfo(tools, values.tool);
  const kind = TARGET_KINDS[info?.target] ?? TARGET_KINDS.address;
  const targets = parseTargets(values.target || "");
  if (!targets.length) return { error: `Enter ${kind.what}.`, field: "target" };
  // a host name's longest (a URL's is the server's --max-url-length: it judges that one)
  if (info?.target !== "url" && targets.some((t) => t.length > 253)) return { error: "A host name is at most 253 characters.", field: "target" };
  const options = info && info.name !== tools.default ? { tool: info.name } : {};
  for (const f of info?.inputs ?? []) {
    const checked = checkInput(f, String(values[f.name] ?? "").trim(), values.badInput?.[f.name]);
    if (checked.error) return { error: checked.error, field: f.name };
    if (checked.value !== undefined) options[f.name] = checked.value;
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

const input = (field) => (field === "target" ? $("#target") : field === "nodes" ? $("#node-list input") || $("#target") : $(`#${inputId(field)}`));

/** A field's control: a select for a choice, a text input for a host, a number input for the rest. */
function control(f) {
  let control;
  if (f.type === "str") {
    control = el("select");
    const none = el("option", "", "default");
    none.value = "";
    control.append(none, ...f.choices.map((c) => el("option", "", c)));
  } else {
    control = el("input");
    if (f.type === "host") {
      control.type = "text";
      control.spellcheck = false;
      control.setAttribute("autocapitalize", "off");
    } else {
      control.type = "number";
      control.inputMode = f.type === "int" ? "numeric" : "decimal";
      control.step = f.type === "int" ? "1" : "any";
    }
  }
  control.id = inputId(f.name);
  control.name = f.param;
  return control;
}

export class Form {
  constructor() {
    this.el = $("#form");
    this.limits = {};
    this.tools = toolSet([]);
    this.fields = new Map(); // field name -> {box, label, control}
    this.showTool();
  }

  /** Build the tool choice and the fields from the tools' description (what the form says is kept). */
  setTools(tools) {
    const chosen = this.tool;
    const kept = this.values();
    this.tools = tools;
    const choice = $("#tool-choice");
    choice.replaceChildren();
    for (const name of tools.names) {
      const radio = el("input");
      radio.type = "radio";
      radio.name = "tool";
      radio.id = `tool-${name}`;
      radio.value = name;
      radio.checked = name === (toolOf(tools, chosen) ?? tools.default);
      radio.addEventListener("change", () => this.showTool());
      const label = el("label", "", name);
      label.htmlFor = radio.id;
      if (!tools.byName[name].installed) label.title = `${name} is not installed on this server`;
      choice.append(radio, label);
    }
    $("#tool-field").hidden = tools.names.length < 2;
    for (const { box } of this.fields.values()) box.remove();
    this.fields.clear();
    const before = $("#family-field");
    for (const f of allInputs(tools)) {
      const box = el("div", `field field-${f.type}`);
      box.dataset.field = f.name;
      const label = el("label");
      const ctl = control(f);
      label.htmlFor = ctl.id;
      if (kept[f.name] != null) ctl.value = kept[f.name];
      box.append(label, ctl);
      before.parentNode.insertBefore(box, before);
      this.fields.set(f.name, { box, label, control: ctl });
    }
    this.showTool();
  }

  get tool() {
    return toolOf(this.tools, $("#form input[name=tool]:checked")?.value);
  }

  /** Only the chosen tool's fields, with its words, bounds and help. */
  showTool() {
    const info = toolInfo(this.tools, this.tool);
    this.el.dataset.tool = info?.name ?? "";
    this.el.dataset.display = info?.display ?? "";
    const kind = TARGET_KINDS[info?.target] ?? TARGET_KINDS.address;
    $("#target").placeholder = kind.placeholder;
    const own = new Map((info?.inputs ?? []).map((f) => [f.name, f]));
    // the chosen tool's fields in its own order (a resolver first)
    const family = $("#family-field");
    for (const name of own.keys()) family.parentNode.insertBefore(this.fields.get(name).box, family);
    for (const [name, { box, label, control }] of this.fields) {
      const f = own.get(name);
      box.hidden = !f;
      if (!f) continue;
      label.replaceChildren(f.label);
      if (f.unit) label.append(" ", el("span", "unit", f.unit));
      for (const end of ["min", "max"]) {
        if (f[end] != null) control.setAttribute(end, f[end]);
        else control.removeAttribute(end);
      }
      control.required = f.required;
      control.title = f.help;
      if (control.tagName === "INPUT") control.placeholder = f.required ? "required" : f.min != null && f.max != null ? `${f.min}–${f.max}` : "";
    }
  }

  values() {
    const values = { tool: this.tool, target: $("#target").value, badInput: {}, family: $("#form input[name=f]:checked")?.value || "" };
    for (const [name, { control }] of this.fields) {
      values[name] = control.value;
      values.badInput[name] = !!control.validity?.badInput;
    }
    values.nodes = [...document.querySelectorAll("#node-list input:checked")].map((i) => i.value);
    return values;
  }

  /** checkForm on what the form says now; wamp as checkForm's. */
  check(wamp) {
    return checkForm(this.values(), this.tools, wamp);
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
      const marked = (field === "target" || this.fields.has(field)) && input(field);
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

  /** Fill in what a link asked for (url-state.js's readQuery): its targets, tool, fields (by URL parameter), family. */
  load(query) {
    const { targets, family } = query;
    if (targets.length) $("#target").value = targets.join(" ");
    if (query.tool != null) {
      const tool = $(`#tool-${toolOf(this.tools, query.tool)}`);
      if (tool) tool.checked = true;
    }
    for (const f of allInputs(this.tools)) {
      const value = query.params?.[f.param];
      if (value != null) this.fields.get(f.name).control.value = value;
    }
    const radio = $(`#form input[name=f][value="${family || ""}"]`);
    if (radio) radio.checked = true;
    this.showTool();
  }

  applyLimits(limits) {
    this.limits = limits || {};
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
