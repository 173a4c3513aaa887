// The browser tests' hook into the page (it never ships: tests/harness/browser.py's
// hooked_context serves it beside the page's modules and appends
// `installTestHook(app)` to the app.js it serves to the tests):
// window.pinguTest.snapshot() is the page as plain data (a copy: changing it
// changes nothing); feed() hands a panel's source events as if its connection
// had brought them.

import { renderPending } from "./dom.js";
import { connSnapshot } from "./status.js";

/** app: {mode, ready, board, form, nodes}. */
export function installTestHook(app) {
  // what the model has taken and what the view shows, alike: the view
  // renders once a frame, and a snapshot between the two would mix them
  const snapshot = () => {
    renderPending();
    return JSON.parse(
      JSON.stringify({
        mode: app.mode,
        ready: app.ready,
        conn: connSnapshot(),
        nodes: app.nodes ? [...app.nodes.names] : [],
        form: app.form.snapshot(),
        panels: app.board.panels.map((p) => p.snapshot()),
        summary: app.board.summary.snapshot(),
      }),
    );
  };
  const feed = (panelIndex, sourceIndex, events) => {
    const panel = app.board.panels[panelIndex];
    if (!panel || !panel.sources[sourceIndex]) throw new Error(`no source ${sourceIndex} in panel ${panelIndex}`);
    const source = panel.sources[sourceIndex];
    for (const event of events) panel.act(source, { type: "event", event });
  };
  window.pinguTest = Object.freeze({ snapshot, feed });
}
