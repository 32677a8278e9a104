// Live figures from real traffic: GET /_emulator/stats once a second while the page is visible (the
// emulator samples only while someone asked in the last 30 s, so a hidden tab costs nothing).

import { admin } from "./api.js";

const POLL_MS = 1000;
const listeners = new Set();
let latest = null;
let lastError = "";
let timer = null;

export function onStats(fn) {
  listeners.add(fn);
  if (latest || lastError) fn(latest, lastError);
  return () => listeners.delete(fn);
}

export function currentStats() {
  return latest;
}

async function poll() {
  timer = null;
  if (document.visibilityState !== "visible") return;
  try {
    latest = await admin("GET", "/_emulator/stats");
    lastError = "";
  } catch (exc) {
    lastError = `live stats: ${exc.text || exc.message || exc}`;
  }
  for (const fn of listeners) fn(latest, lastError);
  schedule();
}

function schedule() {
  if (timer === null && document.visibilityState === "visible") timer = setTimeout(poll, POLL_MS);
}

export function startStats() {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && timer === null) poll();
  });
  poll();
}

/** The stats of one endpoint: role "inputs" or "outputs". */
export function endpointStats(stats, flowId, role, name) {
  const flow = stats && stats.flows && stats.flows[flowId];
  return (flow && flow[role] && flow[role][name]) || null;
}
