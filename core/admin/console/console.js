/*
 * console.js - payroute's operator console, a single page on the admin API
 * (/admin/v1/). Plain JavaScript run as it is (no build step; one library,
 * uPlot, vendored by contrib/vendor-console.sh for the overview's charts).
 * Each view is a function of the URL hash (#/channels,
 * #/channels/CODE, #/rules, ...) that fetches what it shows and draws it;
 * every change goes through the same API the rest of the world uses, with
 * X-Payroute-Note (asked for on every change) for the audit log, whose
 * actor is the signed-in operator (GET /admin/v1/whoami, shown at the top
 * with its roles). Sign-in makes a session (POST /admin/v1/session, with a
 * name and password or a token): an HttpOnly cookie this script never
 * sees, and a CSRF token every change carries (X-CSRF-Token), kept in
 * memory only and fetched again from whoami after a reload. What the
 * operator's roles do not allow is not shown (h()'s "perm": the
 * permissions whoami lists; the API refuses it anyway). A 401 (the session
 * ended) goes back to the sign-in form saying why; a 403 is shown as the
 * refusal it is. Errors are the API's own JSON errors; a 400 that names a
 * field marks that field in the form.
 */
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  csrf: "", /* the session's X-CSRF-Token (sign-in, whoami) */
  signedIn: false,
  who: null, /* GET /admin/v1/whoami: {name, roles, permissions} */
  drivers: [],
  channels: [],
  minor: null, /* currency -> its minor units (GET /admin/v1/currencies) */
};

const METHODS = ["alipay", "wechat_pay", "debit_card", "credit_card", "bank_transfer", "unionpay"];
const ENVIRONMENTS = ["h5", "mini_program", "app", "pc", "native_qr", "jsapi", "barcode"];
const BUSINESS = ["pay", "refund", "withdraw"];
const OPS = ["pay", "query", "close", "refund", "refund_query", "payout", "payout_query", "notify"];
const EFFECTS = ["success", "failed", "processing", "unknown", "closed"];
const CATEGORIES = ["none", "user", "risk", "limit", "channel", "system"];
const OUTCOMES = ["buyer_contacted", "refunded_offline", "refunded_by_transfer", "cancelled"];
/* columns drawn right-aligned (td(v, "num") in their rows) */
const NUMERIC = new Set(["amount", "fee", "score", "weight", "count", "checks", "attempts", "age", "ms",
  "rows", "matched", "differences", "bill fee", "expected fee", "billed", "expected", "learnt", "fee model", "drift",
  "payments now", "payments draft", "moved in", "moved out", "fees now", "fees draft", "success"]);
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const CARD_TYPES = ["debit", "credit"];

/* ------------------------------------------------------------ DOM helpers */

/* can(perm): whether the signed-in operator holds the permission (whoami). */
function can(perm) {
  return !!(state.who && (state.who.permissions || []).includes(perm));
}

/* h("tag.class", {attr, onclick, ...}, child...): an element. Children are
 * nodes, strings (as text, never HTML), arrays or null. perm: the
 * permission the control needs; without it the element is hidden. */
function h(spec, attrs, ...kids) {
  const [tag, ...cls] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (cls.length) el.className = cls.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className += (el.className ? " " : "") + v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "perm") { el.dataset.perm = v; if (!can(v)) { el.hidden = true; el.classList.add("denied"); } }
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, kids);
  return el;
}
function append(el, kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
function table(headers, rows, opts) {
  return h("table", opts || {},
    h("thead", {}, h("tr", {}, headers.map((t) =>
      h("th", { class: NUMERIC.has(t) ? "num" : null }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td.muted", { colspan: headers.length }, "nothing here"))));
}
function td(v, cls) { return h("td", { class: cls }, v === undefined || v === null ? "" : v); }
function tags(list, cls) {
  if (!list || !list.length) return h("span.muted", {}, "none");
  return list.map((t) => h("span.tag", { class: cls }, t));
}
function section(title, ...kids) {
  return h("section", {}, h("h2", {}, title), kids);
}

function toast(text, bad) {
  const d = h("div", { class: bad ? "bad" : "ok" }, text);
  $("msg").appendChild(d);
  setTimeout(() => d.remove(), bad ? 9000 : 4000);
}

/* The minor units of a currency (the daemon's table, currency.c); 2 for a
 * code it does not know (or before the table is loaded). */
function minorDigits(currency) {
  const d = state.minor && state.minor[currency];
  return Number.isInteger(d) ? d : 2;
}

/* An amount in minor units shown in major units with its currency:
 * money(500000000, "CNY") is "5,000,000.00 CNY", (1500, "JPY") "1,500 JPY". */
function money(amount, currency) {
  if (amount === undefined || amount === null) return "";
  const digits = minorDigits(currency);
  const neg = amount < 0, a = Math.abs(amount);
  const unit = 10 ** digits;
  const major = Math.trunc(a / unit).toLocaleString("en");
  const minor = digits ? "." + String(a % unit).padStart(digits, "0") : "";
  return (neg ? "-" : "") + major + minor + (currency ? " " + currency : "");
}

/* Minor units as the text of an input in major units, no grouping:
 * (150000, "CNY") is "1500.00", 0 is "0". */
function majorText(amount, currency) {
  if (amount === undefined || amount === null || amount === 0) return amount === 0 ? "0" : "";
  const digits = minorDigits(currency);
  const s = String(Math.abs(amount)).padStart(digits + 1, "0");
  return (amount < 0 ? "-" : "") + (digits ? s.slice(0, -digits) + "." + s.slice(-digits) : s);
}

/* The text of a major-unit input as an integer of minor units, without
 * floating point: "1,500.5" CNY is 150050. Throws an Error with .field
 * when it is not an amount, or has more decimals than the currency. */
function minorOf(text, currency, field) {
  const t = String(text).trim().replace(/[,\s]/g, "");
  const digits = minorDigits(currency);
  const m = /^(\d+)(?:\.(\d*))?$/.exec(t);
  const bad = (why) => Object.assign(new Error(field + ": " + why), { field });
  if (!m) throw bad("an amount in " + currency + ", e.g. " + (digits ? "1500." + "0".repeat(digits) : "1500"));
  const frac = (m[2] || "").replace(/0+$/, "");
  if (frac.length > digits) throw bad(currency + " has " + digits + " decimal" + (digits === 1 ? "" : "s"));
  const n = Number(m[1] + frac.padEnd(digits, "0"));
  if (!Number.isSafeInteger(n)) throw bad("too large");
  return n;
}

/* An input of an amount in major units, the currency after it. */
function moneyInput(field, amount, currency, attrs) {
  return h("span.money", {},
    h("input", { inputmode: "decimal", value: majorText(amount, currency), dataset: { field, money: "1" }, ...(attrs || {}) }),
    h("span.cur", {}, currency));
}

async function loadCurrencies() {
  const c = await api("GET", "/admin/v1/currencies");
  state.minor = Object.fromEntries((c.currencies || []).map((x) => [x.code, x.minor]));
}
function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}
function age(seconds) {
  if (seconds === undefined || seconds === null) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}
const list = (s) => String(s || "").split(",").map((x) => x.trim()).filter(Boolean);
const json = (v) => JSON.stringify(v, null, 2);

/* ------------------------------------------------------------ the API */

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "HTTP " + status);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.field = e.field || null;
  }
}

/* api(method, path, body?, {note}) -> the JSON answer, or throws ApiError.
 * The session cookie goes with it (same origin); a change carries the
 * CSRF token. A 401 means the session ended: back to the sign-in form. */
async function api(method, path, body, opts) {
  const headers = {};
  if (method !== "GET" && method !== "HEAD" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  if (opts && opts.note) headers["X-Payroute-Note"] = opts.note;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return {};
  const answer = await r.json().catch(() => null);
  const err = new ApiError(r.status, answer);
  if (r.status === 401 && state.signedIn) {
    forget();
    showSignIn("Signed out: " + err.message);
  }
  if (r.status === 403 && err.code === "forbidden") err.message = "not allowed for your role: " + err.message;
  if (r.status === 403 && err.code === "csrf_failed") err.message = "refused: " + err.message;
  if (!r.ok) throw err;
  return answer || {};
}

/* change(what, fn): asks for the audit note, runs fn(note), reports. */
async function change(what, fn, opts) {
  let note = "";
  if (!(opts && opts.noNote)) {
    note = prompt(what + "\n\nA note for the audit log (why):", "");
    if (note === null) return null;
  }
  try {
    const r = await fn(note.trim());
    const held = r && r.approval && r.approval.state === "pending";
    toast(what + (held ? ": waits for a second operator (approval " + r.approval.id + ", see Approvals)" : ": done"));
    return r;
  } catch (e) {
    toast(what + ": " + e.message, true);
    if (opts && opts.form) markField(opts.form, e.field, e.message);
    throw e;
  }
}

/* Marks the input of a form that a 400 named (data-field, or the nearest
 * prefix: "banks[0].txn_max" marks the banks editor). */
function markField(form, field, message) {
  form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  if (!field) return;
  const parent = (f) => f.replace(/(\.[^.[\]]*|\[[^\]]*\])$/, "");
  let el = null;
  for (let f = field; f && !el; ) {
    el = form.querySelector(`[data-field="${CSS.escape(f)}"]`);
    const up = parent(f);
    if (up === f) break;
    f = up;
  }
  if (!el) return;
  el.classList.add("invalid");
  el.focus();
  el.insertAdjacentElement("afterend", h("div.field-error", {}, message));
}

async function loadCatalogue() {
  const [d, c] = await Promise.all([api("GET", "/admin/v1/drivers"), api("GET", "/admin/v1/channels")]);
  state.drivers = d.drivers || [];
  state.channels = c.channels || [];
  return state;
}
function channelSelect(value, attrs) {
  return h("select", attrs || {}, h("option", { value: "" }, "(choose a channel)"),
    state.channels.map((c) => h("option", { value: c.code, selected: c.code === value }, c.code + " (" + c.institution + ")")));
}
function select(options, value, attrs) {
  return h("select", attrs || {}, options.map((o) => h("option", { value: o, selected: o === value }, o)));
}

/* ------------------------------------------------------------ overview */

async function viewOverview(view) {
  const [s, d, o] = await Promise.all([api("GET", "/admin/v1/status"), api("GET", "/admin/v1/drivers"),
    api("GET", "/admin/v1/overview")]);
  const store = s.store || {};
  const board = h("div.cards", { id: "dashboard" });
  drawDashboard(board, o);
  refreshDashboard(board);
  append(view, [
    section(h("span", {}, "Channels, the last hour"), h("p.hint", {},
      "This instance's figures: orders that reached an outcome, each minute's 95th percentile of channel call latency, " +
      "today's usage against the daily limits (the channel's local day), and what waits for an operator. Refreshed every 15 s."),
    board),
    section("Status",
      h("dl.kv", {},
        h("dt", {}, "version"), h("dd", {}, s.version + " (driver ABI " + s.abi + ")"),
        h("dt", {}, "generation"), h("dd", { id: "generation" }, String(s.current_generation)),
        h("dt", {}, "store"), h("dd", { class: store.ready ? "ok" : "bad" },
          (store.ready ? "ready" : "unavailable") + ", " + store.connected + "/" + store.pool_size +
          " connections, " + store.reconnects + " reconnects, schema " + s.schema_version),
        h("dt", {}, "uptime"), h("dd", {}, age(s.uptime_s)),
        h("dt", {}, "channels"), h("dd", {}, String(s.channels)),
        h("dt", {}, "requests in flight"), h("dd", {}, String(s.inflight))),
      h("div.row", {}, h("button", { id: "reload", onclick: reload, perm: "daemon" }, "Reload (like SIGHUP)"),
        h("span.hint", {}, "Re-reads the config file, the drivers directory and the policy; applied only when all of it is valid."))),
    section("Drivers",
      table(["name", "version", "ABI", "file", "loaded in generation"],
        (d.drivers || []).map((m) => h("tr", {}, td(m.name), td(m.version), td(m.abi), td(h("code", {}, m.file)), td(m.generation))))),
    policySection(),
  ]);
}

/* ------------------------------------------------------------ dashboard */

const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
const ms = (x) => (x === null || x === undefined ? "–" : x < 10 ? x.toFixed(1) + " ms" : Math.round(x) + " ms");

/* A gauge of used against limit: a <meter> and "used / limit" (no limit:
 * "used, no limit"); fmt formats a figure. */
function usage(used, limit, fmt, k) {
  if (limit === null || limit === undefined) {
    return h("span", { dataset: { k } }, fmt(used) + ", no limit");
  }
  const ratio = limit > 0 ? used / limit : 0;
  return h("span.usage", { dataset: { k } },
    fmt(used) + " / " + fmt(limit) + " (" + pct(ratio) + ")",
    h("meter", { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: Math.min(1, ratio) }));
}

/* One uPlot chart of the series s (the overview's per-minute arrays) into
 * el: lines of the given keys, one axis. uPlot draws on a canvas and
 * styles only through the DOM (no inline style sheet), so the console's
 * Content-Security-Policy holds. */
function chart(el, s, lines, title) {
  if (!window.uPlot) {
    el.appendChild(h("p.muted", {}, "charts unavailable (uPlot did not load)"));
    return;
  }
  const xs = s[lines[0].key].map((_, i) => (s.from + i * s.step_ms) / 1000);
  new window.uPlot({
    title, width: 340, height: 130, legend: { show: false }, cursor: { show: false },
    scales: { y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
    axes: [{ size: 22, font: "10px sans-serif", grid: { show: false } },
      { size: 46, font: "10px sans-serif" }],
    series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 1.5, spanGaps: false,
      points: { show: true, size: 4, fill: l.color } }))],
  }, [xs, ...lines.map((l) => s[l.key])], el);
}

