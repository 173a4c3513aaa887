// The page's one test hook, for the browser tests and for curious people in
// the console: window.pinguTest.snapshot() is the page as plain data (a
// copy: changing it changes nothing); feed() hands a panel's source events
// as if its connection had brought them.

import { connSnapshot } from "./status.js";

/** app: {mode, ready, board, form, nodes}. */
export function installTestHook(app) {
  const snapshot = () =>
    JSON.parse(
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
  const feed = (panelIndex, sourceIndex, events) => {
    const panel = app.board.panels[panelIndex];
    if (!panel || !panel.sources[sourceIndex]) throw new Error(`no source ${sourceIndex} in panel ${panelIndex}`);
    panel.feed(sourceIndex, events);
  };
  window.pinguTest = Object.freeze({ snapshot, feed });
}
