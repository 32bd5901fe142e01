/* Claude Code API dashboard: plain JavaScript, no build step. Talks only to this service's own
 * routes with the signed-in key: /dashboard/api/* (read-only aggregates), /admin/* (keys and
 * budgets), /v1/models and /v1/chat/completions (the chat page, streamed over SSE).
 * Every server-provided string is inserted with textContent, never as HTML. */
"use strict";

const BASE = location.pathname.replace(/\/dashboard\/?$/, ""); // works behind a path prefix
const KEY_STORE = "ccapi.dashboard.key";
const PALETTE = ["#d97757", "#3b6fd8", "#2f9e6e", "#9b59b6", "#e0a100", "#17a2b8", "#d64545", "#7f8c8d"];
const state = { key: null, me: null, charts: {}, chat: [], projects: [] };

// ---------------------------------------------------------------- helpers
const $ = (id) => document.getElementById(id);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}
const fmtInt = (n) => (n ?? 0).toLocaleString("en-US");
function fmtUsd(n) {
  // Cents for real spend; a demo or cache-heavy answer costs fractions of a cent, shown as such.
  if (!n) return "$0.00";
  if (n >= 0.01) return "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return n < 1e-6 ? "<$0.000001" : "$" + n.toFixed(6).replace(/0+$/, "");
}
const fmtPct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %");
const fmtMs = (n) => (n === null || n === undefined ? "–" : n < 1000 ? n + " ms" : (n / 1000).toFixed(2) + " s");
const fmtDate = (iso) => (iso ? iso.replace("T", " ").slice(0, 16) : "–");

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: "Bearer " + state.key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const message = data?.error?.message || data?.detail?.[0]?.msg || response.statusText;
    if (response.status === 401) signOut(message);
    throw new ApiError(response.status, message);
  }
  return data;
}

// ---------------------------------------------------------------- sign-in and navigation
async function signIn(key) {
  state.key = key;
  state.me = await api("/dashboard/api/me");
  sessionStorage.setItem(KEY_STORE, key);
  document.body.classList.toggle("is-admin", state.me.is_admin);
  $("who-label").textContent = state.me.is_admin ? "admin · all projects" : "project " + state.me.project_id;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("view-signin").hidden = true;
  await loadProjects();
  await loadModels();
  route();
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY_STORE);
  state.key = state.me = null;
  document.body.classList.remove("is-admin");
  for (const id of ["nav", "who"]) $(id).hidden = true;
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== "view-signin";
  $("signin-error").textContent = message;
  history.replaceState(null, "", location.pathname);
}

function route() {
  if (!state.me) return;
  let view = location.hash.slice(1) || "overview";
  if (!state.me.is_admin && (view === "keys" || view === "budgets")) view = "overview";
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === view);
  ({ overview: loadOverview, chat: () => $("chat-text").focus(), keys: loadKeys, budgets: loadBudgets })[view]?.();
}

async function loadProjects() {
  const { data } = await api("/dashboard/api/projects");
  state.projects = data;
  const select = $("ov-project");
  const previous = select.value;
  select.replaceChildren();
  if (state.me.is_admin) select.append(el("option", { value: "", text: "All projects" }));
  for (const row of data) select.append(el("option", { value: row.project_id, text: row.project_id }));
  if (!state.me.is_admin) select.disabled = true;
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  if (state.me.is_admin && !$("chat-project").value && data.length) $("chat-project").value = data[0].project_id;
}

async function loadModels() {
  const response = await fetch(BASE + "/v1/models");
  const { data } = await response.json();
  const select = $("chat-model");
  select.replaceChildren(...data.map((m) => el("option", { value: m.id, text: m.id === "auto" ? "auto (route by task)" : m.id })));
  select.value = "auto";
}

// ---------------------------------------------------------------- overview
function chart(id, config) {
  state.charts[id]?.destroy();
  state.charts[id] = new Chart($(id), config);
  return state.charts[id];
}

function stackedByModel(overview, field) {
  const models = [...new Set(overview.daily.map((r) => r.model))].sort();
  const index = new Map(overview.days.map((d, i) => [d, i]));
  const datasets = models.map((model, i) => {
    const data = overview.days.map(() => 0);
    for (const row of overview.daily) if (row.model === model && index.has(row.day)) data[index.get(row.day)] += row[field];
    return { label: model, data, backgroundColor: PALETTE[i % PALETTE.length], borderRadius: 3, stack: "s" };
  });
  return { labels: overview.days.map((d) => d.slice(5)), datasets };
}

const barOptions = (tick) => ({
  responsive: true, maintainAspectRatio: false,
  plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
  scales: { x: { stacked: true, grid: { display: false } }, y: { stacked: true, beginAtZero: true, ticks: { callback: tick } } },
});

