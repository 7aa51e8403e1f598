// 控制軟體主控台: pages and menu, the live header (/api/events/v1, or polling Status
// when the stream is down), the shared 狀態 and API 呼叫記錄 blocks.

import { call, on, request, showResult } from "./api.js";
import { clearPage, initBlocks } from "./blocks.js";
import { CODES } from "./codes.js";
import { HC, HCA, SAM, kindName } from "./labels.js";
import { SETTINGS_ACTIONS, initSettings, loadSettings } from "./settings.js";

export const CONSOLE_VERSION = "1.1.8";
const PAGES = ["common", "sam", "hca", "hc", "settings", "swagger", "about"];
const HOME = "common";
const POLL_MS = 1000;
const EVENTS_RETRY_MS = 5000;
const NARROW = window.matchMedia("(max-width: 800px)");

const $ = (selector) => document.querySelector(selector);

// --- pages and menu -------------------------------------------------------------

function currentPage() {
  const name = location.hash.replace(/^#\/?/, "");
  return PAGES.includes(name) ? name : HOME;
}

function showPage(focus) {
  const name = currentPage();
  for (const page of PAGES) $(`#page-${page}`).hidden = page !== name;
  for (const link of document.querySelectorAll("#menu a[data-page]")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${$(`#page-${name}`).dataset.title} - 控制軟體主控台`;
  if (name === "settings") loadSettings();
  if (name === "swagger") {
    const frame = $("#swagger-frame");
    if (!frame.getAttribute("src")) frame.src = "/api/swagger/index.html";
  }
  if (NARROW.matches) setMenu(false);
  if (focus) $(`#page-${name} h1`).focus();
}

function setMenu(open) {
  document.body.classList.toggle("menu-closed", !open);
  $("#menu-toggle").setAttribute("aria-expanded", String(open));
  $("#scrim").hidden = !(open && NARROW.matches);
  $("#menu").inert = !open;
}

function initMenu() {
  setMenu(!NARROW.matches);
  NARROW.addEventListener("change", () => setMenu(!NARROW.matches));
  $("#menu-toggle").addEventListener("click", () => {
    const open = document.body.classList.contains("menu-closed");
    setMenu(open);
    if (open && NARROW.matches) $("#menu a[aria-current='page']")?.focus();
  });
  $("#scrim").addEventListener("click", () => setMenu(false));
  document.addEventListener("keydown", (event) => {
    const open = !document.body.classList.contains("menu-closed");
    if (event.key === "Escape" && NARROW.matches && open) {
      setMenu(false);
      $("#menu-toggle").focus();
    }
  });
  window.addEventListener("hashchange", () => showPage(true));
}

// --- ⋯ menus ---------------------------------------------------------------------

const ACTIONS = {
  ...SETTINGS_ACTIONS,
  "log-clear": clearLog,
};

function closeMoreMenus(except) {
  for (const button of document.querySelectorAll(".more-button[aria-expanded='true']")) {
    if (button === except) continue;
    button.setAttribute("aria-expanded", "false");
    document.getElementById(button.getAttribute("aria-controls")).hidden = true;
  }
}

function menuItems(menu) {
  return [...menu.querySelectorAll("[role='menuitem']")];
}

function initMoreMenus() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest(".more-button");
    const item = event.target.closest("[role='menuitem']");
    if (button) {
      const menu = document.getElementById(button.getAttribute("aria-controls"));
      const open = button.getAttribute("aria-expanded") !== "true";
      closeMoreMenus(button);
      button.setAttribute("aria-expanded", String(open));
      menu.hidden = !open;
      if (open) menuItems(menu)[0]?.focus();
      return;
    }
    if (item) {
      const owner = item.closest(".more").querySelector(".more-button");
      closeMoreMenus();
      owner.focus();
      ACTIONS[item.dataset.action]?.();
      return;
    }
    if (!event.target.closest(".more-menu")) closeMoreMenus();
  });
  document.addEventListener("keydown", (event) => {
    const menu = event.target.closest?.(".more-menu");
    if (!menu) return;
    const items = menuItems(menu);
    const at = items.indexOf(event.target);
    if (event.key === "Escape" || event.key === "Tab") {
      const owner = menu.closest(".more").querySelector(".more-button");
      closeMoreMenus();
      if (event.key === "Escape") {
        event.preventDefault();
        owner.focus();
      }
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      items[(at + step + items.length) % items.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      items[event.key === "Home" ? 0 : items.length - 1].focus();
    }
  });
}

// --- dialogs: focus stays inside while one is open ----------------------------------