function channelCard(c, o) {
  const s = c.series || {}, t = s.totals || {};
  const cur = c.currency || "";
  const d = c.daily || {};
  const card = h("div.card", { dataset: { channel: c.code } },
    h("h3", {}, h("a", { href: "#/channels/" + encodeURIComponent(c.code) }, c.code), " ",
      h("span.tag", { class: c.status === "online" ? "on" : "off" }, c.status),
      c.in_maintenance ? h("span.tag.warn", {}, "maintenance") : null),
    h("dl.kv", {},
      h("dt", {}, "orders"), h("dd", {}, h("span", { dataset: { k: "volume" } }, String(t.volume ?? 0)),
        h("span.muted", {}, " ("),
        h("span.ok", { dataset: { k: "succeeded" } }, String(t.succeeded ?? 0)), h("span.muted", {}, " ok, "),
        h("span.bad", { dataset: { k: "failed" } }, String(t.failed ?? 0)), h("span.muted", {}, " failed, "),
        h("span.warn", { dataset: { k: "unknown" } }, String(t.unknown ?? 0)), h("span.muted", {}, " unknown"),
        t.other ? [h("span.muted", {}, ", "), h("span", { dataset: { k: "other" }, title: "closed, or refunds gone overdue or resolved" }, String(t.other)),
          h("span.muted", {}, " other")] : null, h("span.muted", {}, ")")),
      h("dt", {}, "success rate"), h("dd", {}, h("span", { dataset: { k: "success" } }, pct(t.success_rate)),
        h("span.muted", {}, " (routing window: " + pct(c.routing_success_rate) + ")")),
      h("dt", {}, "p95 latency"), h("dd", { dataset: { k: "p95" } }, ms(t.p95_ms)),
      h("dt", {}, "daily amount"), h("dd", {}, usage(d.amount, d.amount_limit, (x) => money(x, cur), "daily-amount")),
      h("dt", {}, "daily count"), h("dd", {}, usage(d.count, d.count_limit, (x) => String(x), "daily-count")),
      (c.banks || []).map((b) => [h("dt", {}, "at " + b.bank_code),
        h("dd", {}, usage(b.amount, b.amount_limit, (x) => money(x, cur), "bank-" + b.bank_code))]),
      h("dt", {}, "waiting"), h("dd", {},
        h("a", { href: "#/orders", class: c.open_unknown ? "warn" : "muted", dataset: { k: "open-unknown" } }, c.open_unknown + " unknown"), ", ",
        h("a", { href: "#/refunds", class: c.overdue_refunds ? "warn" : "muted", dataset: { k: "overdue" } }, c.overdue_refunds + " overdue refunds"))),
    h("div.charts", {}));
  const charts = card.querySelector(".charts");
  const outcomes = h("div.chart", { dataset: { chart: "outcomes" } });
  const latency = h("div.chart", { dataset: { chart: "latency" } });
  charts.append(outcomes, latency);
  chart(outcomes, s, [{ key: "succeeded", label: "succeeded", color: "#137333" }, { key: "failed", label: "failed", color: "#b3261e" },
    { key: "unknown", label: "unknown", color: "#c77700" }], "orders a minute");
  chart(latency, s, [{ key: "p95_ms", label: "p95 ms", color: "#1d4ed8" }], "p95 latency (ms)");
  return card;
}

function drawDashboard(board, o) {
  board.replaceChildren(...(o.channels || []).map((c) => channelCard(c, o)));
  if (!(o.channels || []).length) board.appendChild(h("p.muted", {}, "No channels yet."));
  board.dataset.generation = String(o.generation);
  board.dataset.at = String(o.now);
}

/* Draws the dashboard again every 15 s while it is on the page. */
function refreshDashboard(board) {
  setTimeout(async () => {
    if (!board.isConnected) return;
    try {
      drawDashboard(board, await api("GET", "/admin/v1/overview"));
    } catch (e) { /* the next round says it, or the page has moved on */ }
    refreshDashboard(board);
  }, 15000);
}

/* The whole routing policy as one JSON document (GET|PUT /admin/v1/policy):
 * export to a file; import from one, shown as a dry run first. */
function policySection() {
  const out = h("div", { id: "policy-plan" });
  const file = h("input", { type: "file", accept: "application/json,.json", id: "policy-file" });
  const exportIt = async () => {
    try {
      const doc = await api("GET", "/admin/v1/policy");
      const a = h("a", { href: URL.createObjectURL(new Blob([json(doc) + "\n"], { type: "application/json" })),
        download: "payroute-policy-" + new Date().toISOString().slice(0, 10) + ".json" });
      document.body.appendChild(a);
      a.click();
      a.remove();
      toast("policy exported (" + doc.channels.length + " channels)");
    } catch (e) { toast("export: " + e.message, true); }
  };
  file.addEventListener("change", async () => {
    out.replaceChildren();
    if (!file.files.length) return;
    let doc;
    try {
      doc = JSON.parse(await file.files[0].text());
    } catch (e) {
      out.replaceChildren(h("p.bad", {}, file.files[0].name + " is not JSON: " + e.message));
      return;
    }
    try {
      const plan = await api("PUT", "/admin/v1/policy?dry_run=1", doc);
      drawPlan(out, plan, doc);
    } catch (e) {
      out.replaceChildren(h("p.bad", {}, "refused: " + e.message + "; nothing was written"));
    }
    out.appendChild(replayBox(doc));
  });
  return section("Routing policy",
    h("p.hint", {}, "The channels, whitelist, rules and code overrides as one document. An import replaces all of it in one transaction: " +
      "what the file lacks is removed; secrets left masked (********) keep their stored values."),
    h("div.row", {}, h("button.secondary", { id: "policy-export", onclick: exportIt }, "Export to a file"),
      h("label", { perm: "policy.write" }, "Import from a file (a dry run first)", file)), out);
}

/* What one entry of a dry run's change lists is called. */
function planItem(i) {
  if (i.code && !i.op) return i.code + (i.fields ? " (" + i.fields.join(", ") + ")" : "");
  if (i.kind) return (i.id ? "#" + i.id + " " : "") + i.kind + " → " + i.channel;
  return [i.channel, i.op, i.code, i.sub_code].filter(Boolean).join(" ");
}

function drawPlan(out, plan, doc) {
  const c = plan.changes || {};
  const line = (name, x) => x && h("li", {}, h("strong", {}, name + ": "),
    ["added", "changed", "removed"].filter((k) => (x[k] || []).length).map((k) => k + " " + x[k].map(planItem).join(", ")).join("; ") || "no change",
    x.unchanged ? ` (${x.unchanged} unchanged)` : "");
  const rules = c.rules && h("li", {}, h("strong", {}, "rules: "), c.rules.changed ? `replaced (${c.rules.before} → ${c.rules.after})` : "no change");
  out.replaceChildren(h("ul", { id: "policy-changes" }, line("channels", c.channels), line("whitelist", c.whitelist), rules, line("code overrides", c.code_overrides)),
    plan.changed ? h("button", { id: "policy-apply", onclick: async () => {
      try {
        const r = await change("Import the routing policy", (note) => api("PUT", "/admin/v1/policy", doc, { note }));
        if (r) out.replaceChildren(h("p.ok", {}, "imported: generation " + r.generation));
      } catch (e) { /* reported */ }
    } }, "Apply the import") : h("p.muted", {}, "Nothing would change."));
}

/* A replay of the file's policy over past payments, next to its dry run
 * (POST /admin/v1/policy/replay, then GET .../replay/ID until it ends):
 * what would have moved, by channel, with fees, expected success and the
 * days a daily limit would have been reached. Writes nothing. */
function replayBox(doc) {
  const day = 86400000, today = Math.floor(Date.now() / day) * day;
  const iso = (ms) => new Date(ms).toISOString().slice(0, 19) + "Z";
  const from = h("input", { id: "replay-from", value: iso(today - 7 * day), size: 22, dataset: { field: "from" } });
  const to = h("input", { id: "replay-to", value: iso(today), size: 22, dataset: { field: "to" } });
  const result = h("div", { id: "replay-result" });
  const run = async () => {
    result.replaceChildren(h("p.muted", {}, "replaying…"));
    result.dataset.status = "running";
    try {
      let job = await api("POST", "/admin/v1/policy/replay", { policy: doc, from: from.value.trim(), to: to.value.trim() });
      for (let i = 0; i < 600 && job.status === "running"; i++) {
        await new Promise((r) => setTimeout(r, 300));
        if (!result.isConnected) return;
        job = await api("GET", "/admin/v1/policy/replay/" + job.id);
        result.replaceChildren(h("p.muted", {}, `replaying… ${job.progress.orders} of ${job.progress.total} payments`));
      }
      drawReplay(result, job);
    } catch (e) {
      result.dataset.status = "refused";
      result.replaceChildren(h("p.bad", {}, "replay refused: " + e.message));
      markField(box, e.field === "from" || e.field === "to" ? e.field : null, e.message);
    }
  };
  const box = h("div", { id: "replay" }, h("h3", {}, "Replay on past payments"),
    h("p.hint", {}, "The payments stored in the range routed again, under the active policy and under this file's: what would move, " +
      "the fees of each, the expected success (each channel's success rate over the range) and the days a daily limit would be reached. Nothing is written."),
    h("div.row", {}, h("label", {}, "from ", from), h("label", {}, "to ", to),
      h("button.secondary", { id: "replay-run", onclick: run }, "Replay")), result);
  return box;
}

function drawReplay(out, job) {
  out.dataset.status = job.status;
  if (job.status !== "done") {
    out.replaceChildren(h("p.bad", {}, "replay " + job.status + ": " + (job.error || "")));
    return;
  }
  const r = job.result, pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
  const code = (c) => c === null ? "(no channel)" : c;
  out.replaceChildren(
    h("p", { id: "replay-summary" }, `${r.orders} payments replayed in ${job.elapsed_ms} ms; ${r.changed} would move` +
      (r.skipped ? `; ${r.skipped} skipped` : "")),
    h("ul", { id: "replay-totals" }, r.totals.map((t) => h("li", { dataset: { currency: t.currency } },
      h("strong", {}, t.currency + ": "), `${money(t.changed.amount, t.currency)} in ${t.changed.orders} payments would move; ` +
      `fees ${money(t.active.fees, t.currency)} → ${money(t.draft.fees, t.currency)}; ` +
      `expected success ${pct(t.active.expected_success)} → ${pct(t.draft.expected_success)}; ` +
      `no channel ${t.active.unroutable} → ${t.draft.unroutable}`))),
    table(["channel", "currency", "payments now", "payments draft", "moved in", "moved out", "fees now", "fees draft", "success"],
      r.channels.map((c) => h("tr", { dataset: { channel: c.channel } }, td(c.channel), td(c.currency),
        td(c.active.orders, "num"), td(c.draft.orders, "num"), td(c.moved_in.orders, "num"), td(c.moved_out.orders, "num"),
        td(money(c.active.fees, c.currency), "num"), td(money(c.draft.fees, c.currency), "num"), td(pct(c.success_rate), "num"))),
      { id: "replay-channels" }),
    r.flows.length ? h("ul", { id: "replay-flows" }, r.flows.map((f) =>
      h("li", {}, `${code(f.from)} → ${code(f.to)}: ${f.orders} payments, ${money(f.amount, f.currency)}`))) : null,
    r.limit_days.length ? h("ul", { id: "replay-limits" }, r.limit_days.map((d) =>
      h("li", {}, `${d.policy === "draft" ? "this file" : "now"}: ${d.channel} reaches its ${d.limit.replace(/_limit$/, "").replace("_", " ")} limit on ${d.day} ` +
        `(from ${d.first_at}), ${d.orders_turned_away} payments turned away`))) : null,
    r.samples.length ? table(["payment", "at", "amount", "now", "this file"], r.samples.map((x) => h("tr", {},
      td(h("a", { href: "#/orders/" + encodeURIComponent(x.id) }, x.id)), td(x.at), td(money(x.amount, x.currency), "num"),
      td(code(x.active.chosen)), td(code(x.draft.chosen)))), { id: "replay-samples" }) : null,
    r.recorded_differs ? h("p.hint", {}, `${r.recorded_differs} payments went to another channel than the active policy picks now ` +
      "(a cascade, other usage, or a policy change in the range).") : null);
}

async function reload() {
  try {
    const r = await api("POST", "/admin/v1/reload");
    toast("reloaded: generation " + r.generation);
  } catch (e) {
    toast("reload failed, no changes were applied: " + e.message, true);
  }
  route();
}

/* ------------------------------------------------------------ channels */

function feeText(f, cur) {
  if (!f) return "";
  let t = (f.rate_bps / 100).toFixed(2) + "%";
  if (f.fixed) t += " + " + money(f.fixed, cur);
  if (f.min || f.max) t += " (" + money(f.min || 0, cur) + " – " + (f.max ? money(f.max, cur) : "∞") + ")";
  return t;
}

async function viewChannels(view) {
  await loadCatalogue();
  const rows = state.channels.map((c) => h("tr", { dataset: { channel: c.code } },
    td(h("a", { href: "#/channels/" + encodeURIComponent(c.code) }, c.code)),
    td(c.driver), td(c.institution),
    td(h("span.tag", { class: c.status === "online" ? "on" : "off" }, c.status)),
    td(tags(c.business_types)), td(tags(c.methods)), td(tags(c.environments)),
    td(feeText(c.fee, (c.currencies || [])[0]), "num"),
    td(h("span.row", {},
      h("input", { type: "number", min: 0, value: c.weight, class: "weight", "aria-label": "weight of " + c.code, disabled: !can("channel.operate") }),
      h("button.small.secondary", { onclick: (ev) => saveWeight(c, ev.target.previousSibling.value), perm: "channel.operate" }, "set"))),
    td(h("button.small" + (c.status === "online" ? ".danger" : ""), {
      class: "status-switch", perm: "channel.operate",
      onclick: () => setStatus(c.code, c.status === "online" ? "offline" : "online"),
    }, c.status === "online" ? "Take offline" : "Bring online"))));
  append(view, section(h("span", {}, "Channels"),
    h("div.row", {}, h("a", { href: "#/channels/new", perm: "policy.write" }, h("button", {}, "New channel")),
      h("span.hint", {}, "Weight and status apply at once (a new generation); the rest in the channel's page.")),
    table(["code", "driver", "institution", "status", "business", "methods", "environments", "fee", "weight", ""], rows,
      { id: "channels" })));
}

async function setStatus(code, status) {
  await change(`Channel ${code}: ${status}`, (note) =>
    api("POST", `/admin/v1/channels/${encodeURIComponent(code)}/status`, { status }, { note })).catch(() => {});
  route();
}