function drawBudget(budget) {
  const note = $("budget-note");
  if (!budget) {
    note.textContent = "Pick a project to see its budget.";
    return chart("chart-budget", { type: "line", data: { labels: [], datasets: [] } });
  }
  const [year, month] = budget.month.split("-").map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const labels = Array.from({ length: daysInMonth }, (_, i) => String(i + 1).padStart(2, "0"));
  const actual = labels.map(() => null);
  let last = 0;
  for (const point of budget.cumulative) actual[Number(point.day.slice(8)) - 1] = point.tokens;
  const today = new Date().getUTCDate();
  for (let i = 0; i < today && i < daysInMonth; i++) actual[i] = last = actual[i] ?? last;
  last = Math.max(last, budget.used_tokens);
  actual[Math.min(today, daysInMonth) - 1] = last;
  // Linear projection of this month's pace to its last day.
  const projection = labels.map((_, i) => (i + 1 < today ? null : Math.round((last / today) * (i + 1))));
  const datasets = [
    { label: "used (cumulative)", data: actual, borderColor: PALETTE[1], backgroundColor: "rgba(59,111,216,.15)", fill: true, tension: 0.2, pointRadius: 2 },
    { label: "projected", data: projection, borderColor: PALETTE[1], borderDash: [5, 4], pointRadius: 0 },
  ];
  const limit = budget.monthly_limit;
  if (limit !== null) {
    const colors = { 50: "#e0a100", 80: "#e8702a", 100: "#d64545" };
    for (const t of budget.thresholds) {
      datasets.push({ label: t + " %", data: labels.map(() => Math.round((limit * t) / 100)), borderColor: colors[t] || "#888", borderWidth: t === 100 ? 2 : 1.5, borderDash: t === 100 ? [] : [6, 4], pointRadius: 0 });
    }
    const pct = limit ? (100 * budget.used_tokens) / limit : 100;
    const fired = budget.alerts.map((a) => a.threshold + " %").join(", ") || "none";
    note.textContent = `${fmtInt(budget.used_tokens)} of ${fmtInt(limit)} tokens used (${pct.toFixed(1)} %), ${fmtInt(budget.remaining)} left. Alerts fired this month: ${fired}.`;
  } else {
    note.textContent = `${fmtInt(budget.used_tokens)} tokens used this month; no monthly limit set.`;
  }
  chart("chart-budget", {
    type: "line", data: { labels, datasets },
    options: {
      responsive: true, maintainAspectRatio: false, spanGaps: false,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      // Keep the limit readable: a steep projection runs off the top instead of flattening it.
      scales: { y: { beginAtZero: true, max: limit ? Math.ceil(Math.max(limit * 1.25, last * 1.1)) : undefined } },
    },
  });
}

async function loadOverview() {
  const project = $("ov-project").value;
  const days = $("ov-days").value;
  $("ov-status").textContent = "Loading…";
  const query = new URLSearchParams({ days });
  if (project) query.set("project_id", project);
  let data;
  try {
    data = await api("/dashboard/api/overview?" + query);
  } catch (err) {
    $("ov-status").textContent = err.message;
    return;
  }
  const failed = (data.outcomes.error || 0) + (data.outcomes.cancelled || 0);
  $("kpi-spend").textContent = fmtUsd(data.totals.cost);
  $("kpi-tokens").textContent = fmtInt(data.totals.tokens);
  $("kpi-requests").textContent = fmtInt(data.totals.requests);
  $("kpi-cache").textContent = fmtPct(data.cache.hit_rate);
  $("kpi-latency").textContent = `${fmtMs(data.latency.p50_ms)} / ${fmtMs(data.latency.p95_ms)}`;
  $("kpi-errors").textContent = `${fmtInt(data.outcomes.error || 0)} / ${fmtInt(data.outcomes.cancelled || 0)}`;
  $("kpi-errors").classList.toggle("bad", failed > 0);

  chart("chart-spend", { type: "bar", data: stackedByModel(data, "cost"), options: barOptions((v) => "$" + v) });
  chart("chart-tokens", { type: "bar", data: stackedByModel(data, "tokens"), options: barOptions((v) => fmtInt(v)) });
  drawBudget(data.budget);
  const latencyDays = new Map(data.latency.daily.map((d) => [d.day, d]));
  chart("chart-latency", {
    type: "line",
    data: {
      labels: data.days.map((d) => d.slice(5)),
      datasets: [
        { label: "p50", data: data.days.map((d) => latencyDays.get(d)?.p50_ms ?? null), borderColor: PALETTE[2], pointRadius: 2, spanGaps: true },
        { label: "p95", data: data.days.map((d) => latencyDays.get(d)?.p95_ms ?? null), borderColor: PALETTE[0], pointRadius: 2, spanGaps: true },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }, scales: { y: { beginAtZero: true } } },
  });
  const ok = data.outcomes.ok || 0;
  chart("chart-outcomes", {
    type: "doughnut",
    data: {
      labels: ["answered by the CLI", "cache hits", "failed", "cancelled"],
      datasets: [{ data: [ok - data.cache.hits, data.cache.hits, data.outcomes.error || 0, data.outcomes.cancelled || 0], backgroundColor: [PALETTE[1], PALETTE[2], PALETTE[6], PALETTE[4]] }],
    },
    options: { responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "right" } } },
  });
  if (state.me.is_admin) await loadErrors();
  $("ov-status").textContent = `${data.since.slice(0, 10)} → ${data.until.slice(0, 10)} (UTC) · ${data.project_id || "all projects"}`;
  document.body.dataset.overviewReady = String(Date.now());
}

