// The function blocks: each button runs one function of the manual (api/routes.py's
// endpoint), shows its result and fields, and each block carries its 可執行狀態 table
// drawn from RULES (broker/rules.py).

import { call, fieldsOf, showPending, showResult } from "./api.js";
import { IDENTITY, SEX, coded } from "./labels.js";
import { ROUTES, RULES } from "./rules.js";

const BY_FUNCTION = new Map(RULES.map((rule) => [rule.function, rule]));
const TOP = { SAM: 2, HCA: 3, HC: 3 };

/** The state change of `after` ("SAM 1 → 2") when it is about `kind`: "1 → 2". */
function transition(after, kind) {
  const match = /^(SAM|HCA|HC) (.+)$/.exec(after);
  return match && match[1] === kind ? match[2] : null;
}

/** The states a function accepts: [2, 3] → "2" (at least 2), [0] → "0", any → "". */
function accepted(values, top) {
  if (!values) return "";
  const sorted = [...values].sort((a, b) => a - b);
  const min = sorted[0];
  const upToTop = sorted.length === top - min + 1 && sorted.at(-1) === top;
  if (upToTop && min === 0) return "";
  if (upToTop || sorted.length === 1) return String(min);
  return sorted.join(", ");
}

function initCell(rule) {
  if (rule.after === "初始化") return ["✗ → ✓", "需要尚未連接裝置，執行後為已初始化"];
  if (rule.after === "釋放") return ["✓ → ✗", "需要已連接裝置，執行後釋放裝置"];
  if (rule.initialized === true) return ["✓", "需要已初始化"];
  if (rule.initialized === false) return ["✗", "需要尚未初始化"];
  return ["", "不需初始化"];
}

/** The row of one function: 功能項目, 初始化, SAM, HCA, HC. */
export function ruleCells(rule) {
  const sam = transition(rule.after, "SAM") ?? (rule.sam === null ? "" : String(rule.sam));
  const hca = transition(rule.after, "HCA") ?? accepted(rule.hca, TOP.HCA);
  let hc = transition(rule.after, "HC") ?? accepted(rule.hc, TOP.HC);
  if (rule.hcPinIfSet) hc = `${hc}，已驗 PIN`;
  if (rule.hcLogoutFirst) hc = `${hc} (先登出目前的健保卡)`;
  return [rule.label, initCell(rule), sam, hca, hc];
}

/** The 可執行狀態 table of some functions. */
export function rulesTable(functions) {
  const table = document.createElement("table");
  table.className = "rules";
  const caption = table.createCaption();
  caption.textContent = "可執行狀態";
  caption.className = "sr-only";
  const head = table.createTHead().insertRow();
  for (const title of ["功能項目", "初始化", "SAM", "HCA", "HC"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    head.append(th);
  }
  const body = table.createTBody();
  for (const name of functions) {
    const rule = BY_FUNCTION.get(name);
    if (!rule) continue;
    const row = body.insertRow();
    row.dataset.function = name;
    const [label, [init, initTitle], sam, hca, hc] = ruleCells(rule);
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    row.append(th);
    const cell = row.insertCell();
    cell.textContent = init;
    cell.title = initTitle;
    if (init) cell.classList.add("check");
    for (const text of [sam, hca, hc]) row.insertCell().textContent = text;
  }
  return table;
}

const value = (block, name) => block.querySelector(`[name="${name}"]`)?.value.trim() ?? "";
const service = (block) => ({ serviceType: value(block, "serviceType") });

/** The mobile HCA data: a JSON object as it is, any other text as `certificate`. */
function mobile(block) {
  const text = value(block, "certificate");
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
  } catch {
    // not JSON: the certificate text itself
  }
  return { certificate: text };
}

const REQUEST = {
  INITIAL: (block) => (value(block, "device") ? { name: value(block, "device") } : {}),
  SAM_SIGN: service,
  HCA_SIGN: service,
  HC_SIGN: service,
  HC_THREE_CARD_SIGN: service,
  HCA_VERIFY_PIN: (block) => (value(block, "pin") ? { pin: value(block, "pin") } : {}),
  HCA_MOBILE_VERIFY: mobile,
  HCA_SET_PIN: (block) => ({ newPin: value(block, "newPin") }),
  HCA_RESET_PIN: (block) => ({ puk: value(block, "puk"), newPin: value(block, "newPin") }),
  HC_VIRTUAL_VERIFY: (block) => ({ token: value(block, "token") }),
  HC_PIN_VERIFY: (block) => ({ pin: value(block, "pin") }),
  HC_PIN_SET: (block) => ({ newPin: value(block, "pin") }),
  HC_READ_VIRTUAL: (block) => ({ token: value(block, "token") }),
  HC_VIRTUAL_IMPORT: (block) => ({ transferCode: value(block, "transferCode") }),
};