async function saveWeight(c, value) {
  const weight = Number(value);
  if (!Number.isInteger(weight) || weight < 0) { toast("weight: a whole number, 0 or more", true); return; }
  await change(`Channel ${c.code}: weight ${c.weight} → ${weight}`, (note) =>
    api("PUT", `/admin/v1/channels/${encodeURIComponent(c.code)}/weight`, { weight }, { note })).catch(() => {});
  route();
}

const NEW_CHANNEL = {
  code: "", driver: "", institution: "", business_types: ["pay", "refund"], methods: [], environments: [],
  product_codes: [], currencies: ["CNY"], banks: [], status: "offline", timezone: "Asia/Shanghai",
  maintenance_windows: [], limits: { txn_min: 1, txn_max: 0, daily_amount: 0, daily_count: 0 },
  fee: { rate_bps: 60, fixed: 0, min: 0, max: 0 }, weight: 100, refund_window_days: 365,
  refund_timeout: "48h", refund_resend: true, whitelist_only: false, driver_config: {},
};

function numInput(field, value, attrs) {
  return h("input", { type: "number", value, dataset: { field }, ...(attrs || {}) });
}
function textInput(field, value, attrs) {
  return h("input", { value: value ?? "", dataset: { field }, ...(attrs || {}) });
}
function checks(field, options, chosen) {
  return h("span.row", { dataset: { field } }, options.map((o) =>
    h("label.inline", {}, h("input", { type: "checkbox", value: o, checked: (chosen || []).includes(o) }), o)));
}
function checked(form, field) {
  return [...form.querySelectorAll(`[data-field="${field}"] input:checked`)].map((i) => i.value);
}

/* ------------------------------------------------------------ driver config */

/* The keys the driver declares (GET /admin/v1/drivers' config_keys, ABI
 * 1.2), or null: a driver that declares none has its config edited as JSON. */
function driverKeys(name) {
  const d = state.drivers.find((x) => x.name === name);
  return d && Array.isArray(d.config_keys) && d.config_keys.length ? d.config_keys : null;
}

/* A PEM block typed into a one-line (password) input loses its line
 * breaks; OpenSSL wants them back. */
function pemLines(v) {
  const m = /^\s*(-----BEGIN [A-Z0-9 ]+-----)\s*([A-Za-z0-9+/=\s]+?)\s*(-----END [A-Z0-9 ]+-----)\s*$/.exec(v);
  if (!m || v.includes("\n")) return v;
  return m[1] + "\n" + m[2].replace(/\s+/g, "").match(/.{1,64}/g).join("\n") + "\n" + m[3] + "\n";
}

/* One input per declared key: secrets as password inputs (a masked
 * "********" left as it is keeps the stored value), keys and certificates
 * as text areas, integers as numbers, booleans as a choice that may be
 * left to the driver's default. */
function keyInput(k, value) {
  const attrs = { dataset: { field: "driver_config." + k.name, key: k.name, type: k.type }, "aria-label": k.name };
  const shown = value === undefined || value === null ? "" : value;
  if (k.type === "boolean") {
    return h("select", attrs,
      h("option", { value: "", selected: shown === "" }, k.default !== null ? "(default: " + k.default + ")" : "(not set)"),
      ["true", "false"].map((b) => h("option", { value: b, selected: String(shown) === b }, b)));
  }
  if (k.secret) return h("input", { ...attrs, type: "password", autocomplete: "new-password", value: String(shown) });
  if (k.type === "integer") return h("input", { ...attrs, type: "number", step: 1, value: String(shown), placeholder: k.default ?? "" });
  if (k.type === "pem") {
    return h("textarea.json", { ...attrs, rows: 3, spellcheck: "false", placeholder: "-----BEGIN ...----- or @/path/to/file.pem" }, String(shown));
  }
  return h("input", { ...attrs, value: String(shown), placeholder: k.default ?? "" });
}

/* Draws the driver config editor of the driver named driver into box:
 * fields built from its declared keys, or a JSON text area (a driver
 * without keys, a config holding keys the driver does not declare, or the
 * operator's choice). */
function drawDriverConfig(box, driver, config, asJson) {
  const keys = driverKeys(driver);
  const undeclared = keys ? Object.keys(config || {}).filter((n) => !keys.some((k) => k.name === n)) : [];
  const json_ = !keys || asJson || undeclared.length > 0;
  box.replaceChildren();
  box.dataset.mode = json_ ? "json" : "fields";
  if (keys) {
    box.appendChild(h("label.inline", {},
      h("input", { type: "checkbox", class: "as-json", checked: json_, onchange: (ev) => {
        let c;
        try { c = readDriverConfig(box); } catch (e) { ev.target.checked = !ev.target.checked; toast(e.message, true); return; }
        drawDriverConfig(box, driver, c, ev.target.checked);
      } }), "edit as JSON"));
  }
  if (undeclared.length) {
    box.appendChild(h("p.bad", {}, "Keys the " + driver + " driver does not declare (the API refuses them): " + undeclared.join(", ")));
  }
  if (json_) {
    if (!keys) box.appendChild(h("p.hint", {}, (driver ? "The " + driver + " driver declares no config keys" : "No driver chosen") + ": its config is JSON, checked by the driver when saved."));
    box.appendChild(h("textarea.json", { dataset: { field: "driver_config" }, rows: 8, "aria-label": "driver config (JSON)" }, json(config || {})));
    return;
  }
  box.appendChild(h("div.grid", {}, keys.map((k) =>
    h("label", { class: "driver-key", dataset: { key: k.name } },
      h("span", {}, h("code", {}, k.name), k.required ? h("span.bad", { title: "required" }, " *") : null,
        " ", h("span.hint", {}, k.type + (k.secret ? ", secret" : ""))),
      keyInput(k, (config || {})[k.name]),
      h("span.hint", {}, k.description + (k.default !== null && k.type !== "boolean" ? " (default: " + k.default + ")" : ""))))));
}

/* The driver config the editor holds; throws an error with .field when a
 * value does not fit. Empty fields are left out (the driver's default). */
function readDriverConfig(box) {
  if (box.dataset.mode === "json") {
    const ta = box.querySelector('[data-field="driver_config"]');
    try {
      return JSON.parse(ta.value || "{}");
    } catch (e) {
      throw Object.assign(new Error("driver_config: not JSON (" + e.message + ")"), { field: "driver_config" });
    }
  }
  const out = {};
  for (const el of box.querySelectorAll("[data-key][data-type]")) {
    const name = el.dataset.key, type = el.dataset.type, v = el.value;
    if (type === "boolean") {
      if (v !== "") out[name] = v === "true";
    } else if (type === "integer") {
      if (v.trim() === "") continue;
      const n = Number(v);
      if (!Number.isInteger(n)) throw Object.assign(new Error("driver_config." + name + ": a whole number"), { field: "driver_config." + name });
      out[name] = n;
    } else if (v !== "") {
      out[name] = type === "pem" ? pemLines(v) : v;
    }
  }
  return out;
}

async function viewChannel(view, code) {
  await loadCatalogue();
  const isNew = code === "new";
  const c = isNew ? structuredClone(NEW_CHANNEL) : state.channels.find((x) => x.code === code);
  if (!c) {
    append(view, section("Channel " + code, h("p.bad", {}, "No channel named " + code + "."), h("a", { href: "#/channels" }, "All channels")));
    return;
  }
  const L = c.limits || {}, F = c.fee || {};
  /* The channel's amounts are in the minor units of its (first) currency. */
  const cur = (c.currencies || [])[0] || "CNY";
  const dcBox = h("div", { id: "driver-config" });
  const banksBox = h("div", { id: "banks" });
  const windowsBox = h("div", { id: "windows" });
  const tzSelect = timezoneSelect(c.timezone);
  drawBanks(banksBox, c.banks || [], cur);
  drawWindows(windowsBox, c.maintenance_windows || [], c.timezone);
  tzSelect.addEventListener("change", () => {
    /* the windows are wall times in the channel's zone: kept as typed */
    windowsBox.dataset.tz = tzSelect.value;
    windowsBox.querySelectorAll(".tz-name").forEach((el) => { el.textContent = tzSelect.value; });
  });
  drawDriverConfig(dcBox, c.driver, c.driver_config || {}, false);
  const form = h("form", { id: "channel-form" },
    h("div.grid", {},
      h("label", {}, "code", textInput("code", c.code, { readonly: !isNew, required: true, pattern: "[A-Za-z0-9_.\\-]+" })),
      h("label", {}, "driver", h("select", { dataset: { field: "driver" }, onchange: (ev) => {
        let cfg = {};
        try { cfg = readDriverConfig(dcBox); } catch (e) { /* start afresh */ }
        drawDriverConfig(dcBox, ev.target.value, cfg, false);
      } },
        h("option", { value: "" }, "(choose)"),
        [...new Set([...state.drivers.map((d) => d.name), c.driver].filter(Boolean))].map((n) =>
          h("option", { value: n, selected: n === c.driver }, n)))),
      h("label", {}, "institution", textInput("institution", c.institution)),
      h("label", {}, "status", select(["online", "offline"], c.status, { dataset: { field: "status" } })),
      h("label", {}, "time zone", tzSelect),
      h("label", {}, "weight", numInput("weight", c.weight, { min: 0 }))),
    h("fieldset", {}, h("legend", {}, "what it takes"),
      h("div", {}, h("span.muted", {}, "business types "), checks("business_types", BUSINESS, c.business_types)),
      h("div", {}, h("span.muted", {}, "environments "), checks("environments", ENVIRONMENTS, c.environments)),
      h("div.grid", {},
        h("label", {}, "methods (comma-separated)", textInput("methods", (c.methods || []).join(", "), { list: "methods-list" })),
        h("label", {}, "product codes (empty: any)", textInput("product_codes", (c.product_codes || []).join(", "))),
        h("label", {}, "currencies (the first is the amounts' unit)", textInput("currencies", (c.currencies || []).join(", "), {
          onchange: (ev) => {
            const nc = list(ev.target.value)[0];
            if (nc) ev.target.form.querySelectorAll(".money .cur").forEach((el) => { el.textContent = nc.toUpperCase(); });
          },
        }))),
      h("datalist", { id: "methods-list" }, METHODS.map((m) => h("option", { value: m })))),
    h("fieldset", {}, h("legend", {}, "limits (0: no limit)"),
      h("div.grid", {},
        h("label", {}, "per transaction, min", moneyInput("limits.txn_min", L.txn_min, cur)),
        h("label", {}, "per transaction, max", moneyInput("limits.txn_max", L.txn_max, cur)),
        h("label", {}, "daily amount", moneyInput("limits.daily_amount", L.daily_amount, cur)),
        h("label", {}, "daily count (orders)", numInput("limits.daily_count", L.daily_count, { min: 0 })))),
    h("fieldset", {}, h("legend", {}, "fee"),
      h("div.grid", {},
        h("label", {}, "rate (basis points)", numInput("fee.rate_bps", F.rate_bps, { min: 0 })),
        h("label", {}, "fixed", moneyInput("fee.fixed", F.fixed, cur)),
        h("label", {}, "minimum", moneyInput("fee.min", F.min, cur)),
        h("label", {}, "maximum (0: none)", moneyInput("fee.max", F.max, cur)))),
    h("fieldset", {}, h("legend", {}, "refunds and gray release"),
      h("div.grid", {},
        h("label", {}, "refund window (days)", numInput("refund_window_days", c.refund_window_days, { min: 0 })),
        h("label", {}, "refund timeout (e.g. 48h)", textInput("refund_timeout", c.refund_timeout)),
        h("label.inline", {}, h("input", { type: "checkbox", dataset: { field: "refund_resend" }, checked: c.refund_resend }), "overdue refunds may be re-sent"),
        h("label.inline", {}, h("input", { type: "checkbox", dataset: { field: "whitelist_only" }, checked: c.whitelist_only }), "whitelist only (gray release)"))),
    h("fieldset", {}, h("legend", {}, "driver config (secrets read back as ******** and kept when left so)"), dcBox),
    h("fieldset", {}, h("legend", {}, "bank mappings (a bank code of ours → the channel's; card types, limits at that bank)"), banksBox),
    h("fieldset", {}, h("legend", {}, "maintenance windows (the channel takes nothing during them)"), windowsBox),
    h("div.row", {},
      h("button", { type: "submit", perm: "policy.write" }, isNew ? "Create channel" : "Save channel"),
      h("a", { href: "#/channels" }, h("button.secondary", { type: "button" }, "Cancel")),
      !isNew && h("button.danger", { type: "button", onclick: () => deleteChannel(c.code), perm: "policy.write" }, "Delete channel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let body;
    try {
      body = readChannel(form, c);
    } catch (e) {
      markField(form, e.field, e.message);
      toast(e.message, true);
      return;
    }
    const path = isNew ? "/admin/v1/channels" : `/admin/v1/channels/${encodeURIComponent(c.code)}`;
    try {
      await change(isNew ? "Create channel " + body.code : "Save channel " + c.code,
        (note) => api(isNew ? "POST" : "PUT", path, body, { note }), { form });
      location.hash = "#/channels/" + encodeURIComponent(body.code);
      route();
    } catch (e) { /* reported and marked */ }
  });
  append(view, section(isNew ? "New channel" : "Channel " + c.code, form));
  if (!isNew) append(view, await breakerSection(c.code));
}

/* The channel's circuit breaker (GET /admin/v1/channels/CODE/breaker):
 * state, window, history; an operator closes or opens it (audited). */
async function breakerSection(code) {
  const box = h("section", { id: "breaker" }, h("h2", {}, "Circuit breaker"));
  let b;
  try {
    b = (await api("GET", `/admin/v1/channels/${encodeURIComponent(code)}/breaker`)).breaker;
  } catch (e) {
    box.appendChild(h("p.bad", {}, "The breaker could not be read: " + e.message));
    return box;
  }
  const at = (ms) => (ms ? new Date(ms).toLocaleString() : "");
  const force = async (st) => {
    try {
      await change((st === "closed" ? "Close" : "Open") + " the breaker of " + code,
        (note) => api("POST", `/admin/v1/channels/${encodeURIComponent(code)}/breaker`, { state: st }, { note }));
      route();
    } catch (e) { /* reported */ }
  };
  box.appendChild(h("p", {},
    h("span.tag", { class: "breaker-" + b.state, dataset: { state: b.state } }, b.state.replace("_", " ")),
    b.since ? " since " + at(b.since) : "",
    " · " + b.failures_in_window + " channel-side failures in the window",
    b.last_failure ? " (last: " + b.last_failure + ")" : "",
    b.half_open_at ? " · half opens at " + at(b.half_open_at) : "",
    b.state === "half_open" && b.probe_due ? " · next probe " + at(b.probe_due) : ""));
  box.appendChild(h("div.row", { perm: "channel.operate" },
    h("button", { type: "button", class: "breaker-close", disabled: b.state === "closed",
      onclick: () => force("closed") }, "Close: back into routing"),
    h("button.secondary", { type: "button", class: "breaker-open", disabled: b.state === "open",
      onclick: () => force("open") }, "Open: out of routing")));
  box.appendChild(table(["when", "from", "to", "reason", "by"],
    (b.history || []).map((x) => h("tr", {}, td(at(x.at)), td(x.from.replace("_", " ")),
      td(x.to.replace("_", " ")), td(x.reason), td(x.actor))), { class: "breaker-history" }));
  box.appendChild(h("p.hint", {}, "Timeouts, unreachable channels and channel-side failure codes open the breaker; " +
    "after the cool-down one probe at a time is sent, and its success closes it (doc/design.md §4)."));
  return box;
}

function readChannel(form, base) {
  const v = (f) => form.querySelector(`[data-field="${f}"]`);
  const num = (f) => {
    const s = v(f).value.trim();
    const n = Number(s);
    if (s === "" || !Number.isInteger(n)) throw Object.assign(new Error(f + ": a whole number"), { field: f });
    return n;
  };
  const currencies = list(v("currencies").value).map((x) => x.toUpperCase());
  const cur = currencies[0] || "CNY";
  const amt = (f) => minorOf(v(f).value, cur, f);
  const timezone = v("timezone").value;
  return {
    ...base,
    code: v("code").value.trim(), driver: v("driver").value, institution: v("institution").value.trim(),
    status: v("status").value, timezone, weight: num("weight"),
    business_types: checked(form, "business_types"), environments: checked(form, "environments"),
    methods: list(v("methods").value), product_codes: list(v("product_codes").value),
    currencies,
    limits: { txn_min: amt("limits.txn_min"), txn_max: amt("limits.txn_max"),
      daily_amount: amt("limits.daily_amount"), daily_count: num("limits.daily_count") },
    fee: { rate_bps: num("fee.rate_bps"), fixed: amt("fee.fixed"), min: amt("fee.min"), max: amt("fee.max") },
    refund_window_days: num("refund_window_days"), refund_timeout: v("refund_timeout").value.trim(),
    refund_resend: v("refund_resend").checked, whitelist_only: v("whitelist_only").checked,
    banks: readBanks(form.querySelector("#banks"), cur), maintenance_windows: readWindows(form.querySelector("#windows"), timezone),
    driver_config: readDriverConfig(form.querySelector("#driver-config")),
  };
}

/* ------------------------------------------------------------ banks, windows */

/* A select of the IANA time zones the browser knows (the daemon checks
 * the name against its own tz database when the channel is saved). */
function timezoneSelect(value) {
  let zones = [];
  try { zones = Intl.supportedValuesOf("timeZone"); } catch (e) { /* an old browser: the value alone */ }
  zones = [...new Set([value || "UTC", "UTC", ...zones])].sort();
  return h("select", { dataset: { field: "timezone" } }, zones.map((z) => h("option", { value: z, selected: z === (value || "UTC") }, z)));
}

/* The bank mappings as rows: our bank code, the channel's, card types,
 * and the per-transaction and daily limits at that bank (major units). */
function drawBanks(box, banks, cur) {
  const rows = h("div.rows");
  const add = (b, i) => {
    const p = `banks[${i}].`;
    rows.appendChild(h("div.bank.row", { dataset: { index: i } },
      h("label", {}, "bank code", h("input", { value: b.bank_code || "", size: 10, dataset: { field: p + "bank_code", k: "bank_code" }, placeholder: "ICBC" })),
      h("label", {}, "channel's code", h("input", { value: b.channel_bank_code || "", size: 12, dataset: { field: p + "channel_bank_code", k: "channel_bank_code" } })),
      h("span", { dataset: { field: p + "card_types", k: "card_types" } }, h("span.muted", {}, "cards "),
        CARD_TYPES.map((t) => h("label.inline", {}, h("input", { type: "checkbox", value: t, checked: (b.card_types || []).includes(t) }), t))),
      h("label", {}, "per transaction max", moneyInput(p + "txn_max", b.txn_max || 0, cur, { size: 12, "data-k": "txn_max" })),
      h("label", {}, "daily amount", moneyInput(p + "daily_amount", b.daily_amount || 0, cur, { size: 12, "data-k": "daily_amount" })),
      h("button.small.danger", { type: "button", onclick: (ev) => ev.target.closest(".bank").remove() }, "remove")));
  };
  banks.forEach(add);
  box.replaceChildren(rows, h("p.hint", {}, "No card type checked: any. 0: no limit at that bank."),
    h("button.small.secondary", { type: "button", class: "add-bank", onclick: () => add({}, rows.children.length) }, "Add a bank"));
}

function readBanks(box, cur) {
  return [...box.querySelectorAll(".bank")].map((row, i) => {
    /* the field names follow the row's place now (a row removed above) */
    row.querySelectorAll("[data-field]").forEach((el) => { el.dataset.field = el.dataset.field.replace(/^banks\[\d+\]/, `banks[${i}]`); });
    const get = (k) => row.querySelector(`[data-k="${k}"]`);
    const p = `banks[${i}].`;
    const b = { bank_code: get("bank_code").value.trim(), channel_bank_code: get("channel_bank_code").value.trim(),
      card_types: [...get("card_types").querySelectorAll("input:checked")].map((x) => x.value),
      txn_max: minorOf(get("txn_max").value, cur, p + "txn_max"), daily_amount: minorOf(get("daily_amount").value, cur, p + "daily_amount") };
    return b;
  });
}

/* The offset (ms) of time zone tz from UTC at the instant ms. */
function tzOffset(ms, tz) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}