async function loadErrors() {
  const { data } = await api("/dashboard/api/errors");
  const body = $("errors-table").tBodies[0];
  body.replaceChildren();
  if (!data.length) body.append(el("tr", {}, el("td", { colspan: "4", class: "muted", text: "No errors." })));
  for (const row of data) {
    const routes = Object.entries(row.routes).map(([r, n]) => `${r} ×${n}`).join(", ");
    body.append(el("tr", {}, el("td", { text: row.status }), el("td", { text: row.type }), el("td", { text: fmtInt(row.count) }), el("td", { class: "muted small", text: routes })));
  }
}

// ---------------------------------------------------------------- keys (admin)
async function loadKeys() {
  const keys = await api("/admin/keys");
  const body = $("keys-table").tBodies[0];
  body.replaceChildren();
  for (const key of keys) {
    const revoke = el("button", { class: "danger", text: "Revoke", "data-key-id": key.key_id, onclick: () => revokeKey(key) });
    if (key.revoked) revoke.disabled = true;
    body.append(el("tr", { class: key.revoked ? "revoked" : "", "data-key-id": key.key_id },
      el("td", { text: key.project_id }), el("td", { text: key.name || "–" }), el("td", {}, el("code", { text: key.prefix + "…" })),
      el("td", { text: key.rate_limit ? key.rate_limit + "/min" : "default" }), el("td", { text: key.max_tier || "any" }),
      el("td", { text: fmtDate(key.created_at) }), el("td", { text: fmtDate(key.last_used_at) }),
      el("td", {}, el("span", { class: "pill " + (key.revoked ? "bad" : "ok"), text: key.revoked ? "revoked" : "active" })),
      el("td", {}, revoke)));
  }
}

async function createKey(event) {
  event.preventDefault();
  $("key-error").textContent = "";
  const body = { project_id: $("key-project").value.trim() };
  if ($("key-name").value.trim()) body.name = $("key-name").value.trim();
  if ($("key-rate").value) body.rate_limit = Number($("key-rate").value);
  if ($("key-tier").value) body.max_tier = $("key-tier").value;
  try {
    const created = await api("/admin/keys", { method: "POST", body });
    $("key-secret-value").textContent = created.key;
    $("key-secret").hidden = false;
    $("key-form").reset();
    await Promise.all([loadKeys(), loadProjects()]);
  } catch (err) {
    $("key-error").textContent = err.message;
  }
}

async function revokeKey(key) {
  if (!confirm(`Revoke key ${key.prefix}… of project ${key.project_id}? Requests with it will be refused.`)) return;
  await api("/admin/keys/" + encodeURIComponent(key.key_id), { method: "DELETE" });
  await loadKeys();
}

// ---------------------------------------------------------------- budgets (admin)
function burnBar(pct) {
  const fill = el("div", { class: "fill" + (pct >= 100 ? " w100" : pct >= 80 ? " w80" : pct >= 50 ? " w50" : "") });
  fill.style.width = Math.min(100, pct) + "%";
  const bar = el("div", { class: "burn", title: pct.toFixed(1) + " %" }, fill);
  for (const t of [50, 80, 100]) { const tick = el("div", { class: "tick" }); tick.style.left = t + "%"; bar.append(tick); }
  return el("div", { class: "burn-cell" }, bar, el("span", { class: "small", text: pct.toFixed(0) + " %" }));
}

async function loadBudgets() {
  await loadProjects();
  const body = $("budgets-table").tBodies[0];
  body.replaceChildren();
  for (const row of state.projects) {
    const input = el("input", { type: "number", min: "0", placeholder: "unlimited", value: row.monthly_limit ?? "" });
    const save = el("button", { class: "ghost", text: "Save", onclick: () => setBudget(row.project_id, input.value) });
    body.append(el("tr", { "data-project": row.project_id },
      el("td", { text: row.project_id }), el("td", { text: fmtInt(row.used_tokens) }),
      el("td", { text: row.monthly_limit === null ? "unlimited" : fmtInt(row.monthly_limit) }),
      el("td", {}, row.used_pct === null ? el("span", { class: "muted", text: "–" }) : burnBar(row.used_pct)),
      el("td", { text: fmtUsd(row.month_cost) }), el("td", { text: fmtInt(row.month_requests) }),
      el("td", {}, el("div", { class: "inline" }, input, save))));
  }
}

