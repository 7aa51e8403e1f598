// 控制軟體主控台: pages and menu, dialogs, the shared API 呼叫記錄 and 裝置列表 blocks,
// 關於. The live header and 狀態 are status.js's.

import { call, on, request, showResult } from "./api.js";
import { initBlocks } from "./blocks.js";
import { CODES } from "./codes.js";
import { SETTINGS_ACTIONS, initSettings, loadSettings } from "./settings.js";
import { initConnection, notice } from "./status.js";

export const CONSOLE_VERSION = "1.1.8";
const PAGES = ["common", "sam", "hca", "hc", "settings", "swagger", "about"];
const HOME = "common";
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
  on("called", () => scheduleLog());
  initConnection(scheduleLog);
  showPage(false);
  loadDevices();
  loadLog();
}

init();