/* An RFC 3339 instant as the wall time of tz for a datetime-local input
 * ("2026-05-01T02:00"), and back (the instant, as RFC 3339 in UTC). */
function wallTime(iso, tz) {
  const ms = Date.parse(iso);
  if (isNaN(ms)) return "";
  return new Date(ms + tzOffset(ms, tz)).toISOString().slice(0, 16);
}
function instantOf(wall, tz) {
  const guess = Date.parse(wall + ":00Z");
  if (isNaN(guess)) return null;
  let ms = guess - tzOffset(guess, tz);
  ms = guess - tzOffset(ms, tz); /* right across a change of offset */
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/* The maintenance windows as rows: daily (start, end), weekly (days,
 * start, end), once (from, to), all wall times in the channel's zone. */
function drawWindows(box, windows, tz) {
  box.dataset.tz = tz || "UTC";
  const rows = h("div.rows");
  const add = (w, i) => {
    const p = `maintenance_windows[${i}].`;
    const zone = box.dataset.tz;
    const row = h("div.window.row", { dataset: { index: i } },
      h("label", {}, "kind", select(["daily", "weekly", "once"], w.kind || "daily", { dataset: { k: "kind", field: p + "kind" },
        onchange: (ev) => show(ev.target.value) })),
      h("span.every", {},
        h("span", { class: "days", dataset: { k: "days", field: p + "days" } },
          DAYS.map((d) => h("label.inline", {}, h("input", { type: "checkbox", value: d, checked: (w.days || []).includes(d) }), d))),
        h("label", {}, "from", h("input", { type: "time", value: w.start || "", dataset: { k: "start", field: p + "start" } })),
        h("label", {}, "to", h("input", { type: "time", value: w.end || "", dataset: { k: "end", field: p + "end" } }))),
      h("span.once", {},
        h("label", {}, "from", h("input", { type: "datetime-local", value: w.from ? wallTime(w.from, zone) : "", dataset: { k: "from", field: p + "from" } })),
        h("label", {}, "to", h("input", { type: "datetime-local", value: w.to ? wallTime(w.to, zone) : "", dataset: { k: "to", field: p + "to" } }))),
      h("span.hint", {}, "in ", h("span.tz-name", {}, zone)),
      h("button.small.danger", { type: "button", onclick: () => row.remove() }, "remove"));
    const show = (kind) => {
      row.querySelector(".every").hidden = kind === "once";
      row.querySelector(".days").hidden = kind !== "weekly";
      row.querySelector(".once").hidden = kind !== "once";
    };
    show(w.kind || "daily");
    rows.appendChild(row);
  };
  windows.forEach(add);
  box.replaceChildren(rows, h("p.hint", {}, "A window whose end is before its start runs past midnight."),
    h("button.small.secondary", { type: "button", class: "add-window", onclick: () => add({ kind: "daily" }, rows.children.length) }, "Add a window"));
}

function readWindows(box, tz) {
  return [...box.querySelectorAll(".window")].map((row, i) => {
    row.querySelectorAll("[data-field]").forEach((el) => {
      el.dataset.field = el.dataset.field.replace(/^maintenance_windows\[\d+\]/, `maintenance_windows[${i}]`);
    });
    const get = (k) => row.querySelector(`[data-k="${k}"]`);
    const kind = get("kind").value;
    if (kind === "once") {
      const at = (k) => {
        const v = instantOf(get(k).value, tz);
        if (!v) throw Object.assign(new Error(`maintenance_windows[${i}].${k}: a date and time`), { field: `maintenance_windows[${i}].${k}` });
        return v;
      };
      return { kind, from: at("from"), to: at("to") };
    }
    const w = { kind, start: get("start").value, end: get("end").value };
    if (kind === "weekly") w.days = [...get("days").querySelectorAll("input:checked")].map((x) => x.value);
    return w;
  });
}

async function deleteChannel(code) {
  if (!confirm("Delete channel " + code + "? Orders keep their history; the channel stops routing.")) return;
  try {
    await change("Delete channel " + code, (note) => api("DELETE", `/admin/v1/channels/${encodeURIComponent(code)}`, undefined, { note }));
    location.hash = "#/channels";
  } catch (e) { /* reported */ }
}

/* ------------------------------------------------------------ routing rules */

async function viewRules(view) {
  await loadCatalogue();
  const r = await api("GET", "/admin/v1/routing/rules");
  const rules = r.rules || [];
  const box = h("div", { id: "rules" });
  const draw = () => {
    box.replaceChildren(...rules.map((rule, i) => ruleCard(rule, i, rules, draw)));
    if (!rules.length) box.appendChild(h("p.muted", {}, "No rules: the lower fee for the amount wins, then the higher weight, then the channel code."));
  };
  draw();
  const form = h("form", { id: "rules-form" }, box,
    h("div.row", {},
      h("button.secondary", { type: "button", onclick: () => { rules.push(newRule()); draw(); }, perm: "policy.write" }, "Add rule"),
      h("button", { type: "submit", perm: "policy.write" }, "Save rules")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let body;
    try {
      body = [...box.querySelectorAll(".rule")].map(readRule);
    } catch (e) {
      markField(form, e.field, e.message);
      toast(e.message, true);
      return;
    }
    try {
      await change("Save " + body.length + " routing rule(s)", (note) => api("PUT", "/admin/v1/routing/rules", { rules: body }, { note }), { form });
      route();
    } catch (e) { /* reported */ }
  });
  append(view, section("Routing rules",
    h("p.hint", {}, "The first enabled rule whose conditions match a payment scores its surviving channels: " +
      "weight × channel weight + fee × (cheaper is better) + success rate × recent success, or the ranking it names " +
      "(fee first, weight first, or the cheapest within some points of the best success rate); " +
      "explore sends that share of its decisions to the other eligible channels. " +
      "allow keeps only the channels named; deny drops them. Empty condition lists match anything."),
    form));
}

function newRule() {
  return { name: "", enabled: true, conditions: { product_codes: [], methods: [], environments: [], currencies: [], banks: [], merchants: [], amount_min: 0, amount_max: 0 },
    scoring: { weight: 1, fee: 1, success_rate: 1 }, allow: [], deny: [] };
}

/* The unit of a rule's amount conditions: the major unit when the rule
 * names currencies that share one number of decimals (their amounts are
 * then comparable), else minor units, as the router compares them. */
function ruleUnit(currencies) {
  const cs = (currencies || []).map((x) => x.toUpperCase());
  const digits = [...new Set(cs.map(minorDigits))];
  return cs.length && digits.length === 1 ? { cur: cs[0], label: "in " + cs.join("/") } : { cur: null, label: "minor units: name one currency for major units" };
}

function ruleCard(rule, i, rules, redraw) {
  const c = rule.conditions || {}, s = rule.scoring || {};
  const unit = ruleUnit(c.currencies);
  const amount = (v) => (unit.cur ? majorText(v || 0, unit.cur) : String(v || 0));
  const p = `rules[${i}].`;
  const move = (d) => { const j = i + d; if (j < 0 || j >= rules.length) return; [rules[i], rules[j]] = [rules[j], rules[i]]; redraw(); };
  const card = h("div.rule", { class: rule.enabled ? null : "disabled", dataset: { index: i } },
    h("div.row", {},
      h("strong", {}, "#" + (i + 1)),
      h("input", { value: rule.name, placeholder: "name", size: 40, dataset: { field: p + "name", k: "name" } }),
      h("label.inline", {}, h("input", { type: "checkbox", checked: rule.enabled !== false, dataset: { k: "enabled", field: p + "enabled" } }), "enabled"),
      h("span.spacer"),
      h("button.small.secondary", { type: "button", onclick: () => { sync(); move(-1); }, disabled: i === 0 }, "↑"),
      h("button.small.secondary", { type: "button", onclick: () => { sync(); move(1); }, disabled: i === rules.length - 1 }, "↓"),
      h("button.small.danger", { type: "button", onclick: () => { sync(); rules.splice(i, 1); redraw(); } }, "remove")),
    h("div.grid", {},
      ["methods", "environments", "currencies", "product_codes", "banks", "merchants"].map((k) =>
        h("label", {}, k, h("input", { value: (c[k] || []).join(", "), dataset: { k: "c." + k, field: p + "conditions." + k } }))),
      h("label", {}, h("span", {}, "amount from (", h("span.unit", {}, unit.label), ")"),
        h("input", { inputmode: "decimal", value: amount(c.amount_min), dataset: { k: "c.amount_min", field: p + "conditions.amount_min", cur: unit.cur || "" } })),
      h("label", {}, h("span", {}, "amount up to, 0: no cap (", h("span.unit", {}, unit.label), ")"),
        h("input", { inputmode: "decimal", value: amount(c.amount_max), dataset: { k: "c.amount_max", field: p + "conditions.amount_max", cur: unit.cur || "" } }))),
    h("div.grid", {},
      ["weight", "fee", "success_rate"].map((k) =>
        h("label", {}, "score: " + k, h("input", { type: "number", step: "any", min: 0, value: s[k] ?? 0, dataset: { k: "s." + k, field: p + "scoring." + k } }))),
      h("label", {}, "ranking", h("select", { dataset: { k: "s.mode", field: p + "scoring.mode" } },
        [["weighted", "weighted: the scores above"], ["fee_first", "fee first"], ["weight", "weight first"],
          ["success_first", "success first, cheapest within the points"]].map(([v, t]) =>
          h("option", { value: v, selected: (s.mode || "weighted") === v }, t)))),
      h("label", {}, "success first: within points of the best", h("input", { type: "number", step: "any", min: 0, max: 100, value: s.within_points ?? 0, dataset: { k: "s.within_points", field: p + "scoring.within_points" } })),
      h("label", {}, "explore (share of decisions, 0 to 0.5)", h("input", { type: "number", step: "any", min: 0, max: 0.5, value: s.explore ?? 0, dataset: { k: "s.explore", field: p + "scoring.explore" } })),
      h("label", {}, "allow only (channel codes)", h("input", { value: (rule.allow || []).join(", "), dataset: { k: "allow", field: p + "allow" } })),
      h("label", {}, "deny (channel codes)", h("input", { value: (rule.deny || []).join(", "), dataset: { k: "deny", field: p + "deny" } }))));
  /* keeps what was typed when cards move */
  const sync = () => Object.assign(rule, readRule(card));
  /* another currency: the amounts as typed, in the new unit */
  card.querySelector('[data-k="c.currencies"]').addEventListener("change", (ev) => {
    const u = ruleUnit(list(ev.target.value));
    card.querySelectorAll(".unit").forEach((el) => { el.textContent = u.label; });
    card.querySelectorAll('[data-k^="c.amount_"]').forEach((el) => { el.dataset.cur = u.cur || ""; });
  });
  return card;
}

function readRule(card) {
  const get = (k) => card.querySelector(`[data-k="${k}"]`);
  const n = (k) => {
    const el = get(k), v = Number(el.value);
    if (el.value.trim() === "" || !isFinite(v)) throw Object.assign(new Error(el.dataset.field + ": a number"), { field: el.dataset.field });
    return v;
  };
  const amount = (k) => {
    const el = get(k);
    if (el.dataset.cur) return minorOf(el.value, el.dataset.cur, el.dataset.field);
    const v = Number(el.value);
    if (el.value.trim() === "" || !Number.isSafeInteger(v) || v < 0) throw Object.assign(new Error(el.dataset.field + ": a whole number of minor units"), { field: el.dataset.field });
    return v;
  };
  return {
    name: get("name").value.trim(), enabled: get("enabled").checked,
    conditions: {
      methods: list(get("c.methods").value), environments: list(get("c.environments").value),
      currencies: list(get("c.currencies").value).map((x) => x.toUpperCase()), product_codes: list(get("c.product_codes").value),
      banks: list(get("c.banks").value), merchants: list(get("c.merchants").value),
      amount_min: amount("c.amount_min"), amount_max: amount("c.amount_max"),
    },
    scoring: Object.assign({ weight: n("s.weight"), fee: n("s.fee"), success_rate: n("s.success_rate") },
      /* the defaults are left out, as the daemon writes them */
      get("s.mode").value !== "weighted" ? { mode: get("s.mode").value } : {},
      n("s.within_points") > 0 ? { within_points: n("s.within_points") } : {},
      n("s.explore") > 0 ? { explore: n("s.explore") } : {}),
    allow: list(get("allow").value), deny: list(get("deny").value),
  };
}

/* ------------------------------------------------------------ whitelist */

async function viewWhitelist(view) {
  await loadCatalogue();
  const w = await api("GET", "/admin/v1/whitelist");
  const rows = (w.whitelist || []).map((e) => h("tr", {},
    td(e.id), td(e.kind), td(e.kind === "card_no" ? "card ending " + (e.value_hint || "?") : e.value),
    td(e.channel), td(e.note), td(e.created_by), td(when(e.created_at)), td(e.expires_at ? when(e.expires_at) : "never"),
    td(h("button.small.danger", { onclick: () => delWhitelist(e), perm: "policy.write" }, "remove"))));
  const form = h("form.grid", { id: "whitelist-form", perm: "policy.write" },
    h("label", {}, "kind", select(["buyer_id", "seller_id", "card_no"], "buyer_id", { dataset: { field: "kind" } })),
    h("label", {}, "value (a card is stored as an HMAC only)", textInput("value", "", { required: true, autocomplete: "off" })),
    h("label", {}, "channel", channelSelect("", { dataset: { field: "channel" }, required: true })),
    h("label", {}, "note", textInput("note", "")),
    h("label", {}, "expires (optional)", h("input", { type: "datetime-local", dataset: { field: "expires_at" } })),
    h("button", {}, "Add entry"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (f) => form.querySelector(`[data-field="${f}"]`).value.trim();
    const body = { kind: v("kind"), value: v("value"), channel: v("channel"), note: v("note") };
    if (v("expires_at")) body.expires_at = new Date(v("expires_at")).toISOString();
    try {
      await change("Whitelist " + body.kind + " → " + body.channel, () => api("POST", "/admin/v1/whitelist", body, { note: body.note }), { form, noNote: true });
      route();
    } catch (e) { /* reported */ }
  });
  append(view, [
    section("Whitelist",
      h("p.hint", {}, "An entry matching a payment's card, buyer or seller sends it to the named channel when that channel passes the hard filters; " +
        "channels marked whitelist-only take no other payment (gray release)."),
      table(["id", "kind", "value", "channel", "note", "by", "created", "expires", ""], rows, { id: "whitelist" })),
    section("Add an entry", form),
  ]);
}

async function delWhitelist(e) {
  if (!confirm("Remove whitelist entry " + e.id + " (" + e.kind + " → " + e.channel + ")?")) return;
  await change("Remove whitelist entry " + e.id, (note) => api("DELETE", "/admin/v1/whitelist/" + e.id, undefined, { note })).catch(() => {});
  route();
}

/* ------------------------------------------------------------ explain */

async function viewExplain(view) {
  const saved = JSON.parse(sessionStorage.getItem("payroute_explain") || "null") ||
    { amount: "100.00", currency: "CNY", method: "alipay", environment: "native_qr", product_code: "", business_type: "pay" };
  const out = h("div", { id: "explain-result" });
  const f = (k, label, attrs) => h("label", {}, label, h("input", { value: saved[k] ?? "", dataset: { field: k }, ...(attrs || {}) }));
  const form = h("form.grid", { id: "explain-form" },
    f("amount", "amount (in the currency, e.g. 100.00)", { inputmode: "decimal", required: true }),
    f("currency", "currency"),
    h("label", {}, "method", h("input", { value: saved.method, list: "methods-list", dataset: { field: "method" } })),
    h("label", {}, "environment", select(["", ...ENVIRONMENTS], saved.environment, { dataset: { field: "environment" } })),
    f("product_code", "product code"), f("bank_code", "bank code"),
    f("card_no", "card number", { autocomplete: "off" }), f("buyer_id", "buyer id"), f("seller_id", "seller id"),
    f("merchant", "merchant"),
    h("label", {}, "business type", select(["pay", "withdraw"], saved.business_type, { dataset: { field: "business_type" } })),
    h("label", {}, "at (empty: now)", h("input", { type: "datetime-local", dataset: { field: "at" } })),
    h("datalist", { id: "methods-list" }, METHODS.map((m) => h("option", { value: m }))),
    h("button", {}, "Explain"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    form.querySelectorAll("[data-field]").forEach((el) => { if (el.value.trim() !== "") body[el.dataset.field] = el.value.trim(); });
    const keep = { ...body };
    try {
      body.amount = minorOf(body.amount || "", (body.currency || "CNY").toUpperCase(), "amount");
    } catch (e) {
      markField(form, e.field, e.message);
      out.replaceChildren(h("p.bad", {}, e.message));
      return;
    }
    if (body.at) body.at = new Date(body.at).toISOString();
    delete keep.card_no;
    sessionStorage.setItem("payroute_explain", JSON.stringify(keep));
    try {
      markField(form, null);
      drawExplain(out, await api("POST", "/admin/v1/route/explain", body));
    } catch (e) {
      markField(form, e.field, e.message);
      out.replaceChildren(h("p.bad", {}, e.message));
    }
  });
  append(view, [section("Route explain (dry run: nothing is created or reserved)", form), out]);
}

function drawExplain(out, r) {
  const rows = (r.candidates || []).map((c) => h("tr", { class: c.channel === r.chosen ? "chosen" : c.eligible ? null : "dropped", dataset: { channel: c.channel } },
    td(c.channel), td(c.eligible ? h("span.ok", {}, "eligible") : h("span.bad", {}, "dropped")),
    td(c.dropped_by || ""), td(c.fee, "num"), td(c.score === null ? "" : Number(c.score).toFixed(3), "num"),
    td(c.score_parts ? Object.entries(c.score_parts).map(([k, v]) => h("span.tag", {}, k + " " + Number(v).toFixed(3))) : "")));
  out.replaceChildren(section("Decision",
    h("dl.kv", {},
      h("dt", {}, "chosen"), h("dd", { id: "explain-chosen", class: r.chosen ? "ok" : "bad" }, r.chosen || "no channel can take it"),
      h("dt", {}, "rule"), h("dd", {}, r.rule ? "#" + r.rule.id + " " + r.rule.name : "none (fee, then weight, then code)"),
      h("dt", {}, "whitelist"), h("dd", { id: "explain-whitelist" }, r.whitelist ?
        `entry #${r.whitelist.id}: ${r.whitelist.kind} → ${r.whitelist.channel}` + (r.whitelist.note ? ` (${r.whitelist.note})` : "") :
        (r.whitelist_unused || []).length ? "no entry decided" : "no entry matched"),
      (r.whitelist_unused || []).length ? [h("dt", {}, "whitelist, not used"), h("dd", { id: "explain-whitelist-unused" },
        r.whitelist_unused.map((u) => h("div", {}, `entry #${u.id}: ${u.kind} → ${u.channel} matched, but ${u.channel} was dropped by ${u.dropped_by}`)))] : null,
      h("dt", {}, "generation"), h("dd", {}, String(r.generation)),
      r.usage ? [h("dt", {}, "usage figures"), h("dd", { id: "explain-usage" }, r.usage.source === "memory" ?
        `this instance's, as of ${r.usage.as_of} (${r.usage.age_ms} ms old)` : "read from the store")] : null,
      r.dropped && Object.keys(r.dropped).length ? [h("dt", {}, "dropped (not listed)"),
        h("dd", {}, Object.entries(r.dropped).map(([k, v]) => h("span.tag", {}, `${k} ${v}`)))] : null,
      r.eligible_not_listed ? [h("dt", {}, "eligible, not listed"), h("dd", {}, String(r.eligible_not_listed))] : null,
      (r.warnings || []).length ? [h("dt", {}, "warnings"), h("dd.warn", {}, r.warnings.join("; "))] : null),
    table(["channel", "", "dropped by", "fee", "score", "score parts"], rows, { id: "explain-candidates" })));
}

/* ------------------------------------------------------------ overdue refunds */

async function viewRefunds(view) {
  await loadCatalogue();
  const q = await api("GET", "/admin/v1/refunds/overdue");
  const resendable = (code) => { const c = state.channels.find((x) => x.code === code); return c ? c.refund_resend : false; };
  const rows = (q.refunds || []).map((r) => {
    const resolve = h("form.row", { hidden: true, class: "resolve-form" },
      select(OUTCOMES, "buyer_contacted", { dataset: { field: "outcome" } }),
      h("input", { placeholder: "note (required): what was done", size: 40, required: true, dataset: { field: "note" } }),
      h("input", { placeholder: "withdrawal id (optional)", dataset: { field: "withdrawal_id" } }),
      h("button", {}, "Resolve"));
    resolve.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const v = (f) => resolve.querySelector(`[data-field="${f}"]`).value.trim();
      const body = { outcome: v("outcome"), note: v("note") };
      if (v("withdrawal_id")) body.withdrawal_id = v("withdrawal_id");
      try {
        await change("Resolve refund " + r.id + " (" + body.outcome + ")",
          () => api("POST", `/admin/v1/refunds/${encodeURIComponent(r.id)}/resolve`, body, { note: body.note }), { form: resolve, noNote: true });
        route();
      } catch (e) { /* reported */ }
    });
    const canResend = resendable(r.channel);
    return h("tr", { dataset: { refund: r.id } },
      td([h("code", {}, r.id), h("div.muted", {}, "of ", h("a", { href: "#/orders/" + encodeURIComponent(r.payment_id) }, r.payment_id))]),
      td([r.merchant_id, r.buyer_id ? h("div.muted", {}, "buyer " + r.buyer_id) : null]),
      td(r.channel), td(money(r.amount, r.currency), "num"), td(h("span.warn", {}, String(r.reason || "").replace(/_/g, " "))),
      td(age(r.age_seconds), "num"), td(r.attempts, "num"),
      td(h("details", {}, h("summary", {}, (r.history || []).length + " events"),
        table(["at", "event", "from", "to", "by", "detail"], (r.history || []).map((e) =>
          h("tr", {}, td(when(e.at)), td(e.event), td(e.from), td(e.to), td(e.actor), td(h("code", {}, JSON.stringify(e.detail || {})))))))),
      td([h("div.actions", {},
        h("button.small", { class: "resend", disabled: !canResend, perm: "order.follow_up", title: canResend ? "send the refund again by its original route" : "the channel does not allow re-sending refunds",
          onclick: () => resend(r) }, "Re-send"),
        h("button.small.secondary", { class: "resolve", onclick: () => { resolve.hidden = !resolve.hidden; }, perm: "order.follow_up" }, "Resolve…")), resolve]));
  });
  append(view, section("Overdue refunds",
    h("p.hint", {}, "Refunds unsettled past their channel's refund timeout, or whose original route is gone (account closed, card cancelled, past the refund window). " +
      "Re-send where the channel allows, or resolve with what was done; both are audited."),
    table(["refund", "merchant", "channel", "amount", "reason", "age", "attempts", "history", ""], rows, { id: "overdue" })));
}

