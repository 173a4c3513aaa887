// The hop table of a path tool's panel (display kinds hop-table and hop-stats): one row per hop number, one
// column group per source (the WebSocket, or each vantage node side by side),
// drawn from hops.js's tables. It never inserts server text as HTML:
// textContent only.

import { el, seriesVar } from "./dom.js";
import { cellText, hopColumns, hopNumbers, scaleMax, worstHop } from "./hops.js";
import { fillBar, statsNote } from "./hop-stats-view.js";
import { HOP_STATS } from "./tools.js";

export class HopTableView {
  /** box: where the table goes; display: hop-table or hop-stats; nodes: one name per source ([] for the one WebSocket source). */
  constructor(box, { tool, display, nodes, target }) {
    this.box = box;
    this.display = display;
    this.nodes = nodes;
    this.groups = Math.max(1, nodes.length);
    this.columnsKey = "";
    const scroll = el("div", "hop-scroll");
    scroll.tabIndex = 0;
    scroll.setAttribute("role", "region");
    scroll.setAttribute("aria-label", `${display === HOP_STATS ? `${tool} hops` : "route"} to ${target}`);
    this.table = el("table", `hop-table display-${display}`);
    this.thead = el("thead");
    this.tbody = el("tbody");
    this.table.append(this.thead, this.tbody);
    scroll.append(this.table);
    this.note = el("p", "hop-note muted");
    this.note.setAttribute("aria-live", "off");
    box.append(scroll, this.note);
    box.hidden = false;
    this.worst = [];
    this.render(nodes.length ? nodes.map(() => ({ display, rows: [], probes: 0, rounds: 0 })) : [{ display, rows: [], probes: 0, rounds: 0 }]);
  }

  /** The head: the node names over their groups (several nodes), then each group's columns. */
  head(columns) {
    const rows = [];
    if (this.nodes.length > 1) {
      const names = el("tr", "node-row");
      names.append(el("td", "hop-no"));
      this.nodes.forEach((node, i) => {
        const th = el("th", "node-name");
        th.scope = "colgroup";
        th.colSpan = columns.length;
        const swatch = el("span", "swatch");
        swatch.style.setProperty("--swatch", seriesVar(i));
        th.append(swatch, el("span", "", node));
        names.append(th);
      });
      rows.push(names);
    }
    const labels = el("tr");
    const hash = el("th", "hop-no", "#");
    hash.scope = "col";
    hash.title = "hop";
    labels.append(hash);
    for (let g = 0; g < this.groups; g++) {
      columns.forEach((c, i) => {
        const th = el("th", `col-${c.key.replace(".", "-")}${c.numeric ? " num" : ""}${i === 0 && g > 0 ? " group-start" : ""}`, c.label);
        th.scope = "col";
        if (c.title) th.title = c.title;
        labels.append(th);
      });
    }
    rows.push(labels);
    this.thead.replaceChildren(...rows);
  }

  /** tables: hops.js states, one per source. */
  render(tables) {
    const probes = Math.max(0, ...tables.map((t) => t.probes || 0)) || 3;
    const columns = hopColumns(this.display, probes);
    const key = columns.map((c) => c.key).join();
    if (key !== this.columnsKey) {
      this.columnsKey = key;
      this.head(columns);
    }
    const stats = this.display === HOP_STATS;
    this.worst = tables.map((t) => (stats ? worstHop(t.rows) : null));
    const max = scaleMax(tables);
    const numbers = hopNumbers(tables);
    const rows = numbers.map((hop) => {
      const tr = el("tr");
      tr.dataset.hop = hop;
      const no = el("th", "hop-no", String(hop));
      no.scope = "row";
      tr.append(no);
      tables.forEach((t, g) => {
        const row = t.rows.find((r) => r.hop === hop) || null;
        const worst = stats && this.worst[g] === hop;
        columns.forEach((c, i) => {
          const td = el("td", c.numeric ? "num" : "");
          if (i === 0 && g > 0) td.classList.add("group-start");
          if (c.key === "bar") {
            td.classList.add("bar");
            fillBar(td, row, max);
          } else {
            const text = cellText(row, c.key);
            td.textContent = text;
            if (text === "*") td.classList.add("lost");
          }
          if (c.key === "address") td.classList.add("host");
          if (c.key === "loss_pct" && row?.loss_pct) td.classList.add(row.loss_pct >= 5 ? "bad" : "warn");
          if (worst) td.classList.add("worst");
          if (worst && i === 0) td.prepend(el("span", "worst-tag", "worst"), " "); // first: a narrow cell cuts the address, not the mark
          tr.append(td);
        });
      });
      return tr;
    });
    if (!rows.length) {
      const tr = el("tr", "waiting");
      const td = el("td", "muted", stats ? "waiting for the first round…" : "waiting for the first hop…");
      td.colSpan = 1 + columns.length * this.groups;
      tr.append(td);
      rows.push(tr);
    }
    this.tbody.replaceChildren(...rows);
    // one line per node
    this.note.replaceChildren(...this.noteTexts(tables).map((text) => el("span", "hop-note-line", text)));
  }

  noteTexts(tables) {
    const tag = (i, text) => (this.nodes.length > 1 ? `${this.nodes[i]}: ${text}` : text);
    if (this.display === HOP_STATS) return tables.map((t, i) => tag(i, statsNote(t, this.worst[i])));
    return tables.map((t, i) => tag(i, t.rows.length ? `${t.rows.length} hop${t.rows.length === 1 ? "" : "s"}` : "no hop yet"));
  }

  /** What the table shows, as plain data: the column labels, each row's cells, the worst hop per source. */
  snapshot() {
    const texts = (tr) => [...tr.children].map((c) => (c.querySelector(".worst-tag") ? c.lastChild.textContent.trim() : c.textContent));
    return {
      columns: [...(this.thead.lastElementChild?.children || [])].map((c) => c.textContent),
      rows: [...this.tbody.querySelectorAll("tr[data-hop]")].map(texts),
      worst: [...this.worst],
      worstMarked: [...this.tbody.querySelectorAll("tr[data-hop]")].filter((tr) => tr.querySelector(".worst-tag")).map((tr) => Number(tr.dataset.hop)),
      bars: this.tbody.querySelectorAll(".rtt-bar").length,
      note: [...this.note.children].map((line) => line.textContent).join("\n"),
    };
  }
}
