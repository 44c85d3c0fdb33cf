// SagaMart's operator console: plain DOM, no framework, no build step. It reads the public API with the
// admin key kept in this tab's session storage. Every value is written with textContent (never as markup),
// and the page's Content-Security-Policy runs no inline script, so a product called
// `<img src=x onerror=alert(1)>` shows as that text and nothing else.
"use strict";

const KEY = "sagamart.adminKey";
const STATUSES = ["RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED", "FAILED"];
const AGES = [["", "any age"], ["60", "older than 1 min"], ["3600", "older than 1 h"], ["86400", "older than 1 day"]];
const main = document.getElementById("main");
const statusLine = document.getElementById("status");
let refreshTimer = null;

// ---- DOM helpers: text only ----

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(text) {
  return el("span", { class: "badge " + String(text || "").replace(/[^A-Za-z_]/g, "") }, text || "unknown");
}

function link(hash, text) {
  return el("a", { href: hash }, text);
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function say(text, isError) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function when(text) {
  if (!text) return "";
  const date = new Date(text);
  return isNaN(date) ? text : date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function ageSeconds(text) {
  const date = new Date(text);
  return isNaN(date) ? 0 : (Date.now() - date.getTime()) / 1000;
}

function money(cents, currency) {
  if (cents === undefined || cents === null) return "";
  return (cents / 100).toFixed(2) + " " + (currency || "");
}

// ---- the API ----

class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || "HTTP " + status);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(method, path, body, headers) {
  const key = sessionStorage.getItem(KEY);
  const init = { method, headers: Object.assign({ Authorization: "Bearer " + key }, headers || {}) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
  if (response.status === 401) {
    sessionStorage.removeItem(KEY);
    // A key that stopped working sends the operator to sign in again; on the sign-in page itself the
    // form says what went wrong.
    if (!document.getElementById("sign-in")) location.hash = "#/sign-in";
    throw new Problem(401, parsed);
  }
  if (!response.ok) throw new Problem(response.status, parsed);
  return parsed;
}

function sagaOf(id) { return api("GET", "/v1/sagas/" + encodeURIComponent(id)); }

// ---- pages ----

function signIn() {
  document.getElementById("nav").hidden = true;
  const input = el("input", { type: "password", name: "key", id: "admin-key", autocomplete: "off", required: true, size: 32 });
  const message = el("p", { class: "error", id: "sign-in-error" });
  const form = el("form", { id: "sign-in", onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value);
    try {
      await api("GET", "/v1/sagas?limit=1");
      location.hash = "#/sagas";
    } catch (error) {
      sessionStorage.removeItem(KEY);
      message.textContent = error.status === 403 ? "This key is not an admin key."
        : error.status === 401 ? "This key is not valid." : "Sign-in failed: " + error.message;
    }
  } }, el("label", {}, "Admin API key", input), el("button", { type: "submit", id: "sign-in-button" }, "Sign in"));
  show(el("h2", {}, "Sign in"), el("p", {}, "The key stays in this tab's session storage and goes to the gateway only."), form, message);
  input.focus();
}

