// The connection status in the header: {state: "connecting" | "ok" | "error", text}.

import { $ } from "./dom.js";

export function setConn(state, text) {
  $("#conn").dataset.state = state;
  $("#conn-text").textContent = text;
}

export function connSnapshot() {
  return { state: $("#conn").dataset.state || "connecting", text: $("#conn-text").textContent };
}