async function setBudget(project, value) {
  $("budget-error").textContent = "";
  try {
    await api(`/admin/projects/${encodeURIComponent(project)}/budget`, { method: "PUT", body: { monthly_limit: value === "" ? null : Number(value) } });
    await loadBudgets();
  } catch (err) {
    $("budget-error").textContent = err.message;
  }
}

// ---------------------------------------------------------------- chat
function addMessage(role, text) {
  const body = el("div", { class: "body", text });
  const node = el("div", { class: "msg " + role, "data-role": role }, body);
  $("chat-log").append(node);
  node.scrollIntoView({ block: "end" });
  return { node, body };
}

async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) yield data;
    }
  }
}

async function sendChat(event) {
  event.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  $("chat-text").value = "";
  $("chat-send").disabled = true;
  addMessage("user", text);
  state.chat.push({ role: "user", content: text });
  const { node, body } = addMessage("assistant", "");
  node.classList.add("streaming");
  const request = { model: $("chat-model").value, messages: state.chat, stream: true, stream_options: { include_usage: true } };
  if (state.me.is_admin) request.project_id = $("chat-project").value.trim();
  let answer = "", model = null, usage = null, failure = null, headers = null;
  try {
    const response = await fetch(BASE + "/v1/chat/completions", {
      method: "POST", headers: { Authorization: "Bearer " + state.key, "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    headers = response.headers;
    if (!response.ok) {
      const err = await response.json().catch(() => ({}));
      throw new Error(err?.error?.message || response.statusText);
    }
    for await (const data of sseEvents(response)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) { failure = chunk.error.message; continue; }
      model = chunk.model || model;
      if (chunk.usage) usage = chunk.usage;
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) {
        answer += delta;
        body.textContent = answer;
        node.dataset.chunks = String(Number(node.dataset.chunks || 0) + 1);
        node.scrollIntoView({ block: "end" });
      }
    }
  } catch (err) {
    failure = err.message;
  }
  node.classList.remove("streaming");
  if (failure) {
    node.classList.add("error");
    body.textContent = answer ? answer + "\n\n" + failure : failure;
    state.chat.pop();
  } else {
    state.chat.push({ role: "assistant", content: answer });
    const routed = headers?.get("x-ccapi-routed");
    const meta = el("div", { class: "meta", "data-testid": "answer-meta" },
      el("span", {}, "model ", el("b", { "data-testid": "answer-model", text: model || headers?.get("x-ccapi-model") || "?" })),
      el("span", {}, "cost ", el("b", { "data-testid": "answer-cost", text: usage ? fmtUsd(usage.cost_usd) : "–" })),
      el("span", { text: usage ? `${fmtInt(usage.prompt_tokens)} in · ${fmtInt(usage.completion_tokens)} out` : "" }));
    if (request.model === "auto" && routed) meta.append(el("span", { text: "routed by auto" }));
    if (usage?.cached) meta.append(el("span", { class: "pill ok", text: "cache hit" }));
    node.append(meta);
    node.dataset.done = "1";
  }
  $("chat-send").disabled = false;
  $("chat-text").focus();
}

// ---------------------------------------------------------------- wiring
function init() {
  if (window.Chart) {
    Chart.defaults.animation = false; // charts appear at once; nothing to wait for
    Chart.defaults.color = getComputedStyle(document.body).color;
  }
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    try { await signIn($("signin-key").value.trim()); } catch (err) { signOut(err.message); }
  });
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  $("ov-project").addEventListener("change", loadOverview);
  $("ov-days").addEventListener("change", loadOverview);
  $("ov-refresh").addEventListener("click", async () => { await loadProjects(); await loadOverview(); });
  $("key-form").addEventListener("submit", createKey);
  $("key-copy").addEventListener("click", () => navigator.clipboard?.writeText($("key-secret-value").textContent));
  $("key-dismiss").addEventListener("click", () => { $("key-secret").hidden = true; $("key-secret-value").textContent = ""; });
  $("budget-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setBudget($("budget-project").value.trim(), $("budget-limit").value);
  });
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("chat-clear").addEventListener("click", () => { state.chat = []; $("chat-log").replaceChildren(); });
  const saved = sessionStorage.getItem(KEY_STORE);
  if (saved) signIn(saved).catch((err) => signOut(err.message));
}

init();