async function sagas(params) {
  const filters = {
    kind: params.get("kind") || "",
    status: params.get("status") || "",
    stuck: params.get("stuck") === "1",
    age: params.get("age") || "",
    refresh: params.get("refresh") !== "0",
  };
  const apply = (changes) => {
    const next = Object.assign({}, filters, changes);
    const query = new URLSearchParams();
    if (next.kind) query.set("kind", next.kind);
    if (next.status) query.set("status", next.status);
    if (next.stuck) query.set("stuck", "1");
    if (next.age) query.set("age", next.age);
    if (!next.refresh) query.set("refresh", "0");
    location.hash = "#/sagas?" + query.toString();
  };
  const select = (name, options, value) => el("select", { name, id: "filter-" + name, onchange: (e) => apply({ [name]: e.target.value }) },
    options.map(([v, t]) => el("option", { value: v, selected: v === value }, t)));
  const filterBar = el("div", { class: "filters" },
    el("label", {}, "Kind", select("kind", [["", "all"], ["checkout", "checkout"], ["cancellation", "cancellation"]], filters.kind)),
    el("label", {}, "Status", select("status", [["", "all"]].concat(STATUSES.map((s) => [s, s])), filters.status)),
    el("label", {}, "Age", select("age", AGES, filters.age)),
    el("label", {}, "Stuck only", el("input", { type: "checkbox", id: "filter-stuck", checked: filters.stuck, onchange: (e) => apply({ stuck: e.target.checked }) })),
    el("label", {}, "Auto-refresh", el("input", { type: "checkbox", id: "filter-refresh", checked: filters.refresh, onchange: (e) => apply({ refresh: e.target.checked }) })));
  const counts = el("div", { class: "counts", id: "counts" });
  const table = el("tbody", { id: "saga-rows" });
  show(el("h2", {}, "Sagas"), counts, filterBar,
    el("table", { id: "sagas" }, el("thead", {}, el("tr", {}, ["Saga", "Kind", "Status", "Customer", "Order", "Steps", "Failure", "Stuck", "Started"].map((h) => el("th", {}, h)))), table));

  const load = async () => {
    // Live counts by status, then the newest 200 sagas (of the status asked for).
    const numbers = await api("GET", "/v1/sagas/counts");
    counts.replaceChildren(...STATUSES.map((s) => el("div", { class: "count", "data-status": s },
      el("b", {}, String(numbers[s] ?? 0)), badge(s))));
    const page = await api("GET", "/v1/sagas?order=newest&limit=200" + (filters.status ? "&status=" + filters.status : ""));
    const rows = page.items.filter((saga) =>
      (!filters.kind || (saga.kind || "checkout") === filters.kind) &&
      (!filters.stuck || saga.stuck) &&
      (!filters.age || ageSeconds(firstStart(saga)) >= Number(filters.age)));
    table.replaceChildren(...rows.map((saga) => el("tr", { "data-saga": saga.id },
      el("td", { class: "id" }, link("#/sagas/" + encodeURIComponent(saga.id), saga.id)),
      el("td", {}, saga.kind || "checkout"),
      el("td", {}, badge(saga.status)),
      el("td", {}, saga.customerId),
      el("td", { class: "id" }, link("#/orders/" + encodeURIComponent(saga.orderId), saga.orderId)),
      el("td", {}, String(saga.steps.length)),
      el("td", {}, saga.failureCode || ""),
      el("td", {}, saga.stuck ? "yes" : ""),
      el("td", {}, when(firstStart(saga))))));
    if (rows.length === 0) table.append(el("tr", {}, el("td", { colspan: 9 }, "No saga matches.")));
    say("Sagas as of " + new Date().toLocaleTimeString() + (filters.refresh ? "; refreshing every 5 s" : ""));
  };
  await load();
  if (filters.refresh) refreshTimer = setInterval(() => load().catch((e) => say(e.message, true)), 5000);
}

function firstStart(saga) {
  const times = saga.steps.map((s) => s.startedAt).filter(Boolean).sort();
  return times[0] || "";
}

