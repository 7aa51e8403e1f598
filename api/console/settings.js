// 設定 (Settings): 雲端安全模組, PCSC 讀卡機, CORS 設定 — tables, ⋯ menus and dialogs.

import { call, showPending, showResult } from "./api.js";

const CLOUD = "/api/settings/v1/CloudSam";
const PCSC = "/api/settings/v1/PcscReaderReader";
const CORS = "/api/settings/v1/Cors";

const $ = (selector) => document.querySelector(selector);
const resultOf = (selector) => $(`${selector} [data-result]`);

/** Ask before something that cannot be undone; resolves true on 確定. */
export function confirmDialog(title, text, okLabel) {
  const dialog = $("#dlg-confirm");
  $("#dlg-confirm-title").textContent = title;
  $("#dlg-confirm-text").textContent = text;
  $("#dlg-confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    openDialog(dialog);
  });
}

/** Open a modal dialog; focus goes back to where it was when it closes. */
export function openDialog(dialog) {
  const opener = document.activeElement;
  dialog.addEventListener("close", () => opener?.focus?.(), { once: true });
  for (const result of dialog.querySelectorAll("[data-result]")) {
    result.replaceChildren();
    result.className = "result";
  }
  dialog.showModal();
}

function iconButton(label, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "icon-button danger-icon";
  button.setAttribute("aria-label", label);
  button.title = label;
  button.innerHTML = '<svg class="icon"><use href="#i-trash"/></svg>';
  button.addEventListener("click", onClick);
  return button;
}

function emptyRow(tbody, columns, text) {
  const row = tbody.insertRow();
  const cell = row.insertCell();
  cell.colSpan = columns;
  cell.className = "empty";
  cell.textContent = text;
}

// --- 雲端安全模組 ---------------------------------------------------------------

async function loadCloudSams() {
  const reply = await call("GET", `${CLOUD}/Get`);
  const tbody = $("#cloud-rows");
  tbody.replaceChildren();
  if (reply.statusCode !== 0) {
    showResult(resultOf("#cloud-sams"), "重新整理", reply);
    emptyRow(tbody, 6, "無法取得雲端安全模組清單");
    return reply;
  }
  const sams = reply.cloudSams ?? [];
  for (const sam of sams) {
    const row = tbody.insertRow();
    row.dataset.samId = sam.samId;
    row.insertCell().append(iconButton(`移除 ${sam.samId}`, () => removeCloudSam(sam.samId)));
    for (const text of [sam.samId, sam.hospitalId, sam.name, sam.shortName, sam.comport]) {
      row.insertCell().textContent = text ?? "";
    }
  }
  if (sams.length === 0) emptyRow(tbody, 6, "尚未匯入雲端安全模組");
  return reply;
}

async function removeCloudSam(samId) {
  const sure = await confirmDialog(
    "移除雲端安全模組",
    `確定要移除雲端安全模組 ${samId}？移除後需要原始的雲端安全模組檔案才能再匯入。`,
    "移除",
  );
  if (!sure) return;
  showPending(resultOf("#cloud-sams"));
  const reply = await call("POST", `${CLOUD}/Remove`, { samId });
  showResult(resultOf("#cloud-sams"), `移除 ${samId}`, reply);
  if (reply.statusCode === 0) document.dispatchEvent(new Event("devices-changed"));
  await loadCloudSams();
}

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function importCloudSam(file) {
  const dialog = $("#dlg-import");
  $("#sam-file-name").textContent = file.name;
  showPending(dialog.querySelector("[data-result]"));
  const content = base64(await file.arrayBuffer());
  const reply = await call("POST", `${CLOUD}/Add`, { fileName: file.name, content });
  $("#sam-file").value = "";
  if (reply.statusCode === 0) {
    dialog.close();
    showResult(resultOf("#cloud-sams"), `匯入 ${file.name}`, reply);
    document.dispatchEvent(new Event("devices-changed"));
  } else {
    showResult(dialog.querySelector("[data-result]"), `匯入 ${file.name}`, reply);
  }
  await loadCloudSams();
}

// --- PCSC 讀卡機 ----------------------------------------------------------------

function showDefault(name) {
  $("#pcsc-default").textContent = name || "不使用";
}

async function loadDefault() {
  const reply = await call("POST", `${PCSC}/GetDefault`);
  if (reply.statusCode === 0) showDefault(reply.readerName);
  else showResult(resultOf("#pcsc"), "重新整理", reply);
  return reply;
}

