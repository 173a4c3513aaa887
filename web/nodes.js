// WAMP mode: the vantage nodes to choose from, kept current (asked now, and
// told of nodes that join later); the user's choice outlives the list.

import { $, el } from "./dom.js";
import * as wamp from "./wamp.js";

export class NodeList {
  constructor() {
    this.names = [];
    this.choice = null; // the nodes the user chose (null: all)
    this.onJoined = () => {}; // told of each node that joins later
    this.box = $("#node-list");
    this.box.addEventListener("change", () => {
      this.choice = new Set([...this.box.querySelectorAll("input:checked")].map((i) => i.value));
    });
  }

  show() {
    $("#nodes-field").hidden = false;
  }

  /** Ask the router now, and follow joins; `selected`: a link's choice. */
  async watch(selected) {
    await wamp
      .onNodeJoined((name) => {
        if (!this.names.includes(name)) {
          this.names = [...this.names, name].sort();
          this.render();
          this.onJoined(name);
        }
      })
      .catch(() => {});
    try {
      this.names = (await wamp.listNodes()).sort();
    } catch (err) {
      this.names = [];
      const { uri, message } = wamp.describeError(err);
      const text = uri === wamp.NO_SUCH_PROCEDURE ? "no pingu node on this router yet" : `no node answers (${message})`;
      this.box.replaceChildren(el("span", "muted", text));
      return;
    }
    if (selected && selected.length) this.choice = new Set(selected);
    this.render();
  }

  render() {
    this.box.replaceChildren();
    if (!this.names.length) {
      this.box.append(el("span", "muted", "no node connected yet"));
      return;
    }
    for (const name of this.names) {
      const input = el("input");
      input.type = "checkbox";
      input.id = `node-${name}`;
      input.value = name;
      input.checked = this.choice ? this.choice.has(name) : true;
      const label = el("label", "chip", name);
      label.htmlFor = input.id;
      this.box.append(input, label);
    }
  }
}