async function saga(id) {
  const found = await sagaOf(id);
  const steps = found.steps;
  const starts = steps.map((s) => Date.parse(s.startedAt)).filter((t) => !isNaN(t));
  const ends = steps.map((s) => Date.parse(s.finishedAt || "") || Date.now());
  const t0 = Math.min(...starts);
  const t1 = Math.max(t0 + 1, ...ends);
  const span = t1 - t0;
  const lanes = steps.map((step, index) => {
    const start = Date.parse(step.startedAt);
    const end = Date.parse(step.finishedAt || "") || Date.now();
    const bar = el("div", { class: "bar " + step.action + " " + step.status, title: step.name + ": " + step.status });
    bar.style.left = (((start - t0) / span) * 100).toFixed(2) + "%";
    bar.style.width = (((end - start) / span) * 100).toFixed(2) + "%";
    return el("div", { class: "lane", "data-step": step.name, "data-index": index },
      el("div", {}, el("span", { class: "step-name" }, step.name), " ", step.action === "compensation" ? el("em", {}, "compensation") : ""),
      el("div", { class: "track" }, bar),
      el("div", { class: "meta" }, badge(step.status), " ", (end - start) + " ms, " + step.attempts + " attempt" + (step.attempts === 1 ? "" : "s"),
        step.error ? el("div", { class: "error" }, step.error) : "", step.note ? el("div", {}, step.note) : ""));
  });
  const touched = el("div", { class: "card", id: "touched" }, "Loading the order…");
  const actions = el("div", { class: "card" }, el("h3", {}, "Operator actions"), operatorActions(found));
  show(
    el("h2", {}, (found.kind || "checkout") + " saga ", el("span", { class: "id" }, found.id), " ", badge(found.status)),
    el("div", { class: "card" }, el("dl", {},
      el("dt", {}, "Customer"), el("dd", {}, found.customerId),
      el("dt", {}, "Version"), el("dd", {}, String(found.version ?? "")),
      el("dt", {}, "Total"), el("dd", {}, money(found.totalCents, found.currency)),
      el("dt", {}, "Failure"), el("dd", {}, found.failureCode ? found.failureCode + ": " + (found.failureDetail || "") : "none"),
      el("dt", {}, "Stuck"), el("dd", {}, found.stuck ? "yes" : "no"))),
    el("h3", {}, "Timeline"),
    el("div", { class: "axis" }, el("span", {}, when(new Date(t0).toISOString())), el("span", {}, span + " ms")),
    el("div", { class: "timeline", id: "timeline" }, lanes),
    el("h3", {}, "What it touched"), touched,
    actions);
  try {
    const order = await api("GET", "/v1/orders/" + encodeURIComponent(found.orderId));
    touched.replaceChildren(el("dl", {},
      el("dt", {}, "Order"), el("dd", {}, link("#/orders/" + encodeURIComponent(order.id), order.id), " ", badge(order.status)),
      el("dt", {}, "Payment"), el("dd", {}, found.paymentId, " ", order.payment ? badge(order.payment.status) : "none"),
      el("dt", {}, "Shipment"), el("dd", {}, found.shipmentId, " ", order.shipment ? badge(order.shipment.status) : "none")));
  } catch (error) {
    touched.replaceChildren(el("dl", {},
      el("dt", {}, "Order"), el("dd", {}, found.orderId + " (" + error.message + ")"),
      el("dt", {}, "Payment"), el("dd", {}, found.paymentId),
      el("dt", {}, "Shipment"), el("dd", {}, found.shipmentId)));
  }
  say("Saga loaded at " + new Date().toLocaleTimeString());
}

function operatorActions(found) {
  const reason = el("input", { name: "reason", id: "action-reason", size: 40, maxlength: 500, placeholder: "why (required)" });
  const result = el("p", { id: "action-result" });
  const act = (action) => async () => {
    if (!reason.value.trim()) { result.textContent = "Give a reason."; result.className = "error"; return; }
    try {
      const after = await api("POST", "/v1/sagas/" + encodeURIComponent(found.id) + "/" + action, { reason: reason.value },
        { "Idempotency-Key": crypto.randomUUID() });
      result.textContent = action + " accepted: the saga is " + after.status + ".";
      result.className = "";
      setTimeout(() => route(), 800);
    } catch (error) {
      result.textContent = action + " refused: " + error.message;
      result.className = "error";
    }
  };
  return el("div", {},
    el("div", { class: "actions" }, el("label", {}, "Reason", reason),
      el("button", { type: "button", id: "action-retry", onclick: act("retry"), disabled: found.status !== "FAILED" }, "Retry"),
      el("button", { type: "button", id: "action-resume", onclick: act("resume"), disabled: !found.stuck }, "Resume"),
      el("button", { type: "button", id: "action-compensate", onclick: act("compensate"), disabled: found.status !== "RUNNING" }, "Force compensate")),
    result);
}