async function resend(r) {
  await change("Re-send refund " + r.id, (note) => api("POST", `/admin/v1/refunds/${encodeURIComponent(r.id)}/resend`, {}, { note })).catch(() => {});
  route();
}

/* ------------------------------------------------------------ approvals */

/* Four eyes on money (GET /admin/v1/approvals, core/admin/approvals_api.c):
 * settlements and write-offs from approvals.threshold on, and policy
 * imports when approvals.policy_import says so, wait here for a second
 * operator. One's own request has no Approve button (the API refuses it
 * too); deciding needs the approve permission. */
const APPROVAL_STATES = ["pending", "approved", "applied", "failed", "rejected", "expired"];

function approvalTarget(a) {
  const kind = a.kind.split(".")[0];
  if (kind === "policy") return h("span", {}, "the routing policy ", h("code.muted", { title: a.target }, a.target.slice(0, 12) + "…"));
  return h("a", { href: "#/orders/" + encodeURIComponent(a.target) }, kind + " " + a.target);
}

function approvalRequest(a) {
  const q = a.request || {};
  if (a.kind === "policy.import")
    return Object.keys(q).map((k) => k + ": " + q[k]).join(", ");
  return [q.outcome, q.evidence ? "evidence " + q.evidence : null, q.withdrawal_id ? "withdrawal " + q.withdrawal_id : null]
    .filter(Boolean).join(", ") + (q.note ? " — " + q.note : "");
}