const FORMAT = {
  sex: (v) => coded(SEX, v),
  identity: (v) => coded(IDENTITY, v),
  yesno: (v) => (v === true ? "是" : v === false ? "否" : ""),
};

function outputsOf(block, name) {
  return [...block.querySelectorAll("[data-out]")].filter((out) =>
    out.dataset.out.split(" ").includes(name),
  );
}

function clearOutputs(outputs) {
  for (const out of outputs) {
    if ("json" in out.dataset) out.textContent = "";
    if (out.dataset.fill) out.value = "";
    for (const field of out.querySelectorAll("[data-field]")) field.textContent = "";
    if (out.dataset.field) out.textContent = "";
  }
}

function fillOutputs(outputs, fields) {
  for (const out of outputs) {
    if ("json" in out.dataset) out.textContent = JSON.stringify(fields, null, 2);
    if (out.dataset.fill) out.value = fields[out.dataset.fill] ?? "";
    const targets = [...out.querySelectorAll("[data-field]")];
    if (out.dataset.field) targets.push(out);
    for (const field of targets) {
      const raw = fields[field.dataset.field];
      const format = FORMAT[field.dataset.format];
      field.textContent = format ? format(raw) : (raw ?? "");
    }
  }
}

// The card states the page has seen change. A call that changes a state (logout, export,
// 註記更新, …) may have its reply before the page sees that change: its block then waits
// for it (data-own-change), and keeps its own result when the change arrives.
const changesSeen = new Map();  // page id → changes seen

/** The page saw a card's state change on `name`'s page ("hc" or "hca"). */
export function stateChanged(root, name) {
  const page = root.querySelector(`#page-${name}`);
  changesSeen.set(page?.id, (changesSeen.get(page?.id) ?? 0) + 1);
  for (const block of page?.querySelectorAll(".block[data-own-change]") ?? []) {
    delete block.dataset.ownChange;
  }
}

/** Forget what a page shows of a person (basic data, signatures, PIN state, results):
 *  their card has gone, been logged out, or the broker can no longer be reached. A block
 *  whose own call made the change keeps its result (an export's transfer code). */
export function clearPage(root, name, { ownChange = false } = {}) {
  const page = root.querySelector(`#page-${name}`);
  if (!page) return;
  for (const block of page.querySelectorAll(".block")) {
    if (ownChange && "ownChange" in block.dataset) continue;
    clearOutputs(block.querySelectorAll("[data-out]"));
    const result = block.querySelector("[data-result]");
    if (result && !result.classList.contains("pending")) {
      result.replaceChildren();
      result.className = "result";
      delete result.dataset.code;
    }
  }
}

/** Run one function from its block's button. */
export async function runFunction(button) {
  const name = button.dataset.fn;
  const block = button.closest(".block");
  const route = ROUTES[name];
  const rule = BY_FUNCTION.get(name);
  const body = (REQUEST[name] ?? (() => ({})))(block);
  const outputs = outputsOf(block, name);
  const buttons = block.querySelectorAll("button");
  const result = block.querySelector("[data-result]");
  delete block.dataset.ownChange;
  clearOutputs(outputs);
  showPending(result);
  for (const b of buttons) b.disabled = true;
  block.setAttribute("aria-busy", "true");
  let reply;
  const pageId = block.closest(".page")?.id;
  const seen = changesSeen.get(pageId) ?? 0;
  try {
    reply = await call(route.method, route.path, body);
  } finally {
    // PINs and PUKs live only in their fields, and only until the call is made.
    for (const secret of block.querySelectorAll('input[type="password"]')) secret.value = "";
    for (const b of buttons) b.disabled = false;
    block.removeAttribute("aria-busy");
  }
  if (reply.statusCode === 0) fillOutputs(outputs, fieldsOf(reply));
  if (reply.statusCode === 0 && rule?.after && (changesSeen.get(pageId) ?? 0) === seen) {
    block.dataset.ownChange = "";
  }
  showResult(result, rule?.label ?? name, reply);
  return reply;
}

/** Draw every 可執行狀態 table and wire every function button. */
export function initBlocks(root) {
  for (const place of root.querySelectorAll("[data-rules]")) {
    place.replaceWith(rulesTable(place.dataset.rules.split(" ")));
  }
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-fn]");
    if (button && !button.disabled) runFunction(button);
  });
}