async function orders(params) {
  const query = params.get("q") || "";
  const input = el("input", { name: "q", id: "order-search", value: query, size: 40, placeholder: "order id or customer id" });
  const results = el("div", { id: "order-results" });
  show(el("h2", {}, "Orders"),
    el("form", { onsubmit: (e) => { e.preventDefault(); location.hash = "#/orders?q=" + encodeURIComponent(input.value.trim()); } },
      el("label", {}, "Search", input), el("button", { type: "submit" }, "Search")),
    results);
  if (!query) return;
  const found = [];
  try { found.push(await api("GET", "/v1/orders/" + encodeURIComponent(query))); } catch (error) { if (error.status !== 404) throw error; }
  const byCustomer = await api("GET", "/v1/orders?limit=200&customerId=" + encodeURIComponent(query));
  found.push(...byCustomer.items);
  results.replaceChildren(el("table", {}, el("thead", {}, el("tr", {}, ["Order", "Customer", "Status", "Total", "Created"].map((h) => el("th", {}, h)))),
    el("tbody", {}, found.length ? found.map((o) => el("tr", {},
      el("td", { class: "id" }, link("#/orders/" + encodeURIComponent(o.id), o.id)), el("td", {}, o.customerId), el("td", {}, badge(o.status)),
      el("td", {}, money(o.totalCents, o.currency)), el("td", {}, when(o.createdAt)))) : el("tr", {}, el("td", { colspan: 5 }, "No order found.")))));
}

async function order(id) {
  const o = await api("GET", "/v1/orders/" + encodeURIComponent(id));
  show(el("h2", {}, "Order ", el("span", { class: "id" }, o.id), " ", badge(o.status)),
    el("div", { class: "card", id: "order" }, el("dl", {},
      el("dt", {}, "Customer"), el("dd", {}, o.customerId),
      el("dt", {}, "Total"), el("dd", {}, money(o.totalCents, o.currency)),
      el("dt", {}, "Reason"), el("dd", {}, o.reason || ""),
      el("dt", {}, "Payment"), el("dd", {}, o.payment ? [o.payment.id, " ", badge(o.payment.status)] : "none"),
      el("dt", {}, "Shipment"), el("dd", {}, o.shipment ? [o.shipment.id, " ", badge(o.shipment.status)] : "none"),
      el("dt", {}, "Checkout"), el("dd", {}, link("#/sagas/" + encodeURIComponent(o.checkout.id), o.checkout.id), " ", badge(o.checkout.status)),
      el("dt", {}, "Created"), el("dd", {}, when(o.createdAt)))),
    el("h3", {}, "Lines"),
    el("table", {}, el("thead", {}, el("tr", {}, ["SKU", "Quantity", "Unit price"].map((h) => el("th", {}, h)))),
      el("tbody", {}, o.items.map((line) => el("tr", {}, el("td", {}, line.sku), el("td", {}, String(line.quantity)), el("td", {}, money(line.unitPriceCents, o.currency)))))));
}

async function catalog(params) {
  const after = params.get("after");
  const page = await api("GET", "/v1/products?limit=200" + (after ? "&after=" + encodeURIComponent(after) : ""));
  show(el("h2", {}, "Catalog and stock"),
    el("table", { id: "products" }, el("thead", {}, el("tr", {}, ["SKU", "Name", "Price", "Available"].map((h) => el("th", {}, h)))),
      el("tbody", {}, page.items.map((p) => el("tr", { "data-sku": p.sku },
        el("td", { class: "id" }, p.sku), el("td", { class: "product-name" }, p.name), el("td", {}, money(p.priceCents, p.currency)), el("td", {}, String(p.available)))))),
    page.next ? el("p", {}, link("#/catalog?after=" + encodeURIComponent(page.next), "Next page")) : "");
}