async function viewApprovals(view, arg) {
  const st = APPROVAL_STATES.includes(arg) ? arg : "pending";
  const q = await api("GET", "/admin/v1/approvals?state=" + st);
  const me = state.who ? state.who.name : "";
  const mayDecide = !!(state.who && (state.who.permissions || []).includes("approve"));
  const rows = (q.items || []).map((a) => {
    const own = a.requested_by === me;
    const reject = h("form.row", { hidden: true, class: "reject-form" },
      h("input", { placeholder: "reason (required): why not", size: 40, required: true, dataset: { field: "reason" } }),
      h("button.danger", {}, "Reject"));
    reject.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const reason = reject.querySelector('[data-field="reason"]').value.trim();
      try {
        await change("Reject approval " + a.id, () => api("POST", `/admin/v1/approvals/${a.id}/reject`, { reason }), { form: reject, noNote: true });
        route();
      } catch (e) { /* reported */ }
    });
    const approve = async () => {
      if (!confirm(`Approve ${a.kind} of ${a.target}, asked by ${a.requested_by}? It is applied now and cannot be undone.`)) return;
      try {
        await change("Approve approval " + a.id, () => api("POST", `/admin/v1/approvals/${a.id}/approve`, {}), { noNote: true });
      } catch (e) { /* reported */ }
      route();
    };
    const why = own ? "your own request: another operator approves it" : mayDecide ? "" : "your roles do not hold the approve permission";
    const decided = a.decided_by ? [a.decided_by, h("div.muted", {}, when(a.decided_at))] : "";
    return h("tr", { dataset: { approval: String(a.id) } },
      td(h("code", {}, String(a.id))), td(a.kind), td(approvalTarget(a)),
      td(a.amount === null || a.amount === undefined ? "–" : money(a.amount, a.currency), "num"),
      td(approvalRequest(a)),
      td([a.requested_by, h("div.muted", {}, when(a.requested_at))]),
      td(a.state === "pending" ? when(a.expires_at) : decided),
      td(a.state === "pending" ? [h("div.actions", {},
        h("button.small", { class: "approve", disabled: !!why, title: why || "apply it now", onclick: approve }, "Approve"),
        h("button.small.secondary", { class: "reject", disabled: !!why, title: why || "refuse it, with a reason", onclick: () => { reject.hidden = !reject.hidden; } }, "Reject…")), reject]
        : h("span", { class: a.state === "failed" ? "bad" : "muted" }, a.state + (a.reason ? ": " + a.reason : "") + (a.error ? ": " + a.error : ""))));
  });
  append(view, section("Approvals",
    h("p.hint", {}, "Four eyes on money: a settlement or write-off from the configured amount, and a policy import when configured, waits for a second operator. " +
      "Approving applies the request once, now; a request whose order moved meanwhile fails, saying why. Nobody decides their own."),
    h("div.row", {}, "state ", select(APPROVAL_STATES, st, { id: "approval-state", onchange: (e) => { location.hash = "#/approvals/" + e.target.value; } })),
    rows.length ? table(["id", "kind", "target", "amount", "request", "asked by", st === "pending" ? "expires" : "decided by", ""], rows, { id: "approvals" })
      : h("p.muted", { id: "approvals-empty" }, "no " + st + " approvals")));
}

/* ------------------------------------------------------------ reconciliation */

/* The channels' bills against payroute's orders (GET /admin/v1/reconciliation,
 * core/admin/recon_api.c): #/reconciliation lists the latest runs and the
 * fees learnt; #/reconciliation/CHANNEL/DAY is one day with its
 * differences, each resolved with a note (audited). Amounts are the
 * channel's first currency where the store keeps no currency (a run's
 * figures), a side's own where it has one. */
const chanCurrency = (code) => { const c = state.channels.find((x) => x.code === code); return ((c && c.currencies) || [])[0] || ""; };
const pctText = (x) => (x === null || x === undefined ? "–" : (x > 0 ? "+" : "") + Number(x).toFixed(2) + "%");
const kindText = (k) => String(k || "").replace(/_/g, " ");

function driftCell(f) {
  if (!f) return td("");
  const text = pctText(f.drift_pct);
  return td(f.drift ? h("span.tag.warn", { class: "drift-flag", title: "beyond reconciliation.fee_drift_pct" }, text + " drift") : h("span.muted", {}, text), "num");
}

async function viewRecon(view, arg) {
  await loadCatalogue();
  const [channel, day] = arg.split("/");
  if (channel && day) return viewReconDay(view, channel, day);
  const q = await api("GET", "/admin/v1/reconciliation" + (channel ? "?channel=" + encodeURIComponent(channel) : ""));
  const runs = (q.runs || []).map((r) => {
    const cur = chanCurrency(r.channel), f = r.fees || {}, open = r.open_differences || {};
    const nopen = Object.values(open).reduce((a, b) => a + b, 0);
    const href = "#/reconciliation/" + encodeURIComponent(r.channel) + "/" + encodeURIComponent(r.day);
    return h("tr", { dataset: { run: r.channel + "/" + r.day }, class: f.drift ? "drift" : null },
      td(r.channel), td(h("a", { href }, r.day)),
      td([h("span", { class: r.status === "done" ? "ok" : r.status === "failed" ? "bad" : "warn" }, r.status),
        r.no_bill ? h("div.muted", {}, "no bill") : null, r.error ? h("div.bad", {}, r.error) : null]),
      td((r.bill || {}).rows, "num"), td((r.matched || {}).count, "num"),
      td([h("span", { class: nopen ? "bad" : "ok", dataset: { k: "open" } }, String(nopen)),
        Object.entries(open).map(([k, n]) => h("div.muted", {}, kindText(k) + " " + n))], "num"),
      td(money(f.billed, cur), "num"), td(money(f.expected, cur), "num"), driftCell(f),
      td(h("a", { href }, "Differences →")));
  });
  const fees = (q.fees || []).map((f) => {
    const cur = chanCurrency(f.channel);
    return h("tr", { dataset: { channel: f.channel }, class: f.drift ? "drift" : null },
      td(f.channel), td(money(f.amount, cur), "num"), td(money(f.billed, cur), "num"), td(money(f.expected, cur), "num"),
      td(f.learnt_bps === null || f.learnt_bps === undefined ? "–" : (f.learnt_bps / 100).toFixed(2) + "%", "num"),
      td(feeText(f.configured, cur), "num"), driftCell(f));
  });
  const form = h("form.row", { id: "recon-run", perm: "order.follow_up" },
    h("label", {}, "channel", channelSelect(channel, { required: true, dataset: { field: "channel" } })),
    h("label", {}, "day", h("input", { type: "date", required: true, dataset: { field: "day" } })),
    h("button", {}, "Run a day"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (f) => form.querySelector(`[data-field="${f}"]`).value.trim();
    const body = { channel: v("channel"), day: v("day") };
    try {
      await change(`Reconcile ${body.channel} ${body.day}`,
        (note) => api("POST", "/admin/v1/reconciliation/runs", body, { note }), { form });
      route();
    } catch (e) { /* reported */ }
  });
  append(view, [
    section("Reconciliation",
      h("p.hint", {}, "Each channel's bill of a day matched against payroute's payments, refunds and withdrawals. " +
        "Fees are the bill's against the channel's fee model on the orders found on both sides; a drift beyond " +
        q.drift_pct_threshold + "% is flagged."),
      table(["channel", "day", "status", "rows", "matched", "differences", "bill fee", "expected fee", "drift", ""], runs, { id: "recon-runs" })),
    section("Run a day", h("p.hint", {}, "Downloads the channel's bill of that day and matches it (again: a re-run is idempotent, resolutions stay)."), form),
    section("Fees learnt from the bills (last 30 days)",
      table(["channel", "amount", "billed", "expected", "learnt", "fee model", "drift"], fees, { id: "recon-fees" })),
  ]);
}

/* One side of a difference (ours: the order; theirs: the bill's row). */
function reconSide(x) {
  if (!x) return h("span.muted", {}, "none");
  return h("div.side", {},
    h("div", {}, money(x.amount, x.currency)),
    x.status ? h("div.muted", {}, "status " + x.status + (x.effect ? " (" + x.effect + ")" : "")) : null,
    x.fee !== undefined && x.fee !== null ? h("div.muted", {}, "fee " + money(x.fee, x.currency)) : null,
    x.channel_trade_no ? h("div.muted", {}, "trade no " + x.channel_trade_no) : null);
}

async function viewReconDay(view, channel, day) {
  const statusFilter = new URLSearchParams(location.hash.split("?")[1] || "").get("status") || "";
  const q = new URLSearchParams({ channel, day });
  if (statusFilter) q.set("status", statusFilter);
  const d = await api("GET", "/admin/v1/reconciliation?" + q);
  const cur = chanCurrency(channel), f = d.fees || {}, t = d.totals || {};
  const base = "#/reconciliation/" + encodeURIComponent(channel) + "/" + encodeURIComponent(day);
  const rows = (d.differences || []).map((x) => {
    const resolve = h("form.row", { hidden: true, class: "resolve-form" },
      h("input", { placeholder: "note (required): what was found", size: 36, required: true, dataset: { field: "note" } }),
      h("button", {}, "Resolve"));
    resolve.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const note = resolve.querySelector('[data-field="note"]').value.trim();
      try {
        await change(`Resolve difference ${x.id} (${kindText(x.kind)} ${x.ref})`,
          () => api("POST", `/admin/v1/reconciliation/differences/${encodeURIComponent(x.id)}/resolve`, { note }, { note }),
          { form: resolve, noNote: true });
        route();
      } catch (e) { /* reported */ }
    });
    return h("tr", { dataset: { diff: String(x.id) } },
      td(x.id), td(h("span.warn", {}, kindText(x.kind))),
      td([x.order_id ? h("a", { href: "#/orders/" + encodeURIComponent(x.order_id) }, x.order_id) : h("code", {}, x.ref),
        h("div.muted", {}, x.order_kind + (x.order_id && x.ref !== x.order_id ? " " + x.ref : "")),
        x.check_scheduled ? h("div.muted", {}, "check scheduled") : null]),
      td(reconSide(x.ours)), td(reconSide(x.theirs)),
      td(money(x.amount, (x.ours || x.theirs || {}).currency || cur), "num"),
      td([h("span", { class: x.status === "open" ? "bad" : "ok", dataset: { k: "status" } }, x.status),
        x.status === "resolved" ? h("div.muted", {}, "by " + x.resolved_by + " " + when(x.resolved_at) + ": " + x.resolution_note) : null]),
      td(x.status === "resolved" ? null : [h("button.small.secondary", { class: "resolve", onclick: () => { resolve.hidden = !resolve.hidden; }, perm: "order.follow_up" }, "Resolve…"), resolve]));
  });
  const dd = (k, v, attrs) => [h("dt", {}, k), h("dd", attrs || {}, v)];
  append(view, [
    section(h("span", {}, h("a", { href: "#/reconciliation" }, "Reconciliation"), " / " + channel + " " + day),
      h("dl.kv", { id: "recon-day" },
        dd("status", [d.status, d.no_bill ? " (no bill)" : "", d.error ? " – " + d.error : ""]),
        dd("runs", String(d.runs) + (d.finished_at ? ", last finished " + when(d.finished_at) : "")),
        dd("bill", `${(d.bill || {}).rows} rows, ${money((d.bill || {}).amount, cur)}, fee ${money((d.bill || {}).fee, cur)}`),
        dd("matched", `${(d.matched || {}).count} rows, ${money((d.matched || {}).amount, cur)}`),
        dd("fees", [`billed ${money(f.billed, cur)}, expected ${money(f.expected, cur)} on ${money(f.amount, cur)} `,
          f.drift ? h("span.tag.warn", { class: "drift-flag" }, pctText(f.drift_pct) + " drift") : h("span.muted", {}, pctText(f.drift_pct))]),
        dd("differences", `${t.open} open (${money(t.open_amount, cur)}), ${t.resolved} resolved, ${t.cleared} cleared`, { dataset: { k: "totals" } }))),
    section("Differences",
      h("div.row", {}, h("a", { href: base }, "all"), h("a", { href: base + "?status=open" }, "open only"),
        h("span.hint", {}, "A difference a later run no longer finds is cleared; a resolved one stays resolved.")),
      table(["id", "kind", "order", "ours", "theirs", "amount", "status", ""], rows, { id: "recon-diffs" })),
  ]);
}

