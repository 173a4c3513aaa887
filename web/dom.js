// Small DOM helpers shared by the views. Text from the server only ever
// enters the page through textContent and text nodes (el, textNodes).

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** A template's first element, cloned. */
export function fromTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;

/**
 * Ping's text as DOM nodes: text nodes, and control characters in caret
 * notation (ESC shows as ^[) in a dimmed span, so nothing is interpreted.
 */
export function textNodes(text) {
  const out = [];
  let rest = String(text);
  while (rest) {
    const match = CONTROL.exec(rest);
    if (!match) {
      out.push(document.createTextNode(rest));
      break;
    }
    if (match.index) out.push(document.createTextNode(rest.slice(0, match.index)));
    const code = match[0].charCodeAt(0);
    const caret = el("span", "ctrl", code === 0x7f ? "^?" : `^${String.fromCharCode(code + 64)}`);
    caret.title = `control character U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
    out.push(caret);
    rest = rest.slice(match.index + 1);
  }
  return out;
}

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** The series colours, as CSS custom properties, by source index. */
export const PALETTE = ["--series-1", "--series-2", "--series-3", "--series-4", "--series-5", "--series-6"];
export const seriesVar = (index) => `var(${PALETTE[index % PALETTE.length]})`;

// One animation frame applies everything that arrived since the last one.
const dirty = new Set();
let frameRequested = false;

/** Call `thing.render()` once, at the next frame. */
export function schedule(thing) {
  dirty.add(thing);
  if (frameRequested) return;
  frameRequested = true;
  const flush = () => {
    frameRequested = false;
    renderPending();
  };
  // rAF pauses in background tabs; a timer keeps lines flowing there (cheaply, once a second)
  if (document.hidden) setTimeout(flush, 1000);
  else requestAnimationFrame(flush);
}

/** Render now what waits for the next frame: a snapshot of the page (the browser
 * tests') then shows every event already taken, not the frame before. */
export function renderPending() {
  const things = [...dirty];
  dirty.clear();
  for (const t of things) t.render();
}

export function unschedule(thing) {
  dirty.delete(thing);
}

/** "07:01:37", or "07:01:37.4" for a time between seconds. */
export function clockTime(seconds) {
  const d = new Date(Math.round(seconds * 10) * 100);
  const hms = [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  const tenths = Math.round(seconds * 10) % 10;
  return tenths ? `${hms}.${tenths}` : hms;
}