async function consumers() {
  const report = await api("GET", "/v1/admin/consistency");
  const deadLetters = el("div", { id: "dead-letters" });
  show(el("h2", {}, "Feed consumers"),
    el("table", { id: "feeds" }, el("thead", {}, el("tr", {}, ["Service", "Consumer", "Feed", "Head", "Cursor", "Lag", "Oldest unconsumed", "Dead letters"].map((h) => el("th", {}, h)))),
      el("tbody", {}, report.feeds.map((f) => el("tr", {},
        el("td", {}, f.service), el("td", {}, f.consumer), el("td", {}, f.feed), el("td", {}, String(f.head)), el("td", {}, String(f.cursor)),
        el("td", {}, String(f.lag)), el("td", {}, f.oldestUnconsumedSeconds + " s"), el("td", {}, String(f.deadLetters)))))),
    el("h3", {}, "Dead letters"), deadLetters);
  const base = (f) => f.service === "gateway" ? "/v1/admin/consumers/" + encodeURIComponent(f.consumer)
    : "/v1/admin/services/" + encodeURIComponent(f.service) + "/consumers/" + encodeURIComponent(f.consumer);
  const rows = [];
  for (const f of report.feeds.filter((f) => f.deadLetters > 0)) {
    const letters = await api("GET", base(f) + "/dead-letters");
    for (const letter of letters.items) {
      const result = el("span", {});
      rows.push(el("tr", {}, el("td", {}, f.service + "/" + f.consumer), el("td", {}, String(letter.seq)), el("td", {}, letter.error), el("td", {}, when(letter.failedAt)),
        el("td", {}, el("button", { type: "button", onclick: async () => {
          try { await api("POST", base(f) + "/dead-letters/" + encodeURIComponent(letter.id) + "/redrive"); result.textContent = "redriven"; }
          catch (error) { result.textContent = error.message; result.className = "error"; }
        } }, "Redrive"), " ", result)));
    }
  }
  deadLetters.replaceChildren(rows.length ? el("table", {}, el("thead", {}, el("tr", {}, ["Consumer", "Event", "Error", "Failed at", ""].map((h) => el("th", {}, h)))), el("tbody", {}, rows))
    : el("p", {}, "None."));
}

async function auditor() {
  const report = await api("GET", "/v1/admin/consistency");
  show(el("h2", {}, "Consistency auditor ", badge(report.ok ? "ok" : "bad"), " ", report.ok ? "the services agree" : report.violations.length + " violations"),
    el("p", {}, "Generated " + when(report.generatedAt) + " in " + report.durationMs + " ms."),
    el("h3", {}, "Violations"),
    report.violations.length ? el("table", { id: "violations" }, el("thead", {}, el("tr", {}, ["Kind", "Ids", "Detail"].map((h) => el("th", {}, h)))),
      el("tbody", {}, report.violations.map((v) => el("tr", {}, el("td", {}, v.kind),
        el("td", { class: "id" }, Object.entries(v.ids).map(([k, id]) => k + "=" + id).join(" ")), el("td", {}, v.detail))))) : el("p", {}, "None."),
    el("h3", {}, "Totals"),
    el("dl", { class: "card" }, Object.entries(report.totals).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))])));
}

// ---- routing ----

async function route() {
  clearInterval(refreshTimer);
  refreshTimer = null;
  const hash = location.hash || "#/sagas";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  if (!sessionStorage.getItem(KEY) || path === "/sign-in") return signIn();
  document.getElementById("nav").hidden = false;
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  say("Loading…");
  try {
    if (parts[0] === "sagas" && parts[1]) await saga(parts[1]);
    else if (parts[0] === "orders" && parts[1]) await order(parts[1]);
    else if (parts[0] === "orders") await orders(params);
    else if (parts[0] === "catalog") await catalog(params);
    else if (parts[0] === "consumers") await consumers();
    else if (parts[0] === "auditor") await auditor();
    else await sagas(params);
    if (statusLine.textContent === "Loading…") say("");
  } catch (error) {
    if (error.status !== 401) say(error.message, true);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  location.hash = "#/sign-in";
});
window.addEventListener("hashchange", route);
route();
