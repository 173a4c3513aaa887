// The panels on the page, in order: adding, moving, removing them, the runs
// bar above them, and what the server refused (shown by the form).

import { $ } from "./dom.js";
import { Panel, panelKey } from "./panel.js";
import { SummaryView } from "./summary.js";

export class Board {
  /** openSource: as Panel's; on: changed(), refusals([{target, text, field}]), saved(), about(), sourceChanged(), wamp(), tools(). */
  constructor({ openSource, on }) {
    this.panels = [];
    this.refusals = new Map(); // panel -> {text, field}
    this.openSource = openSource;
    this.on = on;
    this.box = $("#panels");
    this.summary = new SummaryView({ panels: () => this.panels, wamp: on.wamp });
    this.hooks = {
      rendered: () => this.summary.touch(),
      changed: (panel, source, before) => {
        on.sourceChanged(panel, source, before);
        this.changed();
      },
      refusal: (panel, text, field) => this.setRefusal(panel, text, field),
      remove: (panel) => this.remove(panel),
      about: on.about,
      tools: on.tools,
    };
  }

  get active() {
    return this.panels.filter((p) => p.active);
  }

  find(target, options, nodes) {
    const key = panelKey(target, options, nodes);
    return this.panels.find((p) => p.key === key);
  }

  /** Start target's run in its panel (made, or moved to the end where new runs appear). */
  run(target, options, nodes) {
    let panel = this.find(target, options, nodes);
    if (panel?.active) return panel; // already live: nothing to start
    if (panel) {
      this.panels.splice(this.panels.indexOf(panel), 1);
    } else {
      panel = new Panel(target, options, nodes, { openSource: this.openSource, hooks: this.hooks });
    }
    this.panels.push(panel);
    this.box.append(panel.el);
    panel.chart.fit(); // uPlot measured a detached element: fit it now that it is laid out
    panel.start();
    this.changed();
    return panel;
  }

  remove(panel) {
    const index = this.panels.indexOf(panel);
    panel.destroy();
    if (index >= 0) this.panels.splice(index, 1);
    this.changed();
    this.on.saved();
    // keep the keyboard somewhere sensible
    const next = this.panels[index] || this.panels[index - 1];
    (next ? next.view.action() : $("#target")).focus();
  }

  clearDone() {
    for (const p of this.panels.filter((p) => !p.active)) p.destroy();
    this.panels = this.panels.filter((p) => p.active);
    this.changed();
    this.on.saved();
  }

  stopAll() {
    for (const p of this.panels) p.stop();
  }

  setRefusal(panel, text, field) {
    if (text) this.refusals.set(panel, { text, field });
    else if (!this.refusals.delete(panel)) return;
    this.showRefusals();
  }

  clearRefusals() {
    this.refusals.clear();
    this.showRefusals();
  }

  showRefusals() {
    this.on.refusals([...this.refusals].map(([panel, r]) => ({ target: panel.target, ...r })));
  }

  /** The start queue moved: every waiting panel's place in it changed. */
  queued() {
    for (const panel of this.panels) panel.changed();
    this.changed();
  }

  /** The runs bar: how many, how many live, how many wait their turn, the buttons that apply. */
  changed() {
    const count = this.panels.length;
    const waiting = this.panels.filter((p) => p.waiting).length;
    const running = this.active.length - waiting;
    $("#runs-bar").hidden = count === 0;
    $("#empty").hidden = count > 0;
    const parts = [`${count} run${count === 1 ? "" : "s"}`, running ? `${running} live` : "", waiting ? `${waiting} waiting their turn` : ""];
    $("#runs-title").textContent = count ? parts.filter(Boolean).join(" · ") : "Runs";
    $("#stop-all").hidden = running === 0;
    $("#clear-done").hidden = count - running === 0;
    document.body.classList.toggle("has-runs", count > 0);
    this.summary.touch();
    this.on.changed();
  }
}
