// The admin API's event stream (GET /_emulator/events, server-sent events) read with fetch(), so that
// the request can be signed when the emulator has access keys (EventSource cannot set headers).
// Reconnects with ?after=<last id> so no event is missed across a reconnect.

import { call } from "./api.js";

const listeners = new Set();
let lastId = null;
let state = "connecting";
const stateListeners = new Set();

export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function onStreamState(fn) {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}

function setState(next) {
  state = next;
  for (const fn of stateListeners) fn(next);
}

function dispatch(event) {
  for (const fn of listeners) {
    try {
      fn(event);
    } catch (exc) {
      console.warn("event listener failed", exc);
    }
  }
}

function parseBlock(block) {
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
    else if (line.startsWith("id:")) lastId = Number(line.slice(3).trim());
  }
  if (!data) return;
  try {
    dispatch(JSON.parse(data));
  } catch (exc) {
    console.warn("bad event", exc);
  }
}

async function readOnce() {
  const query = lastId === null ? {} : { after: String(lastId) };
  const resp = await call("GET", "/_emulator/events", { query, headers: { accept: "text/event-stream" } });
  setState("live");
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const head = /^: mcemu events, last id (\d+)/.exec(block);
      if (head && lastId === null) lastId = Number(head[1]);
      parseBlock(block);
    }
  }
}

/** Start reading the stream for the life of the page (reconnecting after a pause when it ends). */
export async function startEvents() {
  for (let delay = 1000; ; ) {
    try {
      await readOnce();
      delay = 1000;
    } catch (exc) {
      setState(`events: ${exc.text || exc.message || exc}`);
      delay = Math.min(delay * 2, 10000);
    }
    if (state === "live") setState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
