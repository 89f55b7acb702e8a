// What a person may change about where the UI connects, kept in this browser.
const NODE_URL = "matrixai.nodeUrl";

/** The node's WebSocket RPC: the saved choice, else port 9944 on the UI's host (a devnet). */
export function nodeUrl(): string {
  const saved = window.localStorage.getItem(NODE_URL);
  if (saved) return saved;
  const secure = window.location.protocol === "https:";
  return `${secure ? "wss" : "ws"}://${window.location.hostname || "127.0.0.1"}:9944`;
}