async function loadReaders() {
  const select = $("#pcsc-readers");
  const [readers, current] = [await call("GET", `${PCSC}/Readers`), await loadDefault()];
  const keep = current.statusCode === 0 ? current.readerName ?? "" : select.value;
  select.replaceChildren(new Option("不使用", ""));
  for (const name of readers.readers ?? []) select.append(new Option(name, name));
  select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
  if (readers.statusCode !== 0) showResult($("#dlg-pcsc [data-result]"), "更新清單", readers);
}

async function pcscAction(label, method, path, body) {
  const dialog = $("#dlg-pcsc");
  const buttons = dialog.querySelectorAll("button");
  for (const b of buttons) b.disabled = true;
  showPending(dialog.querySelector("[data-result]"));
  const reply = await call(method, path, body);
  for (const b of buttons) b.disabled = false;
  if (reply.statusCode === 0) {
    dialog.close();
    showResult(resultOf("#pcsc"), label, reply);
  } else {
    showResult(dialog.querySelector("[data-result]"), label, reply);
  }
  await loadDefault();
  return reply;
}

function applyReader() {
  const name = $("#pcsc-readers").value;
  if (!name) return pcscAction("設定", "POST", `${PCSC}/RemoveDefault`);
  return pcscAction("設定", "POST", `${PCSC}/SetDefault`, { readerName: name });
}

// --- CORS 設定 ------------------------------------------------------------------

async function loadCors() {
  const reply = await call("GET", `${CORS}/Get`);
  const tbody = $("#cors-rows");
  tbody.replaceChildren();
  if (reply.statusCode !== 0) {
    showResult(resultOf("#cors"), "重新整理", reply);
    emptyRow(tbody, 2, "無法取得 CORS 設定");
    return reply;
  }
  const hosts = reply.hosts ?? [];
  for (const host of hosts) {
    const row = tbody.insertRow();
    row.dataset.host = host;
    row.insertCell().append(iconButton(`移除 ${host}`, () => removeCors(host)));
    row.insertCell().textContent = host;
  }
  if (hosts.length === 0) emptyRow(tbody, 2, "僅允許 localhost");
  return reply;
}

async function addCors(event) {
  event.preventDefault();
  const dialog = $("#dlg-cors");
  const host = $("#cors-host").value.trim();
  showPending(dialog.querySelector("[data-result]"));
  const reply = await call("POST", `${CORS}/Add`, { host });
  if (reply.statusCode === 0) {
    dialog.close();
    showResult(resultOf("#cors"), `新增 ${host}`, reply);
  } else {
    showResult(dialog.querySelector("[data-result]"), `新增 ${host}`, reply);
  }
  await loadCors();
}

async function removeCors(host) {
  const sure = await confirmDialog("移除 CORS 主機", `確定要移除 ${host}？`, "移除");
  if (!sure) return;
  showPending(resultOf("#cors"));
  const reply = await call("POST", `${CORS}/Remove`, { host });
  showResult(resultOf("#cors"), `移除 ${host}`, reply);
  await loadCors();
}

// --- wiring ---------------------------------------------------------------------

/** Read every setting again (when the page is shown). */
export function loadSettings() {
  return Promise.all([loadCloudSams(), loadDefault(), loadCors()]);
}

export const SETTINGS_ACTIONS = {
  "cloud-import": () => {
    $("#sam-file-name").textContent = "未選擇檔案。";
    openDialog($("#dlg-import"));
  },
  "cloud-refresh": async () => showResult(resultOf("#cloud-sams"), "重新整理", await loadCloudSams()),
  "pcsc-set": () => {
    openDialog($("#dlg-pcsc"));
    loadReaders();
  },
  "pcsc-refresh": async () => showResult(resultOf("#pcsc"), "重新整理", await loadDefault()),
  "cors-add": () => {
    $("#cors-host").value = "";
    openDialog($("#dlg-cors"));
  },
  "cors-refresh": async () => showResult(resultOf("#cors"), "重新整理", await loadCors()),
};

export function initSettings() {
  $("#sam-browse").addEventListener("click", () => $("#sam-file").click());
  $("#sam-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) importCloudSam(file);
  });
  $("#pcsc-reload").addEventListener("click", loadReaders);
  $("#pcsc-apply").addEventListener("click", applyReader);
  $("#pcsc-clear").addEventListener("click", () =>
    pcscAction("清除", "POST", `${PCSC}/RemoveDefault`),
  );
  $("#pcsc-detect").addEventListener("click", async () => {
    const reply = await pcscAction("自動偵測", "POST", `${PCSC}/AutoDetect`);
    if (reply.statusCode === 0 && reply.readerName) showDefault(reply.readerName);
  });
  $("#cors-form").addEventListener("submit", addCors);
}