/* ------------------------------------------------------------ orders */

/* The lists' filters (GET /admin/v1/{kind}, core/domain/ordquery.h), by kind: the
 * merchant's number and the kind's own filters differ. */
const ORDER_KINDS = {
  payments: { states: ["created", "processing", "succeeded", "failed", "closed", "unknown"], no: "merchant_order_no", extra: ["buyer_id"] },
  refunds: { states: ["created", "processing", "succeeded", "failed", "overdue", "resolved"], no: "merchant_refund_no", extra: ["payment_id"] },
  withdrawals: { states: ["created", "pending_channel", "processing", "succeeded", "failed", "unknown"], no: "merchant_withdrawal_no", extra: [] },
};
const ORDER_FILTERS = ["merchant", "status", "channel", "code", "amount_min", "amount_max", "created_from", "created_to", "limit"];

/* An RFC 3339 time as a datetime-local input's value (local time), and
 * back. */
function localInput(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}
function fromLocalInput(v) {
  const d = new Date(v);
  return isNaN(d) ? v : d.toISOString().replace(".000Z", "Z");
}

async function viewOrders(view, id) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const kind = ORDER_KINDS[params.get("kind")] ? params.get("kind") : "payments";
  const k = ORDER_KINDS[kind];
  const a = await api("GET", "/admin/v1/orders/attention");
  const look = h("form.row", { id: "order-lookup" },
    h("input", { placeholder: "payment (P...), refund (R...) or withdrawal (W...) id", size: 44, value: id || "", dataset: { field: "id" } }),
    h("button", {}, "Look up"));
  look.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/orders/" + encodeURIComponent(look.querySelector("input").value.trim());
  });
  const detail = h("div", { id: "order-detail" });
  const list = id ? null : await orderList(kind, k, params);
  append(view, [
    section("Look up an order", look), detail,
    list,
    section("Orders that need attention",
      h("p.hint", {}, "The completion job gave up on these after the last check of completion.schedule: their outcome at the channel is unknown."),
      table(["kind", "id", "status", "channel", "amount", "checks", "reason", "last result"], (a.orders || []).map((o) => h("tr", {},
        td(o.kind), td(h("a", { href: "#/orders/" + encodeURIComponent(o.id) }, o.id)), td(o.status), td(o.channel),
        td(money(o.amount, o.currency), "num"), td(o.checks, "num"), td(o.reason), td(o.last_result))))),
  ]);
  if (id) await drawOrder(detail, id);
}

/* The search form and one page of the list the hash's query names
 * (#/orders?kind=payments&status=unknown&cursor=...): each filter is a
 * query parameter of the API; the next page is the same query with the
 * answer's next_cursor, so the browser's Back is the previous page. */
async function orderList(kind, k, params) {
  const names = ["merchant", "status", "channel", "code", k.no, ...k.extra, "amount_min", "amount_max", "created_from", "created_to", "limit"];
  const field = (n) => {
    const v = params.get(n) || "";
    if (n === "status") return select(["", ...k.states], v, { dataset: { field: n } });
    if (n === "created_from" || n === "created_to")
      return h("input", { type: "datetime-local", value: v ? localInput(v) : "", dataset: { field: n } });
    return h("input", { value: v, size: n === "limit" ? 4 : 16, placeholder: n === "limit" ? "50" : n.startsWith("amount") ? "minor units" : "", dataset: { field: n } });
  };
  const form = h("form.grid", { id: "order-search" },
    h("label", {}, "kind", select(Object.keys(ORDER_KINDS), kind, { dataset: { field: "kind" } })),
    names.map((n) => h("label", {}, n.replace(/_/g, " "), field(n))),
    h("div.row", {}, h("button", {}, "Search"), h("button.secondary", { type: "button", onclick: () => { location.hash = "#/orders?kind=" + kind; } }, "Clear")));
  form.querySelector('[data-field="kind"]').addEventListener("change", (ev) => { location.hash = "#/orders?kind=" + ev.target.value; });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams({ kind: form.querySelector('[data-field="kind"]').value });
    names.forEach((n) => {
      const el = form.querySelector(`[data-field="${n}"]`);
      const v = el.value.trim();
      if (v) p.set(n, el.type === "datetime-local" ? fromLocalInput(v) : v);
    });
    location.hash = "#/orders?" + p;
  });
  const q = new URLSearchParams();
  for (const n of [...names, "cursor"]) if (params.get(n)) q.set(n, params.get(n));
  let page;
  try {
    page = await api("GET", `/admin/v1/${kind}?` + q);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) throw e;
    const sec = section("Search " + kind, form, h("p.bad", { id: "order-list-error" }, e.message));
    markField(form, e.field, e.message);
    return sec;
  }
  const cols = ["id", "merchant", "number", "status", "channel", "amount", "code", "created"];
  if (kind === "withdrawals") cols.push("waiting");
  const rows = (page.items || []).map((o) => h("tr", { dataset: { order: o.id } },
    td(h("a", { href: "#/orders/" + encodeURIComponent(o.id) }, o.id)), td(o.merchant_id), td(o[k.no]),
    td(h("span", { class: /succeeded/.test(o.status) ? "ok" : /failed|unknown|overdue/.test(o.status) ? "bad" : null }, o.status)),
    td(o.channel), td(money(o.amount, o.currency), "num"), td(o.code), td(when(o.created_at)),
    kind === "withdrawals" ? td(o.waiting ? h("span.warn", { title: "deadline " + o.waiting.deadline_at }, o.waiting.reason + " (deadline " + when(o.waiting.deadline_at) + ")") : "") : null));
  const next = new URLSearchParams(params);
  next.set("kind", kind);
  if (page.next_cursor) next.set("cursor", page.next_cursor);
  return section("Search " + kind, form,
    table(cols, rows, { id: "order-list" }),
    h("div.row", {},
      h("span.muted", { id: "order-list-count" }, rows.length ? `${rows.length} ${kind}, newest first` : `no ${kind} match`),
      params.get("cursor") ? h("button.secondary", { id: "order-list-back", type: "button", onclick: () => history.back() }, "Previous page") : null,
      page.next_cursor ? h("a", { id: "order-list-next", href: "#/orders?" + next }, "Next page →") : null));
}

/* Which outcomes a settlement may give an order of this kind in this
 * state (POST /admin/v1/{kind}/{id}/settle), or none. */
function settleOutcomes(kind, status) {
  if (kind === "payments" && (status === "processing" || status === "unknown")) return ["succeeded", "failed", "closed"];
  if (kind === "withdrawals" && (status === "processing" || status === "unknown")) return ["succeeded", "failed"];
  if (kind === "withdrawals" && status === "pending_channel") return ["failed"];
  if (kind === "refunds" && status === "processing") return ["succeeded", "failed"];
  if (kind === "refunds" && status === "overdue") return ["succeeded"];
  return [];
}

function settleForm(kind, o, redraw) {
  const outcomes = settleOutcomes(kind, o.status);
  if (!outcomes.length) return null;
  const form = h("form.grid", { id: "settle-form", perm: "order.settle" },
    h("label", {}, "outcome", select(outcomes, outcomes[0], { dataset: { field: "outcome" } })),
    h("label", {}, "evidence (the channel's trade number or a statement reference)", h("input", { required: true, size: 30, dataset: { field: "evidence" } })),
    h("label", {}, "note (why)", h("input", { required: true, size: 40, dataset: { field: "note" } })),
    h("div.row", {}, h("button.danger", {}, "Settle")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (f) => form.querySelector(`[data-field="${f}"]`).value.trim();
    const body = { outcome: v("outcome"), note: v("note"), evidence: v("evidence") };
    if (!confirm(`Settle ${kind.slice(0, -1)} ${o.id} as ${body.outcome}? The merchant is notified; this cannot be undone.`)) return;
    try {
      await change(`Settle ${o.id} (${body.outcome})`,
        () => api("POST", `/admin/v1/${kind}/${encodeURIComponent(o.id)}/settle`, body, { note: body.note }), { form, noNote: true });
      await redraw();
    } catch (e) { /* reported */ }
  });
  return [h("h3", {}, "Settle by hand"),
    h("p.hint", {}, `The channel has not settled this ${kind.slice(0, -1)} (${o.status}). Settle it with what the channel's statement or support says: ` +
      "the same transition as a channel's answer (a failed or closed order gives its daily-limit reservation back), the merchant is notified, and the note and evidence are audited."),
    form];
}

async function drawOrder(box, id) {
  const kind = id[0] === "R" ? "refunds" : id[0] === "W" ? "withdrawals" : "payments";
  let d;
  try {
    d = await api("GET", `/admin/v1/${kind}/${encodeURIComponent(id)}`);
  } catch (e) {
    box.replaceChildren(section("Order " + id, h("p.bad", {}, e.message)));
    return;
  }
  const o = d.payment || d.refund || d.withdrawal || {};
  const trace = o.trace || {};
  const facts = ["id", "merchant_id", "merchant_order_no", "merchant_refund_no", "merchant_withdrawal_no", "payment_id", "status",
    "channel", "code", "message_en", "channel_code", "channel_sub_code", "channel_trade_no", "method", "environment", "buyer_id",
    "card_last4", "payee", "overdue_reason", "resolution", "created_at", "finished_at"]
    .filter((k) => o[k] !== undefined && o[k] !== null && o[k] !== "")
    .map((k) => [h("dt", {}, k), h("dd", {}, typeof o[k] === "object" ? json(o[k]) : String(o[k]))]);
  box.replaceChildren(section(kind.slice(0, -1) + " " + id,
    h("dl.kv", {}, h("dt", {}, "amount"), h("dd", {}, money(o.amount, o.currency)), facts),
    trace.route ? [h("h3", {}, "Route"), (() => { const x = h("div"); drawExplain(x, { ...trace.route, generation: trace.generation }); return x; })()] : null,
    (trace.attempts || []).length ? [h("h3", {}, "Attempts"), table(["channel", "outcome", "code", "channel code", "HTTP", "ms"],
      trace.attempts.map((t) => h("tr", {}, td(t.channel), td(t.outcome), td(t.code), td([t.channel_code, t.channel_sub_code].filter(Boolean).join(" / ")), td(t.http_status), td(t.ms, "num"))))] : null,
    h("h3", {}, "History"),
    table(["at", "event", "from", "to", "by", "detail"], (d.events || []).map((e) =>
      h("tr", {}, td(when(e.at)), td(e.event), td(e.from_status || e.from), td(e.to_status || e.to), td(e.actor), td(h("code", {}, JSON.stringify(e.detail || {})))))),
    d.check ? [h("h3", {}, "Completion check"), h("pre", {}, json(d.check))] : null,
    (d.notifications || []).length ? [h("h3", {}, "Merchant notifications"), h("pre", {}, json(d.notifications))] : null,
    settleForm(kind, o, () => drawOrder(box, id))));
}

/* ------------------------------------------------------------ result codes */

async function viewCodes(view) {
  await loadCatalogue();
  const [u, o] = await Promise.all([api("GET", "/admin/v1/codes/unmapped"), api("GET", "/admin/v1/codes/overrides")]);
  const form = overrideForm();
  const fill = (row) => {
    for (const k of ["channel", "op", "code", "sub_code"]) {
      const el = form.querySelector(`[data-field="${k}"]`);
      if (el) el.value = row[k] || (k === "sub_code" ? "*" : "");
    }
    form.scrollIntoView();
    form.querySelector('[data-field="unified"]').focus();
  };
  const tableBox = h("div", { id: "code-table" });
  const pick = channelSelect("", { onchange: async (ev) => {
    if (!ev.target.value) { tableBox.replaceChildren(); return; }
    try {
      const t = await api("GET", "/admin/v1/codes?channel=" + encodeURIComponent(ev.target.value));
      tableBox.replaceChildren(table(["source", "op", "code", "sub code", "unified", "effect", "retryable", "category", "message (en)", "message (zh-CN)"],
        (t.codes || []).map((c) => h("tr", {}, td(c.source), td(c.op), td(c.code), td(c.sub_code), td(c.unified), td(c.effect),
          td(c.retryable ? "yes" : ""), td(c.category), td(c.message_en), td(c.message_zh)))));
    } catch (e) { tableBox.replaceChildren(h("p.bad", {}, e.message)); }
  } });
  append(view, [
    section("Unmapped answers",
      h("p.hint", {}, "Channel answers no table maps: their orders stay unknown (chased, never guessed failed). Map one to settle the next ones."),
      table(["channel", "driver", "op", "code", "sub code", "count", "last seen", "sample", "mapped now as", ""], (u.unmapped || []).map((r) => h("tr", {},
        td(r.channel), td(r.driver), td(r.op), td(r.code), td(r.sub_code), td(r.count, "num"), td(when(r.last_seen)),
        td([r.sample_order, r.sample_message].filter(Boolean).join(": ")), td(r.mapped_as || ""),
        td(h("button.small", { onclick: () => fill(r), perm: "policy.write" }, "Map…")))), { id: "unmapped" })),
    section("Overrides",
      table(["channel", "op", "code", "sub code", "unified", "effect", "retryable", "category", "message (en)", "message (zh-CN)", ""],
        (o.overrides || []).map((r) => h("tr", {}, td(r.channel), td(r.op), td(r.code), td(r.sub_code), td(r.unified), td(r.effect),
          td(r.retryable ? "yes" : ""), td(r.category), td(r.message_en), td(r.message_zh),
          td(h("button.small.danger", { onclick: () => delOverride(r), perm: "policy.write" }, "remove")))), { id: "overrides" }),
      h("h3", {}, "Add or replace an override"), form),
    section("A channel's code table", h("div.row", {}, pick), tableBox),
  ]);
}

