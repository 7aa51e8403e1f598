// Calls to the broker's Web API. Every answer is HTTP 200 with {statusCode, message, …};
// anything else (unreachable, other HTTP status) becomes a result the page can show.

const listeners = { reachable: [], unreachable: [], called: [] };

/** Hear "reachable", "unreachable" (the broker) or "called" (after each function call). */
export function on(event, listener) {
  listeners[event].push(listener);
}

function emit(event, detail) {
  for (const listener of listeners[event]) listener(detail);
}

/** One request; never throws. statusCode < 0 means no cshis6 answer (see `message`).
 *  A `quiet` request (a side panel's polling) does not tell the page it reached the broker:
 *  only the status and its event stream say whether the page is connected. */
export async function request(method, path, body, { quiet = false } = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json" } };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    if (!quiet) emit("unreachable");
    return { statusCode: -1, message: "未連接：無法連線至控制軟體元件" };
  }
  if (!quiet) emit("reachable");
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status !== 200) {
    const why = data && (data.description || data.title);
    return { statusCode: -response.status, message: `HTTP ${response.status}${why ? `：${why}` : ""}` };
  }
  if (!data || typeof data.statusCode !== "number") {
    return { statusCode: -1, message: "回應格式錯誤" };
  }
  return data;
}

/** A function call the user asked for: the API log changes after it. */
export async function call(method, path, body) {
  const reply = await request(method, path, body);
  emit("called", { method, path, reply });
  return reply;
}

/** "0000", "1102"; HTTP and connection failures show as "----". */
export function codeText(statusCode) {
  return statusCode >= 0 ? String(statusCode).padStart(4, "0") : "----";
}

/** The reply's own fields, without the envelope. */
export function fieldsOf(reply) {
  const { statusCode, message, detail, ...fields } = reply;
  return fields;
}

/** Show a result line: "<label>：<code> <message>". */
export function showResult(element, label, reply) {
  if (!element) return;
  element.replaceChildren();
  element.className = `result ${reply.statusCode === 0 ? "ok" : "fail"}`;
  element.dataset.code = codeText(reply.statusCode);
  if (label) element.append(`${label}：`);
  const code = document.createElement("code");
  code.textContent = codeText(reply.statusCode);
  element.append(code, ` ${reply.message ?? ""}`);
  if (reply.statusCode !== 0 && reply.detail) {
    // The manual's message alone can be vague (1500): the broker's detail says what to do.
    const detail = document.createElement("span");
    detail.className = "detail";
    detail.textContent = reply.detail;
    element.append(detail);
  }
}

/** A call is under way: the previous result goes. */
export function showPending(element) {
  if (!element) return;
  element.replaceChildren("執行中…");
  element.className = "result pending";
  delete element.dataset.code;
}
