// The sim profile's NHI cloud simulator: its recent calls (endpoint, card, code) beside the
// API log. The path exists in the sim profile only; elsewhere the block stays hidden.

import { request } from "./api.js";

const PATH = "/api/sim/v1/Cloud/Calls";
const EVERY_MS = 2000; // the calls come from a clinic system, not from this page: poll

let timer = null;

async function loadCloudCalls() {
  const reply = await request("GET", PATH, undefined, { quiet: true });
  const block = document.getElementById("cloud-calls");
  if (reply.statusCode === -404) {
    clearInterval(timer); // not a sim broker: nothing to show, ever
    return;
  }
  if (reply.statusCode !== 0) return; // unreachable for now: keep the last rows
  block.hidden = false;
  const tbody = document.getElementById("cloud-call-rows");
  tbody.replaceChildren();
  for (const call of reply.calls ?? []) {
    const row = tbody.insertRow();
    row.insertCell().textContent = call.endpoint.replace(/^\/(api|test)\/v1\//, "");
    row.insertCell().textContent = call.card;
    const result = row.insertCell();
    result.textContent = String(call.statusCode);
    result.className = call.statusCode === 0 || call.statusCode === 3209 ? "ok" : "fail";
    row.title = new Date(call.time * 1000).toLocaleString("zh-TW");
  }
}

timer = setInterval(loadCloudCalls, EVERY_MS);
loadCloudCalls();