function overrideForm() {
  const form = h("form.grid", { id: "override-form", perm: "policy.write" },
    h("label", {}, "channel", channelSelect("", { dataset: { field: "channel" }, required: true })),
    h("label", {}, "op", select(OPS, "pay", { dataset: { field: "op" } })),
    h("label", {}, "channel code", textInput("code", "", { required: true })),
    h("label", {}, "sub code (* any)", textInput("sub_code", "*")),
    h("label", {}, "unified code", textInput("unified", "", { required: true, placeholder: "e.g. INSUFFICIENT_BALANCE" })),
    h("label", {}, "effect", select(EFFECTS, "failed", { dataset: { field: "effect" } })),
    h("label.inline", {}, h("input", { type: "checkbox", dataset: { field: "retryable" } }), "retryable on another channel"),
    h("label", {}, "category", select(CATEGORIES, "none", { dataset: { field: "category" } })),
    h("label", {}, "message for the payer (en)", textInput("message_en", "")),
    h("label", {}, "message for the payer (zh-CN)", textInput("message_zh", "")),
    h("button", {}, "Save override"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    form.querySelectorAll("[data-field]").forEach((el) => { body[el.dataset.field] = el.type === "checkbox" ? el.checked : el.value.trim(); });
    try {
      await change(`Override ${body.channel} ${body.op} ${body.code}/${body.sub_code} → ${body.unified}`,
        (note) => api("PUT", "/admin/v1/codes/overrides", body, { note }), { form });
      route();
    } catch (e) { /* reported */ }
  });
  return form;
}

async function delOverride(r) {
  const q = new URLSearchParams({ channel: r.channel, op: r.op, code: r.code, sub_code: r.sub_code });
  await change(`Remove override ${r.channel} ${r.op} ${r.code}/${r.sub_code}`, (note) => api("DELETE", "/admin/v1/codes/overrides?" + q, undefined, { note })).catch(() => {});
  route();
}

/* ------------------------------------------------------------ notifications */

async function viewNotifications(view) {
  const st = new URLSearchParams(location.hash.split("?")[1] || "").get("state") || "";
  const n = await api("GET", "/admin/v1/notifications?limit=200" + (st ? "&state=" + st : ""));
  const filter = select(["", "pending", "delivered", "abandoned"], st, { onchange: (ev) => { location.hash = "#/notifications" + (ev.target.value ? "?state=" + ev.target.value : ""); } });
  append(view, section(h("span", {}, "Merchant notifications"),
    h("div.row", {}, h("span.muted", {}, "state"), filter),
    table(["id", "order", "merchant", "state", "attempts", "last status", "next attempt", "url", ""], (n.notifications || []).map((x) => h("tr", {},
      td(x.id), td(h("a", { href: "#/orders/" + encodeURIComponent(x.order_id) }, x.order_id)), td(x.merchant_id), td(x.state), td(x.attempts, "num"),
      td(x.last_status || x.last_error || ""), td(when(x.next_at || x.next_attempt_at)), td(h("code", {}, x.url || x.notify_url || "")),
      td(x.state !== "delivered" ? h("button.small", { onclick: () => retryNotification(x.id), perm: "order.follow_up" }, "Retry now") : ""))), { id: "notifications" })));
}

async function retryNotification(id) {
  await change("Retry notification " + id, (note) => api("POST", `/admin/v1/notifications/${encodeURIComponent(id)}/retry`, {}, { note })).catch(() => {});
  route();
}

/* ------------------------------------------------------------ merchants */

/* A page of the merchants the hash's query names (#/merchants?q=shop&
 * status=active&limit=100&cursor=...; the API's parameters, limit only from
 * the address), in the order of their ids: the next page is
 * the same query with the answer's next_cursor, so the browser's Back is
 * the previous page. */
async function viewMerchants(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const q = new URLSearchParams();
  for (const n of ["q", "status", "limit", "cursor"]) if (params.get(n)) q.set(n, params.get(n));
  const search = h("form.row", { id: "merchant-search" },
    h("input", { value: params.get("q") || "", size: 24, placeholder: "part of the id or name", dataset: { field: "q" } }),
    select(["", "active", "disabled"], params.get("status") || "", { dataset: { field: "status" } }),
    h("button", {}, "Search"),
    h("button.secondary", { type: "button", onclick: () => { location.hash = "#/merchants"; } }, "Clear"));
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    search.querySelectorAll("[data-field]").forEach((el) => { if (el.value.trim()) p.set(el.dataset.field, el.value.trim()); });
    location.hash = "#/merchants" + (p.toString() ? "?" + p : "");
  });
  let m;
  try {
    m = await api("GET", "/admin/v1/merchants" + (q.toString() ? "?" + q : ""));
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400) throw e;
    markField(search, e.field, e.message);
    append(view, section("Merchants", search, h("p.bad", { id: "merchant-list-error" }, e.message)));
    return;
  }
  const next = new URLSearchParams(params);
  if (m.next_cursor) next.set("cursor", m.next_cursor);
  const secrets = h("div", { id: "merchant-secrets" });
  /* after the list is drawn again (route()), in the new page */
  const form = h("form.grid", { id: "merchant-form", perm: "merchant.write" },
    h("label", {}, "id", textInput("id", "", { required: true, pattern: "[A-Za-z0-9_.\\-]+" })),
    h("label", {}, "name", textInput("name", "", { required: true })),
    h("label", {}, "locale", select(["zh-CN", "en"], "zh-CN", { dataset: { field: "locale" } })),
    h("button", {}, "Create merchant"));
  const showSecrets = (r, what) => $("merchant-secrets").replaceChildren(section(what,
    h("p.warn", {}, "Shown this once: the store keeps only a hash of the key. Give them to the merchant now."),
    h("dl.kv", {}, r.api_key ? [h("dt", {}, "API key"), h("dd", {}, h("code", {}, r.api_key))] : null,
      r.notify_secret ? [h("dt", {}, "notification secret"), h("dd", {}, h("code", {}, r.notify_secret))] : null)));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (f) => form.querySelector(`[data-field="${f}"]`).value.trim();
    const body = { id: v("id"), name: v("name"), locale: v("locale") };
    try {
      const r = await change("Create merchant " + body.id, (note) => api("POST", "/admin/v1/merchants", body, { note }), { form });
      if (!r) return;
      await route();
      showSecrets(r, "Merchant " + body.id + " created");
    } catch (e) { /* reported */ }
  });
  const act = async (x, what, fn) => {
    try {
      const r = await change(what, fn);
      if (!r) return;
      await route();
      if (r.api_key || r.notify_secret) showSecrets(r, what);
    } catch (e) { /* reported */ }
  };
  append(view, [
    secrets,
    section("Merchants", search, table(["id", "name", "status", "locale", "key", "created", ""], (m.merchants || []).map((x) => h("tr", {},
      td(x.id), td(x.name), td(h("span.tag", { class: x.status === "active" ? "on" : "off" }, x.status)), td(x.locale), td(h("code", {}, x.api_key_prefix + "…")),
      td(when(x.created_at)),
      td(h("div.row", {},
        h("button.small.secondary", { perm: "merchant.write", onclick: () => act(x, `Merchant ${x.id}: ${x.status === "active" ? "disable" : "enable"}`,
          (note) => api("PATCH", "/admin/v1/merchants/" + encodeURIComponent(x.id), { status: x.status === "active" ? "disabled" : "active" }, { note })) },
          x.status === "active" ? "Disable" : "Enable"),
        h("button.small.secondary", { perm: "merchant.write", onclick: () => act(x, "Merchant " + x.id + ": new API key",
          (note) => api("POST", `/admin/v1/merchants/${encodeURIComponent(x.id)}/keys`, {}, { note })) }, "New API key"),
        h("button.small.secondary", { perm: "merchant.write", onclick: () => act(x, "Merchant " + x.id + ": new notification secret",
          (note) => api("POST", `/admin/v1/merchants/${encodeURIComponent(x.id)}/notify-secret`, {}, { note })) }, "New notification secret"))))),
      { id: "merchants" }),
      h("div.row", {},
        h("span.muted", { id: "merchant-list-count" }, (m.merchants || []).length ? `${m.merchants.length} merchants, by id` : "no merchant matches"),
        params.get("cursor") ? h("button.secondary", { id: "merchant-list-back", type: "button", onclick: () => history.back() }, "Previous page") : null,
        m.next_cursor ? h("a", { id: "merchant-list-next", href: "#/merchants?" + next }, "Next page →") : null)),
    section("New merchant", form),
  ]);
}

/* ------------------------------------------------------------ audit */

async function viewAudit(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const q = new URLSearchParams({ limit: params.get("limit") || "100" });
  for (const k of ["object_kind", "object_id", "cursor"]) if (params.get(k)) q.set(k, params.get(k));
  const a = await api("GET", "/admin/v1/audit?" + q);
  /* older entries: the same query from the answer's next_cursor; Back is
   * the newer page */
  const next = new URLSearchParams(params);
  if (a.next_cursor) next.set("cursor", a.next_cursor);
  const form = h("form.row", { id: "audit-filter" },
    h("input", { placeholder: "object kind (channel, whitelist, routing_rules...)", value: params.get("object_kind") || "", dataset: { field: "object_kind" } }),
    h("input", { placeholder: "object id", value: params.get("object_id") || "", dataset: { field: "object_id" } }),
    h("button", {}, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    form.querySelectorAll("[data-field]").forEach((el) => { if (el.value.trim()) p.set(el.dataset.field, el.value.trim()); });
    location.hash = "#/audit" + (p.toString() ? "?" + p : "");
  });
  append(view, section("Audit log", form,
    table(["at", "actor", "action", "kind", "object", "note", "change"], (a.audit || []).map((e) => h("tr", {},
      td(when(e.at)), td(e.actor), td(e.action), td(e.object_kind), td(e.object_id), td(e.note),
      td(h("details", {}, h("summary", {}, changedKeys(e.before, e.after)),
        h("div.grid", {}, h("div", {}, h("span.muted", {}, "before"), h("pre", {}, json(e.before))),
          h("div", {}, h("span.muted", {}, "after"), h("pre", {}, json(e.after)))))))), { id: "audit" }),
    h("div.row", {},
      params.get("cursor") ? h("button.secondary", { id: "audit-back", type: "button", onclick: () => history.back() }, "Newer entries") : null,
      a.next_cursor ? h("a", { id: "audit-next", href: "#/audit?" + next }, "Older entries →") : null)));
}

function changedKeys(before, after) {
  if (!before || !after || typeof before !== "object" || typeof after !== "object" || Array.isArray(before)) return before ? (after ? "changed" : "removed") : "created";
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return keys.length ? keys.join(", ") : "no change";
}

/* ------------------------------------------------------------ routing, sign-in */

const VIEWS = {
  overview: viewOverview, channels: viewChannels, rules: viewRules, whitelist: viewWhitelist, explain: viewExplain,
  refunds: viewRefunds, orders: viewOrders, codes: viewCodes, notifications: viewNotifications, merchants: viewMerchants,
  audit: viewAudit, reconciliation: (v) => viewRecon(v, ""), approvals: (v) => viewApprovals(v, ""),
};

/* Draws the view the hash names. Views load asynchronously, so only the
 * latest call may put its page in place (a slow earlier one must not
 * replace what the operator navigated to meanwhile). */
let routeSeq = 0;
async function route() {
  const seq = ++routeSeq;
  if (!state.signedIn) { showSignIn(); return; }
  if (!state.minor) await loadCurrencies().catch(() => {});
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : "";
  const key = name || "overview";
  let fn = VIEWS[key] || viewOverview;
  if (key === "channels" && arg) fn = (v) => viewChannel(v, arg);
  if (key === "orders") fn = (v) => viewOrders(v, arg);
  if (key === "reconciliation") fn = (v) => viewRecon(v, arg);
  if (key === "approvals") fn = (v) => viewApprovals(v, arg);
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#/" + key));
  const view = h("div");
  try {
    await fn(view);
  } catch (e) {
    if (!state.signedIn) return;
    view.replaceChildren(section("Error", h("p.bad", {}, e.message)));
  }
  if (seq !== routeSeq) return;
  $("view").replaceChildren(view);
  $("view").dataset.seq = String(seq);
}

function showSignIn(why) {
  $("auth").hidden = false;
  $("nav").hidden = true;
  $("view").replaceChildren();
  $("who").replaceChildren();
  if (why) toast(why, true);
}

function forget() {
  state.csrf = "";
  state.signedIn = false;
  state.who = null;
}

/* Signs out: the session ends on the server (its cookie is cleared). */
async function signOut(why) {
  if (state.signedIn) await api("DELETE", "/admin/v1/session").catch(() => {});
  forget();
  showSignIn(why);
}

/* who: whoami's answer (or the sign-in's): the operator, its roles and
 * permissions, the session's CSRF token. */
function signedIn(who) {
  state.who = who;
  state.csrf = who.csrf_token || "";
  state.signedIn = true;
  $("auth").hidden = true;
  $("nav").hidden = false;
  const readOnly = !can("channel.operate") && !can("order.follow_up") && !can("policy.write");
  $("who").replaceChildren("signed in as ", h("strong", { id: "who-name" }, who.name),
    " (", h("span", { id: "who-roles" }, who.roles.join(", ")), ")",
    readOnly ? h("span.tag", { id: "read-only", title: "your role may look at everything but change nothing" }, "read only") : null,
    h("button.small.secondary", { onclick: () => signOut() }, "Sign out"));
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = $("token").value.trim();
  const body = token ? { token } : { name: $("name").value.trim(), password: $("password").value };
  let answer;
  try {
    const r = await fetch("/admin/v1/session", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    answer = await r.json().catch(() => null);
    if (!r.ok) throw new ApiError(r.status, answer);
  } catch (e) {
    toast("sign-in failed: " + e.message, true);
    return;
  } finally {
    $("password").value = "";
    $("token").value = "";
  }
  signedIn(answer);
  route();
});

/* A page loaded with a live session (its cookie) carries on. */
async function start() {
  const r = await fetch("/admin/v1/whoami", { credentials: "same-origin" }).catch(() => null);
  if (r && r.ok) signedIn(await r.json());
  window.addEventListener("hashchange", route);
  route();
}
start();
