// The live header and 狀態: the station's state from /api/events/v1, or from polling
// Status while the stream is down; what the page shows of a person goes with them.

import { on, request } from "./api.js";
import { clearPage, stateChanged } from "./blocks.js";
import { HC, HCA, SAM, kindName } from "./labels.js";

const POLL_MS = 1000;
const EVENTS_RETRY_MS = 5000;

const $ = (selector) => document.querySelector(selector);
let onActivity = () => {};  // calls were made: the console's API 呼叫記錄 reloads

// --- the live header and 狀態 ------------------------------------------------------

let lastStatus = null;
let pageConnected = false;

function setIndicator(id, on, text, state, title) {
  const item = document.getElementById(id);
  item.classList.toggle("on", on);
  item.classList.toggle("off", !on);
  item.querySelector(".ind-text").textContent = text;
  const badge = item.querySelector(".ind-state");
  if (badge) badge.textContent = state;
  item.title = title;
}

function setPageConnected(connected) {
  if (connected === pageConnected && document.body.dataset.connected !== undefined) return;
  pageConnected = connected;
  document.body.dataset.connected = String(connected);
  if (!connected) {
    // Nothing shown of a person outlives the connection: the states are unknown now.
    const pages = document.querySelector(".pages");
    clearPage(pages, "hc");
    clearPage(pages, "hca");
    lastStatus = null;
  }
  const text = connected ? "已連接" : "未連接";
  const title = `主控台頁面與元件${connected ? "已連線" : "已斷線"}`;
  setIndicator("ind-page", connected, text, null, title);
  renderStatus();
}

function cardIndicator(id, table, part) {
  const type = part?.type ?? 0;
  const status = part?.status ?? 0;
  const stale = pageConnected ? "" : "(未連接，最後已知狀態)";
  const title = `${table.long[status] ?? ""}${stale}`;
  setIndicator(id, status > 0, kindName(table, type), String(status), title);
}

function renderStatus() {
  const status = lastStatus ?? {};
  const reader = pageConnected && status.initialized === true;
  const readerTitle = `元件與讀卡機裝置${reader ? "已連線" : "尚未連線"}`;
  setIndicator("ind-reader", reader, reader ? "已連接" : "未連接", null, readerTitle);
  cardIndicator("ind-sam", SAM, status.sam);
  cardIndicator("ind-hca", HCA, status.hpc);
  cardIndicator("ind-hc", HC, status.hc);
  document.querySelector(".indicators").classList.toggle("stale", !pageConnected);

  $("#st-device").textContent = status.deviceName ?? "";
  $("#st-reader").textContent = status.readerName ?? "";
  const parts = [["sam", SAM, status.sam], ["hca", HCA, status.hpc], ["hc", HC, status.hc]];
  for (const [key, table, part] of parts) {
    const state = part?.status ?? 0;
    $(`#st-${key}-kind`).textContent = `${kindName(table, part?.type ?? 0)}：`;
    $(`#st-${key}`).textContent = `${table.short[state] ?? ""} (${state})`;
  }
  $("#st-hc-pin").textContent = status.hc?.hasPin === true ? "有" : "無";
  $("#st-hc-pin-verified").textContent = status.hc?.pinVerified === true ? "是" : "否";
  $("#st-pin-pad").hidden = !(pageConnected && status.pinPadWaiting === true);
  const degraded = $("#st-degraded");
  degraded.hidden = !status.degraded;
  degraded.textContent = status.degraded ? `元件降級運作：${status.degraded}` : "";
}

/** Whether a card's holder has gone since `before`: the card left, was logged out or
 *  replaced (its state fell to 1 or 0, or its kind changed). */
function holderGone(before, after) {
  if (!before) return false;
  const was = before.status ?? 0;
  const now = after?.status ?? 0;
  return (was > now && now <= 1) || (was > 0 && (after?.type ?? 0) !== (before.type ?? 0));
}

function changed(before, after) {
  return (before?.status ?? 0) !== (after?.status ?? 0) || (before?.type ?? 0) !== (after?.type ?? 0);
}

function forgetGonePeople(before, after) {
  const pages = document.querySelector(".pages");
  const released = before?.initialized && !after?.initialized;
  for (const [page, part] of [["hc", "hc"], ["hca", "hpc"]]) {
    if (released || holderGone(before?.[part], after?.[part])) {
      clearPage(pages, page, { ownChange: true });
    }
    if (released || changed(before?.[part], after?.[part])) stateChanged(pages, page);
  }
}

function applyStatus(status) {
  if (!status || typeof status !== "object") return;
  const before = lastStatus;
  lastStatus = status.sam ? status : (status.status ?? lastStatus);
  forgetGonePeople(before, lastStatus);
  renderStatus();
}

export function notice(text) {
  const box = $("#notices");
  const item = document.createElement("p");
  item.className = "notice-item";
  item.textContent = text;
  box.prepend(item);
  while (box.children.length > 3) box.lastElementChild.remove();
  setTimeout(() => item.remove(), 15000);
}

// --- connection: the event stream, or polling while it is down --------------------

let events = null;
let eventsOpen = false;
let pollTimer = null;
let lastEventsTry = 0;
// Polls run only while the stream is closed, so a poll that sees the stream open again
// on its way back carries an older state than the stream's.
let streamOpens = 0;

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

function startEvents() {
  if (!("EventSource" in window)) return;
  lastEventsTry = Date.now();
  const source = new EventSource("/api/events/v1");
  events = source;
  source.addEventListener("open", () => {
    streamOpens += 1;
    eventsOpen = true;
    document.body.dataset.events = "open";
    setPageConnected(true);
    stopPolling();
    onActivity();
  });
  source.addEventListener("status", (event) => {
    setPageConnected(true);
    applyStatus(parse(event.data));
  });
  source.addEventListener("state", (event) => {
    setPageConnected(true);
    applyStatus(parse(event.data));
    onActivity();
  });
  source.addEventListener("card", () => onActivity());
  source.addEventListener("restart", (event) => {
    const data = parse(event.data) ?? {};
    notice(`元件已重新啟動：${data.actor ?? data.name ?? data.station ?? ""}`);
  });
  source.addEventListener("degraded", (event) => {
    const data = parse(event.data) ?? {};
    notice(`元件降級運作：${data.reason ?? data.degraded ?? data.station ?? ""}`);
  });
  source.addEventListener("error", () => {
    eventsOpen = false;
    document.body.dataset.events = "closed";
    if (source.readyState === EventSource.CLOSED && events === source) events = null;
    startPolling();
  });
}

async function poll() {
  const opens = streamOpens;
  const reply = await request("GET", "/api/common/v1/Status");
  if (streamOpens !== opens) return;  // the stream's newer state must not be overwritten
  if (reply.statusCode === 0) {
    applyStatus(reply.status);
    if (!events && Date.now() - lastEventsTry >= EVENTS_RETRY_MS) startEvents();
  }
}

function startPolling() {
  if (pollTimer !== null) return;
  pollTimer = setInterval(poll, POLL_MS);
  poll();
}

function stopPolling() {
  if (pollTimer === null) return;
  clearInterval(pollTimer);
  pollTimer = null;
}

/** Start following the station's state; `activity` runs whenever calls may have been made. */
export function initConnection(activity) {
  onActivity = activity;
  on("reachable", () => setPageConnected(true));
  on("unreachable", () => {
    setPageConnected(false);
    if (!eventsOpen) startPolling();
  });
  setPageConnected(false);
  startEvents();
  if (!events) startPolling();
}
