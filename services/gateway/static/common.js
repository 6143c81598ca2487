// Shared helpers of the gateway's web UI: API calls (with the optional token), header, formatting.
"use strict";

const TOKEN_KEY = "taskonomy.token";

function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
}

function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) { /* storage disabled: the token lasts for this page only */ }
}

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || ("HTTP " + status));
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, options) {
  const opts = Object.assign({ method: "GET", headers: {} }, options || {});
  opts.headers = Object.assign({ "Accept": "application/json" }, opts.headers);
  const token = getToken();
  if (token) opts.headers["Authorization"] = "Bearer " + token;
  if (opts.json !== undefined) {
    opts.body = JSON.stringify(opts.json);
    opts.headers["Content-Type"] = "application/json";
    delete opts.json;
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.appendChild(c);
  return node;
}

function fmt(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits === undefined ? 3 : digits);
}

function showError(target, err) {
  target.textContent = err instanceof ApiError ? err.message + " (HTTP " + err.status + ")" : String(err);
  target.hidden = false;
}

// The page header: navigation and the API token field (kept in sessionStorage).
function renderHeader(active) {
  const header = document.getElementById("header");
  if (!header) return;
  const link = (href, label, key) => el("a", { href, class: key === active ? "active" : null }, label);
  const tokenInput = el("input", {
    type: "password", id: "token", placeholder: "API token (optional)", autocomplete: "off",
    value: getToken(), "aria-label": "API token",
  });
  tokenInput.addEventListener("change", () => { setToken(tokenInput.value.trim()); location.reload(); });
  header.replaceChildren(
    el("span", { class: "brand" }, "Taskonomy"),
    el("nav", {}, link("/ui/", "Experiments", "experiments"), link("/ui/taxonomy", "Taxonomy", "taxonomy"),
       link("/ui/demo", "Demo", "demo"),
       link("/docs", "API", "api")),
    el("label", { class: "token" }, "Token ", tokenInput),
  );
}