const FOCUSABLE = [
  "button:not([disabled])",
  "input:not([disabled]):not([tabindex='-1'])",
  "select",
  "textarea",
  "a[href]",
  "[tabindex='0']",
].join(", ");

function initDialogs() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const dialog = document.querySelector("dialog[open]");
    if (!dialog) return;
    const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((e) => e.offsetParent !== null);
    if (items.length === 0) return;
    const first = items[0];
    const last = items.at(-1);
    const inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });
}

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

function forgetGonePeople(before, after) {
  const pages = document.querySelector(".pages");
  const released = before?.initialized && !after?.initialized;
  if (released || holderGone(before?.hc, after?.hc)) clearPage(pages, "hc");
  if (released || holderGone(before?.hpc, after?.hpc)) clearPage(pages, "hca");
}

function applyStatus(status) {
  if (!status || typeof status !== "object") return;
  const before = lastStatus;
  lastStatus = status.sam ? status : (status.status ?? lastStatus);
  forgetGonePeople(before, lastStatus);
  renderStatus();
}

function notice(text) {
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
    eventsOpen = true;
    setPageConnected(true);
    stopPolling();
    scheduleLog();
  });
  source.addEventListener("status", (event) => {
    setPageConnected(true);
    applyStatus(parse(event.data));
  });
  source.addEventListener("state", (event) => {
    setPageConnected(true);
    applyStatus(parse(event.data));
    scheduleLog();
  });
  source.addEventListener("card", () => scheduleLog());
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
    if (source.readyState === EventSource.CLOSED && events === source) events = null;
    startPolling();
  });
}

async function poll() {
  const reply = await request("GET", "/api/common/v1/Status");
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

function initConnection() {
  on("reachable", () => setPageConnected(true));
  on("unreachable", () => {
    setPageConnected(false);
    if (!eventsOpen) startPolling();
  });
  on("called", () => scheduleLog());
  setPageConnected(false);
  startEvents();
  if (!events) startPolling();
}

// --- API 呼叫記錄 -----------------------------------------------------------------

let logTimer = null;

function scheduleLog() {
  if (logTimer !== null) return;
  logTimer = setTimeout(() => {
    logTimer = null;
    loadLog();
  }, 50);
}

async function loadLog() {
  const reply = await request("GET", "/api/common/v1/Log");
  if (reply.statusCode !== 0) return;
  const tbody = $("#log-rows");
  tbody.replaceChildren();
  for (const entry of reply.log ?? []) {
    const row = tbody.insertRow();
    row.insertCell().textContent = entry.function;
    const result = row.insertCell();
    result.textContent = entry.result;
    result.className = entry.result === "0000" ? "ok" : "fail";
    if (entry.time) row.title = new Date(entry.time * 1000).toLocaleString("zh-TW");
  }
}

async function clearLog() {
  const reply = await request("DELETE", "/api/common/v1/Log");
  if (reply.statusCode !== 0) notice(`清除 API 呼叫記錄失敗：${reply.message}`);
  await loadLog();
}

// --- 共用函式: 裝置列表 ----------------------------------------------------------

async function loadDevices() {
  const select = $("#device");
  const reply = await call("GET", "/api/common/v1/Devices");
  if (reply.statusCode !== 0) {
    showResult(select.closest(".block").querySelector("[data-result]"), "更新裝置列表", reply);
    return;
  }
  const keep = select.value;
  select.replaceChildren(new Option("不指定", ""));
  for (const device of reply.devices ?? []) {
    const option = new Option(device.name, device.name);
    option.title = device.kind === "cloud" ? "雲端安全模組" : "通訊埠 (實體安全模組)";
    select.append(option);
  }
  select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
}

// --- 關於 -----------------------------------------------------------------------

function initAbout() {
  $("#console-version").textContent = CONSOLE_VERSION;
  const tbody = $("#code-rows");
  for (const { code, message } of CODES) {
    const row = tbody.insertRow();
    row.insertCell().textContent = code;
    row.insertCell().textContent = message;
  }
  const link = $("#swagger-link");
  link.firstChild.textContent = `${location.origin}/api/swagger/index.html `;
}

function init() {
  initBlocks(document.querySelector(".pages"));
  initSettings();
  initMoreMenus();
  initDialogs();
  initMenu();
  initAbout();
  $("#devices-refresh").addEventListener("click", loadDevices);
  document.addEventListener("devices-changed", loadDevices);  // a cloud SAM imported or removed
  initConnection();
  showPage(false);
  loadDevices();
  loadLog();
}

init();
