// console.test.mjs - the operator console (core/admin/console/) in headless
// Chromium, driven by playwright-core (Debian's chromium, never a
// downloaded browser), against a real payrouted that
// tests/integration/t_console.sh started with PostgreSQL and paysim. Each
// test does what an operator does in the page, then checks through the
// admin API that the change really happened (and was audited with the
// console's actor and note), or that a refused change wrote nothing.
//
// Environment (set by t_console.sh): ADMIN_URL, TOKEN, CONSOLE_PASSWORD
// (the password of console-test, an admin, and of cv-viewer and
// cv-operator, who sign in with it in browsers of their own), MERCHANT_URL,
// CHROMIUM, ALIPAY_CONF (a driver_config for a new alipay channel, a flat
// object of strings: the test types each into the form's field for it),
// MERCHANT_KEY (a merchant's API key), REFUND_RESEND and REFUND_RESOLVE
// (two overdue refunds), UNKNOWN_PAYMENT (a payment left unknown, to
// settle; 25 payments of shop1 on 2026-11-01 to list), RECON_DAY (a day
// of wx_native reconciled, with two open differences and a fee drift),
// RECON_RUN_DAY (a day to run from the form), APPROVE_PAYMENT and
// REJECT_PAYMENT (settlements another operator asked for, held for
// approval), OWN_PAYMENT (one the test asks for itself), SHOT_DIR (where a
// failing test leaves a
// screenshot). The channel form's driver config is built from the keys
// the driver declares (ABI 1.2); testgood declares none (raw JSON).
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const { ADMIN_URL, TOKEN, MERCHANT_URL, CHROMIUM, ALIPAY_CONF, REFUND_RESEND, REFUND_RESOLVE, UNKNOWN_PAYMENT, SHOT_DIR } = process.env;
const PASSWORD = process.env.CONSOLE_PASSWORD;
const ACTOR = "console-test";
let browser, page, note = "console test";
const pageErrors = [];

async function api(method, path, body) {
  const r = await fetch(ADMIN_URL + path, {
    method,
    headers: { Authorization: "Bearer " + TOKEN, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
const channel = async (code) => (await api("GET", "/admin/v1/channels/" + code)).body;
const lastAudit = async (kind) => (await api("GET", "/admin/v1/audit?limit=1&object_kind=" + kind)).body.audit[0];

// Polls fn() until it returns something truthy (bounded: 50 x 100 ms).
async function eventually(fn, what) {
  let last;
  for (let i = 0; i < 50; i++) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail("timed out waiting for " + what + " (last: " + JSON.stringify(last) + ")");
}

// Opens a view by its URL, as a bookmark would: a fresh page load each
// time (the query string changes), so nothing of the last view is left.
let loads = 0;
async function go(hash) {
  await page.goto(`${ADMIN_URL}/?load=${++loads}#/${hash}`);
  await page.waitForSelector("#view[data-seq] section");
}
const toast = () => page.locator("#msg div").last();

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(10000);
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error" && !/status of (400|401|404|409)/.test(m.text())) pageErrors.push(m.text()); });
  // Every change asks for its audit note; confirmations are accepted.
  page.on("dialog", (d) => d.accept(d.type() === "prompt" ? note : undefined));
});

afterEach(async (t) => {
  if (SHOT_DIR && page) await page.screenshot({ path: `${SHOT_DIR}/${t.name.replace(/\W+/g, "_")}.png`, fullPage: true }).catch(() => {});
});

after(async () => { if (browser) await browser.close(); });

test("a wrong token is refused and the sign-in form stays", async () => {
  await page.goto(ADMIN_URL + "/");
  await page.fill("#token", "not-the-token");
  await page.click("#login button");
  await assert.doesNotReject(toast().filter({ hasText: "sign-in failed" }).waitFor());
  assert.equal(await page.isVisible("#auth"), true);
  assert.equal(await page.isVisible("#nav"), false);
});

test("sign in: the overview shows the current generation and the loaded drivers", async () => {
  await page.fill("#token", TOKEN);
  await page.click("#login button");
  await page.waitForSelector("#generation");
  const status = (await api("GET", "/admin/v1/status")).body;
  assert.equal(await page.textContent("#generation"), String(status.current_generation));
  const drivers = await page.locator('section:has(h2:text-is("Drivers"))').textContent();
  for (const d of ["alipay", "wechat", "bank"]) assert.match(drivers, new RegExp(d));
  assert.match(await page.textContent("#who"), /console-test/);
});

test("the overview's dashboard draws each channel's last hour after a burst of payments", async () => {
  const { DASH_OK, DASH_FAILED, DASH_UNKNOWN, DASH_OPEN_UNKNOWN, DASH_OVERDUE } = process.env;
  await go("overview");
  const card = page.locator('#dashboard .card[data-channel="wx_native"]');
  await card.waitFor();
  const k = async (name) => (await card.locator(`[data-k="${name}"]`).textContent()).trim();
  // the outcomes are what the daemon saw of the burst, the open unknowns
  // the store's (t_console.sh counted both)
  assert.equal(await k("succeeded"), DASH_OK);
  assert.equal(await k("failed"), DASH_FAILED);
  assert.equal(await k("unknown"), DASH_UNKNOWN);
  const ok = Number(DASH_OK), ko = Number(DASH_FAILED);
  assert.equal(await k("success"), (100 * ok / (ok + ko)).toFixed(1) + "%");
  assert.match(await k("p95"), /^\d+(\.\d)? ms$/);
  assert.match(await k("open-unknown"), new RegExp("^" + DASH_OPEN_UNKNOWN + " unknown"));
  assert.match(await k("overdue"), new RegExp("^" + DASH_OVERDUE + " overdue"));
  // today's usage against the limits, in major units with the currency
  const o = (await api("GET", "/admin/v1/overview")).body.channels.find((c) => c.code === "wx_native");
  assert.ok(o.daily.count > 0);
  assert.equal(await k("daily-count"), `${o.daily.count} / 1000 (${(100 * o.daily.count / 1000).toFixed(1)}%)`);
  const major = (o.daily.amount / 100).toLocaleString("en", { minimumFractionDigits: 2 });
  assert.equal(await k("daily-amount"), `${major} CNY / 5,000,000.00 CNY (${(100 * o.daily.amount / 500000000).toFixed(1)}%)`);
  // two charts, drawn: the outcomes' canvas has the succeeded line's green
  assert.equal(await card.locator(".chart canvas").count(), 2);
  const green = await card.locator('[data-chart="outcomes"] canvas').evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 60 && d[i + 1] > 90 && d[i + 1] < 140 && d[i + 2] < 80 && d[i + 3] > 200) n++;
    return n;
  });
  assert.ok(green > 20, "the succeeded line is drawn (" + green + " green pixels)");
});

test("a channel taken offline and back online, audited with the actor and the note", async () => {
  await go("channels");
  note = "maintenance at the bank";
  await page.click('tr[data-channel="wx_native"] .status-switch');
  await eventually(async () => (await channel("wx_native")).status === "offline", "wx_native offline");
  const a = await lastAudit("channel");
  assert.equal(a.object_id, "wx_native");
  assert.equal(a.actor, ACTOR);
  assert.equal(a.note, "maintenance at the bank");
  assert.equal(a.after.status, "offline");
  await page.waitForSelector('tr[data-channel="wx_native"] .tag.off');
  note = "back";
  await page.click('tr[data-channel="wx_native"] .status-switch');
  await eventually(async () => (await channel("wx_native")).status === "online", "wx_native online");
});

test("a weight set in the list is the channel's weight", async () => {
  await go("channels");
  await page.fill('tr[data-channel="wx_native"] input.weight', "42");
  await page.click('tr[data-channel="wx_native"] button:has-text("set")');
  await eventually(async () => (await channel("wx_native")).weight === 42, "weight 42");
  const a = await lastAudit("channel");
  assert.equal(a.before.weight, 100);
  assert.equal(a.after.weight, 42);
});

test("the whole policy: exported to a file, edited, imported after a dry run", async () => {
  await go("overview");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#policy-export")]);
  const doc = JSON.parse(await readFile(await download.path(), "utf8"));
  const wx = doc.channels.find((c) => c.code === "wx_native");
  assert.equal(wx.weight, 42);
  assert.equal(wx.driver_config.merchant_private_key, "********", "secrets stay masked in the file");
  wx.weight = 7;
  const upload = (d) => page.setInputFiles("#policy-file",
    { name: "policy.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(d)) });
  await upload(doc);
  await page.waitForSelector("#policy-changes");
  assert.match(await page.textContent("#policy-changes"), /channels: changed wx_native \(weight\)/);
  assert.equal((await channel("wx_native")).weight, 42, "the dry run wrote nothing");
  note = "weights from the quarterly review";
  await page.click("#policy-apply");
  await eventually(async () => (await channel("wx_native")).weight === 7, "the imported weight");
  const a = await lastAudit("channel");
  assert.equal(a.actor, ACTOR);
  assert.equal(a.after.weight, 7);
  // the masked secret came back as it was stored: the channel still pays
  const e = (await api("POST", "/admin/v1/route/explain", { amount: 100, currency: "CNY", method: "wechat_pay", environment: "native_qr" })).body;
  assert.equal(e.chosen, "wx_native");
  // refused as a whole, the field named, nothing written
  wx.weight = -1;
  await go("overview");
  await upload(doc);
  await page.waitForSelector("#policy-plan .bad");
  assert.match(await page.textContent("#policy-plan"), /weight/);
  assert.equal((await channel("wx_native")).weight, 7);
  // back to 42 through the API, as the later tests expect
  wx.weight = 42;
  assert.equal((await api("PUT", "/admin/v1/policy", doc)).status, 200);
});

test("a draft policy replayed over past payments, next to its dry run", async () => {
  await go("overview");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#policy-export")]);
  const doc = JSON.parse(await readFile(await download.path(), "utf8"));
  doc.channels.find((c) => c.code === "wx_native").status = "offline";
  const audits = (await api("GET", "/admin/v1/audit?limit=1")).body.audit[0].id;
  await page.setInputFiles("#policy-file",
    { name: "draft.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(doc)) });
  await page.waitForSelector("#policy-changes");
  await page.waitForSelector("#replay-run");
  // a range the wrong way round: refused, the field marked
  await page.fill("#replay-from", "2026-11-02T00:00:00Z");
  await page.fill("#replay-to", "2026-11-01T00:00:00Z");
  await page.click("#replay-run");
  await page.waitForSelector('#replay-result[data-status="refused"]');
  assert.match(await page.textContent("#replay-result"), /to: must be after from/);
  assert.equal(await page.getAttribute("#replay-to", "class"), "invalid");
  // the 25 payments of 2026-11-01 on wx_native: with it offline, none
  // has a channel (325.00 CNY)
  await page.fill("#replay-from", "2026-11-01T00:00:00Z");
  await page.fill("#replay-to", "2026-11-02T00:00:00Z");
  await page.click("#replay-run");
  await page.waitForSelector('#replay-result[data-status="done"]', { timeout: 20000 });
  assert.match(await page.textContent("#replay-summary"), /^25 payments replayed in \d+ ms; 25 would move$/);
  const cny = await page.textContent('#replay-totals li[data-currency="CNY"]');
  assert.match(cny, /325\.00 CNY in 25 payments would move/);
  assert.match(cny, /fees 2\.05 CNY → 0\.00 CNY/); // 60 bps of 1.00 .. 25.00, each rounded up
  assert.match(cny, /expected success 80\.0% → –/); // 20 of 25 succeeded
  assert.match(cny, /no channel 0 → 25/);
  const row = page.locator('#replay-channels tr[data-channel="wx_native"] td');
  assert.deepEqual(await row.allTextContents(),
    ["wx_native", "CNY", "25", "0", "0", "25", "2.05 CNY", "0.00 CNY", "80.0%"]);
  assert.match(await page.textContent("#replay-flows"), /wx_native → \(no channel\): 25 payments, 325\.00 CNY/);
  assert.equal(await page.locator("#replay-samples tbody tr").count(), 20);
  // nothing was written: the channel is online, no audit row
  assert.equal((await channel("wx_native")).status, "online");
  assert.equal((await api("GET", "/admin/v1/audit?limit=1")).body.audit[0].id, audits);
});

test("the channel form: a refused change marks the field the API named, and nothing is written", async () => {
  const before = await channel("wx_native");
  await go("channels/wx_native");
  await page.fill('[data-field="limits.txn_min"]', "500");
  await page.fill('[data-field="limits.txn_max"]', "100");
  await page.click('#channel-form button[type="submit"]');
  await page.waitForSelector('[data-field="limits.txn_max"].invalid');
  assert.match(await page.textContent(".field-error"), /at least limits.txn_min/);
  await page.fill('[data-field="limits.txn_max"]', "1000000");
  // a bank row without our bank code: the API names banks[0].bank_code
  await page.click("#banks .add-bank");
  await page.fill('#banks [data-k="channel_bank_code"]', "0102");
  await page.click('#channel-form button[type="submit"]');
  await page.waitForSelector('[data-field="banks[0].bank_code"].invalid');
  assert.deepEqual(await channel("wx_native"), before);
  // more decimals than CNY has: refused in the page, before any request
  await page.click("#banks .bank button.danger");
  await page.fill('[data-field="limits.txn_max"]', "1.234");
  await page.click('#channel-form button[type="submit"]');
  await page.waitForSelector('[data-field="limits.txn_max"].invalid');
  assert.match(await page.textContent(".field-error"), /CNY has 2 decimals/);
  assert.deepEqual(await channel("wx_native"), before);
});

test("the channel's circuit breaker: state and history shown, opened and closed by the operator, audited", async () => {
  await go("channels/wx_native");
  await page.waitForSelector("#breaker [data-state]");
  assert.equal(await page.getAttribute("#breaker [data-state]", "data-state"), "closed");
  assert.ok(await page.isDisabled("#breaker .breaker-close"));
  note = "breaker drill";
  await page.click("#breaker .breaker-open");
  await eventually(async () => (await api("GET", "/admin/v1/channels/wx_native/breaker")).body.breaker.state === "open",
    "the breaker open");
  await page.waitForSelector('#breaker [data-state="open"]');
  assert.match(await page.textContent("#breaker .breaker-history"), /forced by an operator: breaker drill/);
  assert.match(await page.textContent("#breaker .breaker-history"), /console-test/);
  // the audit row is written with the breaker's row in the store
  const a = await eventually(async () => { const x = await lastAudit("channel"); return x && x.action === "breaker_open" && x; },
    "the audit row of the opening");
  assert.equal(a.actor, ACTOR);
  assert.equal(a.note, "forced by an operator: breaker drill");
  await page.click("#breaker .breaker-close");
  await eventually(async () => (await api("GET", "/admin/v1/channels/wx_native/breaker")).body.breaker.state === "closed",
    "the breaker closed again");
  await page.waitForSelector('#breaker [data-state="closed"]');
  await eventually(async () => (await lastAudit("channel")).action === "breaker_closed", "the audit row of the closing");
});

test("amounts are shown and entered in major units with the currency", async () => {
  const before = await channel("wx_native");
  await go("channels/wx_native");
  // 500000000 minor units of CNY, shown as yuan
  assert.equal(await page.inputValue('[data-field="limits.daily_amount"]'), String(before.limits.daily_amount / 100) + ".00");
  assert.equal((await page.locator('label:has([data-field="limits.daily_amount"]) .cur').textContent()).trim(), "CNY");
  note = "daily amount in yuan";
  await page.fill('[data-field="limits.daily_amount"]', "4,500,000.5");
  await page.fill('[data-field="limits.txn_min"]', "0.01");
  await page.click('#channel-form button[type="submit"]');
  const c = await eventually(async () => { const x = await channel("wx_native"); return x.limits.daily_amount !== before.limits.daily_amount && x; },
    "the new daily amount");
  assert.equal(c.limits.daily_amount, 450000050);
  assert.equal(c.limits.txn_min, 1);
  await go("channels/wx_native");
  assert.equal(await page.inputValue('[data-field="limits.daily_amount"]'), "4500000.50");
  // the channels' list shows fees, and the overview the limit, in yuan
  await go("overview");
  assert.match(await page.textContent('#dashboard .card[data-channel="wx_native"] [data-k="daily-amount"]'), /\/ 4,500,000\.50 CNY/);
  // explain takes the amount in major units: 100.00 CNY is 10000 fen
  await go("explain");
  await page.fill('[data-field="amount"]', "100.00");
  await page.fill('[data-field="method"]', "wechat_pay");
  await page.selectOption('[data-field="environment"]', "native_qr");
  await page.click('#explain-form button');
  await page.waitForSelector("#explain-candidates");
  const fee = (await api("POST", "/admin/v1/route/explain", { amount: 10000, currency: "CNY", method: "wechat_pay", environment: "native_qr" }))
    .body.candidates.find((x) => x.channel === "wx_native").fee;
  assert.equal((await page.locator('#explain-candidates tr[data-channel="wx_native"] td.num').first().textContent()).trim(), String(fee));
});

test("bank mappings and maintenance windows: structured rows, saved, read back", async () => {
  await go("channels/wx_native");
  assert.equal(await page.locator('#channel-form textarea[data-field="banks"], #channel-form textarea[data-field="maintenance_windows"]').count(), 0,
    "no JSON text areas");
  assert.equal(await page.inputValue('select[data-field="timezone"]'), "Asia/Shanghai");
  await page.click("#banks .add-bank");
  const bank = page.locator("#banks .bank").last();
  await bank.locator('[data-k="bank_code"]').fill("ICBC");
  await bank.locator('[data-k="channel_bank_code"]').fill("01020000");
  await bank.locator('input[value="debit"]').check();
  await bank.locator('[data-k="txn_max"]').fill("5000");
  await bank.locator('[data-k="daily_amount"]').fill("20000.5");
  await page.click("#windows .add-window");
  const weekly = page.locator("#windows .window").last();
  await weekly.locator('[data-k="kind"]').selectOption("weekly");
  await weekly.locator('input[value="mon"]').check();
  await weekly.locator('input[value="wed"]').check();
  await weekly.locator('[data-k="start"]').fill("01:00");
  await weekly.locator('[data-k="end"]').fill("03:30");
  await page.click("#windows .add-window");
  const once = page.locator("#windows .window").last();
  await once.locator('[data-k="kind"]').selectOption("once");
  assert.equal(await once.locator('[data-k="start"]').isVisible(), false, "a one-off window has no daily times");
  await once.locator('[data-k="from"]').fill("2027-01-02T01:00");
  await once.locator('[data-k="to"]').fill("2027-01-02T05:00");
  note = "bank and windows";
  await page.click('#channel-form button[type="submit"]');
  const c = await eventually(async () => { const x = await channel("wx_native"); return x.maintenance_windows.length === 2 && x; }, "the windows saved");
  assert.deepEqual(c.banks, [{ bank_code: "ICBC", channel_bank_code: "01020000", card_types: ["debit"], txn_max: 500000, daily_amount: 2000050 }]);
  assert.deepEqual(c.maintenance_windows[0], { kind: "weekly", start: "01:00", end: "03:30", days: ["mon", "wed"] });
  assert.equal(c.maintenance_windows[1].kind, "once");
  // wall times in the channel's zone (Asia/Shanghai, UTC+8)
  assert.equal(Date.parse(c.maintenance_windows[1].from), Date.parse("2027-01-01T17:00:00Z"));
  assert.equal(Date.parse(c.maintenance_windows[1].to), Date.parse("2027-01-01T21:00:00Z"));
  // a fresh load shows the rows as saved
  await go("channels/wx_native");
  const b = page.locator("#banks .bank").first();
  assert.equal(await b.locator('[data-k="bank_code"]').inputValue(), "ICBC");
  assert.equal(await b.locator('[data-k="txn_max"]').inputValue(), "5000.00");
  assert.equal(await b.locator('[data-k="daily_amount"]').inputValue(), "20000.50");
  assert.equal(await b.locator('input[value="debit"]').isChecked(), true);
  assert.equal(await b.locator('input[value="credit"]').isChecked(), false);
  const w = page.locator("#windows .window");
  assert.equal(await w.count(), 2);
  assert.equal(await w.nth(0).locator('[data-k="kind"]').inputValue(), "weekly");
  assert.equal(await w.nth(0).locator('[data-k="start"]').inputValue(), "01:00");
  assert.equal(await w.nth(0).locator('[data-k="end"]').inputValue(), "03:30");
  assert.equal(await w.nth(0).locator('input[value="mon"]').isChecked(), true);
  assert.equal(await w.nth(0).locator('input[value="tue"]').isChecked(), false);
  assert.equal(await w.nth(1).locator('[data-k="from"]').inputValue(), "2027-01-02T01:00");
  // a weekly window without days is refused by the API, the row marked
  await w.nth(0).locator('input[value="mon"]').uncheck();
  await w.nth(0).locator('input[value="wed"]').uncheck();
  await page.click('#channel-form button[type="submit"]');
  await page.waitForSelector('#windows [data-field^="maintenance_windows[0]"].invalid');
  // the weekly row removed: saved, the once window left
  await w.nth(0).locator("button.danger").click();
  await page.click("#banks .bank button.danger");
  note = "weekly window and bank removed";
  await page.click('#channel-form button[type="submit"]');
  const d = await eventually(async () => { const x = await channel("wx_native"); return x.maintenance_windows.length === 1 && x; }, "one window left");
  assert.equal(d.maintenance_windows[0].kind, "once");
  assert.deepEqual(d.banks, []);
});

test("Chinese text is drawn with a CJK font, not as boxes", async () => {
  assert.equal((await api("POST", "/admin/v1/merchants", { id: "zh-shop", name: "测试商户（上海）", locale: "zh-CN" })).status, 201);
  await go("merchants");
  const cell = page.locator('#merchants td:text-is("测试商户（上海）")');
  await cell.evaluate((el) => el.setAttribute("data-probe", "zh"));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("DOM.enable");
  await cdp.send("CSS.enable");
  const { root } = await cdp.send("DOM.getDocument", { depth: -1 });
  const { nodeId } = await cdp.send("DOM.querySelector", { nodeId: root.nodeId, selector: '[data-probe="zh"]' });
  const { fonts } = await cdp.send("CSS.getPlatformFontsForNode", { nodeId });
  await cdp.detach();
  const cjk = fonts.filter((f) => /CJK|Han|Hei|Song|Ming|WenQuanYi/i.test(f.familyName));
  assert.ok(cjk.length && cjk.reduce((n, f) => n + f.glyphCount, 0) >= 6, "the Han characters' font: " + JSON.stringify(fonts));
});

test("the driver config form is built from the keys the driver declares", async () => {
  const alipay = (await api("GET", "/admin/v1/drivers/alipay")).body;
  assert.ok(Array.isArray(alipay.config_keys) && alipay.config_keys.length >= 5, "alipay declares its keys");
  await go("channels/new");
  await page.selectOption('[data-field="driver"]', "alipay");
  // one input per declared key, named by its field
  for (const k of alipay.config_keys) {
    const el = page.locator(`#driver-config [data-field="driver_config.${k.name}"]`);
    assert.equal(await el.count(), 1, "an input for " + k.name);
    const tag = await el.evaluate((e) => e.tagName.toLowerCase() + (e.type ? ":" + e.type : ""));
    if (k.secret) assert.equal(tag, "input:password", k.name + " is a secret: a password input");
    else if (k.type === "pem") assert.equal(tag, "textarea:textarea", k.name + " is a key: a text area");
    else if (k.type === "boolean") assert.equal(tag, "select:select-one", k.name);
    else assert.match(tag, /^input:/, k.name);
    const label = await page.locator(`#driver-config label[data-key="${k.name}"]`).textContent();
    assert.ok(label.includes(k.description), "the description of " + k.name + " is shown");
    assert.equal(label.includes("*"), k.required, "required marked for " + k.name);
  }
  assert.equal(await page.locator('#driver-config textarea[data-field="driver_config"]').count(), 0, "no raw JSON by default");
  // a driver that declares no keys: the raw JSON editor, as before
  await page.selectOption('[data-field="driver"]', "testgood");
  await page.waitForSelector('#driver-config textarea[data-field="driver_config"]');
  assert.equal(await page.locator("#driver-config [data-key]").count(), 0);
  assert.match(await page.textContent("#driver-config"), /declares no config keys/);
  // and back: the fields again
  await page.selectOption('[data-field="driver"]', "wechat");
  await page.waitForSelector('#driver-config [data-field="driver_config.apiv3_key"][type="password"]');
});

test("a new channel created with the form fields routes payments", async () => {
  const conf = JSON.parse(ALIPAY_CONF);
  await go("channels/new");
  await page.fill('[data-field="code"]', "ali_console");
  await page.selectOption('[data-field="driver"]', "alipay");
  await page.fill('[data-field="institution"]', "Alipay (console)");
  await page.selectOption('[data-field="status"]', "online");
  await page.check('[data-field="environments"] input[value="native_qr"]');
  await page.fill('[data-field="methods"]', "alipay");
  await page.fill('[data-field="limits.txn_max"]', "5000000");
  await page.fill('[data-field="fee.rate_bps"]', "38");
  // the required app_id left empty: refused by the API, naming the field
  for (const [k, v] of Object.entries(conf)) if (k !== "app_id") await page.fill(`[data-field="driver_config.${k}"]`, v);
  note = "new alipay contract";
  await page.click('#channel-form button[type="submit"]');
  await page.waitForSelector('[data-field="driver_config.app_id"].invalid');
  assert.match(await page.textContent(".field-error"), /driver_config.app_id: required by the alipay driver/);
  assert.equal((await api("GET", "/admin/v1/channels/ali_console")).status, 404, "nothing written");
  await page.fill('[data-field="driver_config.app_id"]', conf.app_id);
  await page.click('#channel-form button[type="submit"]');
  await page.waitForSelector('section h2:has-text("Channel ali_console")');
  const c = await channel("ali_console");
  assert.equal(c.status, "online");
  assert.deepEqual(c.environments, ["native_qr"]);
  assert.equal(c.fee.rate_bps, 38);
  assert.equal(c.driver_config.app_private_key, "********", "secrets are masked when read back");
  assert.equal(c.driver_config.app_id, conf.app_id);
  assert.equal(c.driver_config.gateway, conf.gateway);
  assert.deepEqual(Object.keys(c.driver_config).sort(), Object.keys(conf).sort(), "only the keys filled in");
  // read back: the secret shows as the mask in its password input
  assert.equal(await page.inputValue('[data-field="driver_config.app_private_key"]'), "********");
  assert.equal(await page.getAttribute('[data-field="driver_config.app_private_key"]', "type"), "password");
  const e = (await api("POST", "/admin/v1/route/explain", { amount: 10000, currency: "CNY", method: "alipay", environment: "native_qr" })).body;
  assert.equal(e.chosen, "ali_console");
  // saved again as it is: the masked secret keeps the stored one, so it still pays
  await page.fill('[data-field="weight"]', "64");
  await page.click('#channel-form button[type="submit"]');
  await eventually(async () => (await channel("ali_console")).weight === 64, "weight 64");
  const pay = await fetch(MERCHANT_URL + "/v1/payments", {
    method: "POST",
    headers: { Authorization: "Bearer " + process.env.MERCHANT_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ merchant_order_no: "console-ali-1", amount: 10000, currency: "CNY", method: "alipay", environment: "native_qr", subject: "console" }),
  });
  const pb = await pay.json();
  assert.equal(pay.status, 201, JSON.stringify(pb));
  assert.equal(pb.channel, "ali_console");
  assert.ok(pb.payer && pb.payer.qr_code, "the stored private key signed the request: " + JSON.stringify(pb));
});

test("the driver config as JSON: a misspelt key is refused with the closest one suggested", async () => {
  const before = await channel("ali_console");
  await go("channels/ali_console");
  await page.check("#driver-config input.as-json");
  const ta = '#driver-config textarea[data-field="driver_config"]';
  await page.waitForSelector(ta);
  const cfg = JSON.parse(await page.inputValue(ta));
  assert.equal(cfg.app_private_key, "********", "the JSON holds the fields' values");
  cfg.signtype = "RSA2";
  await page.fill(ta, JSON.stringify(cfg));
  await page.click('#channel-form button[type="submit"]');
  await page.waitForSelector(ta + ".invalid");
  assert.match(await page.textContent(".field-error"), /driver_config.signtype: unknown key; did you mean sign_type\?/);
  assert.deepEqual(await channel("ali_console"), before, "nothing written");
  // back to the fields? Not with a key no field can hold: it stays JSON and says why
  await page.click("#driver-config input.as-json");
  assert.match(await page.textContent("#driver-config"), /does not declare.*signtype/);
  assert.equal(await page.isChecked("#driver-config input.as-json"), true);
  delete cfg.signtype;
  await page.fill(ta, JSON.stringify(cfg));
  await page.uncheck("#driver-config input.as-json");
  assert.equal(await page.inputValue('[data-field="driver_config.app_id"]'), cfg.app_id);
});

test("routing rules: add one, save, move it first", async () => {
  // one rule already there, so that the new one has something to pass
  const base = { name: "default: by fee", enabled: true, conditions: {},
    scoring: { weight: 0.5, fee: 1, success_rate: 1, mode: "success_first", within_points: 2, explore: 0.05 }, allow: [], deny: [] };
  assert.equal((await api("PUT", "/admin/v1/routing/rules", { rules: [base] })).status, 200);
  await go("rules");
  const n = (await api("GET", "/admin/v1/routing/rules")).body.rules.length;
  assert.equal(n, 1);
  await page.click('button:has-text("Add rule")');
  const card = page.locator(".rule").last();
  await card.locator('[data-k="name"]').fill("console: big alipay payments by weight");
  await card.locator('[data-k="c.methods"]').fill("alipay");
  // amounts in major units once the rule names its currency
  await card.locator('[data-k="c.currencies"]').fill("CNY");
  await card.locator('[data-k="c.currencies"]').dispatchEvent("change");
  assert.match(await card.locator(".unit").first().textContent(), /in CNY/);
  await card.locator('[data-k="c.amount_min"]').fill("1000.00");
  await card.locator('[data-k="s.fee"]').fill("0");
  await card.locator('[data-k="s.mode"]').selectOption("weight");
  await card.locator('[data-k="deny"]').fill("wx_native");
  note = "weight only for large alipay payments";
  await page.click('#rules-form button[type="submit"]');
  let rules = await eventually(async () => {
    const r = (await api("GET", "/admin/v1/routing/rules")).body.rules;
    return r.length === n + 1 && r;
  }, "the new rule");
  const added = rules[n];
  assert.equal(added.name, "console: big alipay payments by weight");
  assert.deepEqual(added.conditions.methods, ["alipay"]);
  assert.equal(added.conditions.amount_min, 100000);
  assert.deepEqual(added.conditions.currencies, ["CNY"]);
  assert.equal(added.scoring.fee, 0);
  assert.equal(added.scoring.mode, "weight");
  assert.equal(added.scoring.explore, undefined, "a default is left out");
  assert.deepEqual(added.deny, ["wx_native"]);
  await page.waitForSelector(`.rule[data-index="${n}"]`);
  await page.locator(`.rule[data-index="${n}"] button:has-text("↑")`).click();
  await page.click('#rules-form button[type="submit"]');
  rules = await eventually(async () => {
    const r = (await api("GET", "/admin/v1/routing/rules")).body.rules;
    return r[0].name === added.name && r;
  }, "the rule moved first");
  assert.deepEqual(rules.map((r) => r.name), [added.name, "default: by fee"]);
  assert.equal(rules[1].scoring.weight, 0.5, "the other rule kept what it had");
  assert.equal(rules[1].scoring.mode, "success_first");
  assert.equal(rules[1].scoring.within_points, 2);
  assert.equal(rules[1].scoring.explore, 0.05);
  const a = await lastAudit("routing_rules");
  assert.equal(a.actor, ACTOR);
  // a bad number is refused in the page and the rules stay as they are
  await go("rules");
  assert.equal(await page.locator('.rule').first().locator('[data-k="c.amount_min"]').inputValue(), "1000.00");
  await page.locator('.rule').first().locator('[data-k="s.weight"]').fill("");
  await page.click('#rules-form button[type="submit"]');
  await page.waitForSelector(".invalid");
  assert.deepEqual((await api("GET", "/admin/v1/routing/rules")).body.rules, rules);
});

test("whitelist: a buyer entry wins the route in explain, then is removed", async () => {
  await go("whitelist");
  await page.selectOption('#whitelist-form [data-field="kind"]', "buyer_id");
  await page.fill('#whitelist-form [data-field="value"]', "vip-console");
  await page.selectOption('#whitelist-form [data-field="channel"]', "ali_console");
  await page.fill('#whitelist-form [data-field="note"]', "VIP buyer on the new contract");
  await page.click('#whitelist-form button');
  const entry = await eventually(async () =>
    (await api("GET", "/admin/v1/whitelist")).body.whitelist.find((e) => e.value === "vip-console"), "the entry");
  assert.equal(entry.channel, "ali_console");
  assert.equal(entry.created_by, ACTOR);

  await go("explain");
  await page.fill('[data-field="amount"]', "20.00");
  await page.fill('[data-field="method"]', "alipay");
  await page.selectOption('[data-field="environment"]', "native_qr");
  await page.fill('[data-field="buyer_id"]', "vip-console");
  await page.click('#explain-form button');
  await page.waitForSelector("#explain-chosen");
  assert.equal(await page.textContent("#explain-chosen"), "ali_console");
  assert.match(await page.textContent("#explain-whitelist"), /buyer_id → ali_console \(VIP buyer on the new contract\)/);

  await go("whitelist");
  await page.click(`#whitelist tr:has-text("vip-console") button:has-text("remove")`);
  await eventually(async () =>
    !(await api("GET", "/admin/v1/whitelist")).body.whitelist.some((e) => e.value === "vip-console"), "the entry removed");
});

test("explain says why each channel was dropped", async () => {
  await go("explain");
  await page.fill('[data-field="amount"]', "100.00");
  await page.fill('[data-field="method"]', "wechat_pay");
  await page.selectOption('[data-field="environment"]', "native_qr");
  await page.fill('[data-field="buyer_id"]', "");
  await page.click('#explain-form button');
  await page.waitForSelector("#explain-candidates");
  assert.equal(await page.textContent("#explain-chosen"), "wx_native");
  assert.match(await page.textContent('#explain-candidates tr[data-channel="ali_console"]'), /method/);
  const api_ = (await api("POST", "/admin/v1/route/explain", { amount: 10000, currency: "CNY", method: "wechat_pay", environment: "native_qr" })).body;
  const rows = await page.locator("#explain-candidates tbody tr").count();
  assert.equal(rows, api_.candidates.length);
});

test("overdue refunds: one re-sent by its original route, one resolved with a note", async () => {
  await go("refunds");
  await page.waitForSelector(`tr[data-refund="${REFUND_RESEND}"]`);
  await page.waitForSelector(`tr[data-refund="${REFUND_RESOLVE}"]`);
  assert.match(await page.textContent(`tr[data-refund="${REFUND_RESEND}"]`), /original route unavailable/);
  // the table fits a 1,400 px window, a history opened and a resolve form shown too
  await page.click(`tr[data-refund="${REFUND_RESOLVE}"] details summary`);
  await page.click(`tr[data-refund="${REFUND_RESOLVE}"] button.resolve`);
  const fit = await page.evaluate(() => {
    const t = document.querySelector("#overdue"), s = t.closest("section");
    return { page: document.documentElement.scrollWidth, win: window.innerWidth,
      table: Math.ceil(t.getBoundingClientRect().right), section: Math.floor(s.getBoundingClientRect().right) };
  });
  assert.equal(fit.win, 1400);
  assert.ok(fit.page <= fit.win && fit.table <= fit.section, "the overdue table overflows: " + JSON.stringify(fit));
  await page.click(`tr[data-refund="${REFUND_RESOLVE}"] button.resolve`);

  note = "buyer's account reopened";
  await page.click(`tr[data-refund="${REFUND_RESEND}"] button.resend`);
  await eventually(async () => (await api("GET", "/admin/v1/refunds/" + REFUND_RESEND)).body.refund.status === "succeeded",
    "the re-sent refund to succeed");

  await go("refunds");
  const row = page.locator(`tr[data-refund="${REFUND_RESOLVE}"]`);
  await row.locator("button.resolve").click();
  await row.locator('[data-field="outcome"]').selectOption("refunded_by_transfer");
  await row.locator('.resolve-form button').click();
  await row.locator('[data-field="note"]:invalid').waitFor(); // the note is required
  await row.locator('[data-field="note"]').fill("paid by bank transfer, ticket 4711");
  await row.locator('.resolve-form button').click();
  const r = await eventually(async () => {
    const x = (await api("GET", "/admin/v1/refunds/" + REFUND_RESOLVE)).body.refund;
    return x.status !== "overdue" && x;
  }, "the resolved refund");
  assert.equal(r.resolution, "refunded_by_transfer");
  // the audit row is written after the refund moves, before the answer
  const a = await eventually(async () => { const x = await lastAudit("refund"); return x && x.object_id === REFUND_RESOLVE && x; },
    "the resolve's audit row");
  assert.equal(a.object_id, REFUND_RESOLVE);
  assert.equal(a.action, "resolve");
  assert.equal(a.actor, ACTOR);
  assert.equal(a.note, "paid by bank transfer, ticket 4711");
  await go("refunds");
  assert.equal(await page.locator(`tr[data-refund="${REFUND_RESOLVE}"]`).count(), 0);
});

test("result codes: an override added from the form, then removed", async () => {
  await go("codes");
  const f = "#override-form ";
  await page.selectOption(f + '[data-field="channel"]', "wx_native");
  await page.selectOption(f + '[data-field="op"]', "pay");
  await page.fill(f + '[data-field="code"]', "CONSOLE_TEST_CODE");
  await page.fill(f + '[data-field="unified"]', "CHANNEL_BUSY");
  await page.selectOption(f + '[data-field="effect"]', "failed");
  await page.check(f + '[data-field="retryable"]');
  await page.selectOption(f + '[data-field="category"]', "channel");
  await page.fill(f + '[data-field="message_en"]', "The channel is busy, please try again.");
  await page.fill(f + '[data-field="message_zh"]', "渠道繁忙，请稍后再试。");
  note = "mapping a code the channel started sending";
  await page.click(f + "button");
  const o = await eventually(async () =>
    (await api("GET", "/admin/v1/codes/overrides")).body.overrides.find((x) => x.code === "CONSOLE_TEST_CODE"), "the override");
  assert.equal(o.unified, "CHANNEL_BUSY");
  assert.equal(o.retryable, true);
  await page.waitForSelector('#overrides tr:has-text("CONSOLE_TEST_CODE")');
  await page.click('#overrides tr:has-text("CONSOLE_TEST_CODE") button');
  await eventually(async () =>
    !(await api("GET", "/admin/v1/codes/overrides")).body.overrides.some((x) => x.code === "CONSOLE_TEST_CODE"), "the override removed");
});

test("merchants: a new merchant's API key is shown once and works", async () => {
  await go("merchants");
  await page.fill('#merchant-form [data-field="id"]', "console-shop");
  await page.fill('#merchant-form [data-field="name"]', "Console Shop");
  await page.click("#merchant-form button");
  await page.waitForSelector("#merchant-secrets code");
  const key = await page.locator("#merchant-secrets code").first().textContent();
  assert.match(key, /^prk_/);
  const r = await fetch(MERCHANT_URL + "/v1/payments?merchant_order_no=nothing", { headers: { Authorization: "Bearer " + key } });
  assert.equal(r.status, 404, "the key authenticates (404: no such payment, not 401)");
  await go("merchants");
  assert.equal(await page.locator("#merchant-secrets code").count(), 0, "not shown again");
});

test("merchants: searched by part of the id or name, in pages whose Back is the browser's", async () => {
  for (const id of ["page-a", "page-b", "page-c"])
    assert.equal((await api("POST", "/admin/v1/merchants", { id, name: "Paged " + id.slice(-1).toUpperCase() })).status, 201);
  await go("merchants");
  await page.fill('#merchant-search [data-field="q"]', "PAGED");
  await page.click('#merchant-search button:text-is("Search")');
  await page.waitForFunction(() => location.hash === "#/merchants?q=PAGED" && document.querySelectorAll("#merchants tbody tr").length === 3);
  assert.equal(await page.locator("#merchant-list-next").count(), 0, "one page holds them");
  await go("merchants?q=page-&limit=2");
  const first = await page.locator("#merchants tbody tr td:first-child").allTextContents();
  assert.deepEqual(first, ["page-a", "page-b"]);
  await page.click("#merchant-list-next");
  await page.waitForFunction(() => /cursor=page-b/.test(location.hash) && document.querySelector("#merchants tbody tr td")?.textContent === "page-c");
  assert.deepEqual(await page.locator("#merchants tbody tr td:first-child").allTextContents(), ["page-c"]);
  assert.equal(await page.locator("#merchant-list-next").count(), 0, "the last page has no next");
  await page.click("#merchant-list-back");
  await page.waitForFunction(() => !/cursor=/.test(location.hash) && document.querySelectorAll("#merchants tbody tr").length === 2);
  await go("merchants?status=disabled&q=page-");
  assert.match(await page.locator("#merchant-list-count").textContent(), /no merchant matches/);
  await go("merchants?limit=0");
  assert.match(await page.locator("#merchant-list-error").textContent(), /limit: an integer from 1 to 1000/);
});

test("the audit log lists the console's changes, filtered by kind", async () => {
  await go("audit?object_kind=channel");
  await page.waitForSelector("#audit tbody tr");
  const kinds = await page.locator("#audit tbody tr td:nth-child(4)").allTextContents();
  assert.ok(kinds.length >= 4, "at least the changes made here: " + kinds.length);
  assert.ok(kinds.every((k) => k === "channel"), kinds.join(","));
  assert.match(await page.textContent("#audit"), /maintenance at the bank/);
  /* in pages of 2: the older page (what the API gives after the first
   * page's cursor), then Back to the newer */
  const p1 = (await api("GET", "/admin/v1/audit?object_kind=channel&limit=2")).body;
  assert.ok(p1.next_cursor, "more than 2 channel entries");
  await go("audit?object_kind=channel&limit=2");
  assert.equal(await page.locator("#audit tbody tr").count(), 2);
  await page.click("#audit-next");
  await page.waitForFunction((c) => location.hash.includes("cursor=" + c) && document.querySelector("#audit-back"), p1.next_cursor);
  const p2 = (await api("GET", `/admin/v1/audit?object_kind=channel&limit=2&cursor=${p1.next_cursor}`)).body;
  const rows = await page.locator("#audit > tbody > tr").evaluateAll((trs) => trs.map((tr) =>
    [3, 5, 6].map((i) => tr.children[i - 1].textContent).join("|")));
  assert.deepEqual(rows, p2.audit.map((e) => [e.action, e.object_id, e.note ?? ""].join("|")));
  await page.click("#audit-back");
  await page.waitForFunction(() => !/cursor=/.test(location.hash) && !document.querySelector("#audit-back"));
});

test("an order looked up shows its route and history", async () => {
  const r = (await api("GET", "/admin/v1/refunds/" + REFUND_RESEND)).body.refund;
  await go("orders/" + r.payment_id);
  await page.waitForSelector("#order-detail section");
  const text = await page.textContent("#order-detail");
  assert.match(text, /succeeded/);
  assert.match(text, /wx_native/);
  assert.match(text, /attempt/);
});

test("the order list: filters from the form, pages by the cursor, rows link to the detail", async () => {
  await go("orders");
  await page.waitForSelector("#order-search");
  await page.fill('#order-search [data-field="merchant"]', "shop1");
  await page.fill('#order-search [data-field="created_from"]', "");
  await page.evaluate(() => {
    // the day of the seeded payments, whatever the browser's time zone
    const set = (f, iso) => {
      const el = document.querySelector(`#order-search [data-field="${f}"]`);
      const d = new Date(iso);
      el.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    };
    set("created_from", "2026-11-01T00:00:00Z");
    set("created_to", "2026-11-02T00:00:00Z");
  });
  await page.fill('#order-search [data-field="limit"]', "10");
  await page.click('#order-search button:has-text("Search")');
  await page.waitForFunction(() => document.querySelectorAll("#order-list tbody tr").length === 10);
  const want = (await api("GET", "/admin/v1/payments?merchant=shop1&created_from=2026-11-01T00:00:00Z&created_to=2026-11-02T00:00:00Z&limit=200")).body.items.map((o) => o.id);
  assert.equal(want.length, 25);
  const seen = [];
  for (const n of [10, 10, 5]) {
    await page.waitForFunction(([k, prev]) => document.querySelectorAll("#order-list tbody tr").length === k &&
      document.querySelector("#order-list tbody tr td").textContent !== prev, [n, seen[seen.length - 10] || ""]);
    seen.push(...await page.locator("#order-list tbody tr td:first-child").allTextContents());
    if (n === 5) assert.equal(await page.locator("#order-list-next").count(), 0, "no next page after the last");
    else await page.click("#order-list-next");
  }
  assert.deepEqual(seen, want, "three pages, newest first, each payment once");
  // back to the first page, then a status filter
  await page.goBack(); await page.goBack();
  await page.waitForFunction(() => document.querySelectorAll("#order-list tbody tr").length === 10);
  await page.selectOption('#order-search [data-field="status"]', "failed");
  await page.click('#order-search button:has-text("Search")');
  await page.waitForFunction(() => document.querySelectorAll("#order-list tbody tr").length === 5);
  const statuses = await page.locator("#order-list tbody tr td:nth-child(4)").allTextContents();
  assert.deepEqual([...new Set(statuses)], ["failed"]);
  // a row's id opens the order's detail
  const first = await page.locator("#order-list tbody tr td:first-child a").first();
  const id = await first.textContent();
  await first.click();
  await page.waitForSelector("#order-detail section");
  assert.match(await page.textContent("#order-detail"), new RegExp(id));
});

test("the order list: a bad filter is refused, naming its field", async () => {
  await go("orders?kind=payments&amount_min=abc");
  await page.waitForSelector("#order-list-error");
  assert.match(await page.textContent("#order-list-error"), /amount_min/);
  assert.equal(await page.getAttribute('#order-search [data-field="amount_min"]', "class"), "invalid");
});

test("an unknown payment settled from its detail: failed, audited with the actor, note and evidence", async () => {
  await go("orders/" + UNKNOWN_PAYMENT);
  await page.waitForSelector("#settle-form");
  await page.selectOption('#settle-form [data-field="outcome"]', "failed");
  await page.fill('#settle-form [data-field="evidence"]', "STMT-2026-11-01-77");
  await page.fill('#settle-form [data-field="note"]', "not in the channel's statement");
  await page.click('#settle-form button:has-text("Settle")');
  await eventually(async () => {
    const p = (await api("GET", "/admin/v1/payments/" + UNKNOWN_PAYMENT)).body.payment;
    return p.status === "failed" && p.code === "SETTLED_FAILED";
  }, "the payment settled failed");
  const a = await eventually(async () => { const x = await lastAudit("payment"); return x && x.action === "settle" && x; },
    "the settlement's audit row");
  assert.equal(a.object_id, UNKNOWN_PAYMENT);
  assert.equal(a.actor, ACTOR);
  assert.equal(a.note, "not in the channel's statement");
  assert.equal(a.after.evidence, "STMT-2026-11-01-77");
  // the detail is drawn again: final, no settle form any more
  await page.waitForSelector("#settle-form", { state: "detached" });
  assert.match(await page.textContent("#order-detail"), /SETTLED_FAILED/);
});

test("reconciliation: a run's figures, its day's differences, one resolved with a note, a day run from the form", async () => {
  const { RECON_DAY, RECON_RUN_DAY } = process.env;
  await go("reconciliation");
  const run = page.locator(`#recon-runs tr[data-run="wx_native/${RECON_DAY}"]`);
  await run.waitFor();
  // channel, day, status, rows, matched, differences, bill fee, expected fee, drift
  const cells = (await run.locator("td").allTextContents()).map((x) => x.trim());
  assert.deepEqual(cells.slice(0, 9), ["wx_native", RECON_DAY, "done", "5", "3",
    "2amount mismatch 1missing at payroute 1", "7.20 CNY", "6.00 CNY", "+20.00% drift"]);
  assert.match(await run.getAttribute("class"), /\bdrift\b/);
  assert.equal(await run.locator(".drift-flag").count(), 1);
  // the fees learnt next to the fee model, as the API has them
  const fees = (await api("GET", "/admin/v1/reconciliation?channel=wx_native")).body.fees;
  const f = fees.find((x) => x.channel === "wx_native");
  assert.ok(f && f.drift, "the API flags wx_native's fees: " + JSON.stringify(fees));
  const fee = (await page.locator('#recon-fees tr[data-channel="wx_native"] td').allTextContents()).map((x) => x.trim());
  assert.equal(fee[4], (f.learnt_bps / 100).toFixed(2) + "%");
  assert.equal(fee[5], "0.60%");
  assert.equal(fee[6], (f.drift_pct > 0 ? "+" : "") + f.drift_pct.toFixed(2) + "% drift");

  // the day: its figures and its differences with both sides
  await run.locator(`a:text-is("${RECON_DAY}")`).click();
  await page.waitForSelector("#recon-diffs");
  const day = (await api("GET", `/admin/v1/reconciliation?channel=wx_native&day=${RECON_DAY}`)).body;
  const diff = day.differences.find((x) => x.kind === "amount_mismatch");
  assert.equal(day.differences.length, 2);
  assert.equal(await page.locator("#recon-diffs tr[data-diff]").count(), 2);
  assert.match(await page.textContent('#recon-day [data-k="totals"]'), /^2 open \(126\.55 CNY\)/);
  const row = page.locator(`#recon-diffs tr[data-diff="${diff.id}"]`);
  const text = await row.textContent();
  for (const s of ["amount mismatch", "PLIST000003", "3.00 CNY", "3.10 CNY", "trade no 4200001234", "open"]) assert.ok(text.includes(s), s + " in " + text);
  assert.match(await page.textContent("#recon-diffs"), /missing at payroute.*PRECON000002.*none.*123\.45 CNY/s);

  await row.locator("button.resolve").click();
  await row.locator(".resolve-form button").click();
  await row.locator('[data-field="note"]:invalid').waitFor(); // the note is required
  await row.locator('[data-field="note"]').fill("channel corrected the amount, ticket 88");
  await row.locator(".resolve-form button").click();
  await eventually(async () => {
    const d = (await api("GET", `/admin/v1/reconciliation?channel=wx_native&day=${RECON_DAY}`)).body;
    return d.differences.find((x) => x.id === diff.id).status === "resolved";
  }, "the difference resolved");
  const a = await eventually(async () => { const x = await lastAudit("recon_difference"); return x && x.object_id === String(diff.id) && x; },
    "the resolve's audit row");
  assert.equal(a.action, "resolve");
  assert.equal(a.actor, ACTOR);
  assert.equal(a.note, "channel corrected the amount, ticket 88");
  // the day is drawn again: resolved, by whom, no Resolve any more
  await row.locator('[data-k="status"]:text-is("resolved")').waitFor();
  assert.match(await row.textContent(), /by console-test .*channel corrected the amount, ticket 88/);
  assert.equal(await row.locator("button.resolve").count(), 0);
  assert.match(await page.textContent('#recon-day [data-k="totals"]'), /^1 open \(123\.45 CNY\), 1 resolved/);

  // another day asked for from the form: due now, audited
  note = "bill reissued by the channel";
  await go("reconciliation");
  await page.selectOption('#recon-run [data-field="channel"]', "wx_native");
  await page.fill('#recon-run [data-field="day"]', RECON_RUN_DAY);
  await page.click('#recon-run button:has-text("Run a day")');
  await page.locator(`#recon-runs tr[data-run="wx_native/${RECON_RUN_DAY}"]`).waitFor();
  const r = await api("GET", `/admin/v1/reconciliation?channel=wx_native&day=${RECON_RUN_DAY}`);
  assert.equal(r.status, 200);
  const ra = await eventually(async () => { const x = await lastAudit("reconciliation"); return x && x.object_id === `wx_native/${RECON_RUN_DAY}` && x; },
    "the run's audit row");
  assert.equal(ra.action, "run");
  assert.equal(ra.actor, ACTOR);
  assert.equal(ra.note, note);
});

test("approvals: approve another operator's settlement, reject one, never one's own", async () => {
  const { APPROVE_PAYMENT, REJECT_PAYMENT, OWN_PAYMENT } = process.env;
  const own = await api("POST", `/admin/v1/payments/${OWN_PAYMENT}/settle`, { outcome: "succeeded", note: "mine", evidence: "stmt-own" });
  assert.equal(own.status, 202, JSON.stringify(own.body));
  const pending = (await api("GET", "/admin/v1/approvals?state=pending")).body.items;
  const idOf = (p) => pending.find((a) => a.target === p).id;
  await go("approvals");
  const row = (p) => page.locator(`#approvals tr[data-approval="${idOf(p)}"]`);
  assert.equal(await row(OWN_PAYMENT).locator("button.approve").isDisabled(), true, "one's own request can be approved");
  assert.match(await row(OWN_PAYMENT).locator("button.approve").getAttribute("title"), /your own request/);
  assert.match(await row(APPROVE_PAYMENT).innerText(), /admin/);
  await row(APPROVE_PAYMENT).locator("button.approve").click();
  await eventually(async () => (await api("GET", "/admin/v1/approvals/" + idOf(APPROVE_PAYMENT))).body.approval.state === "applied", "the approval applied");
  const paid = (await api("GET", "/admin/v1/payments/" + APPROVE_PAYMENT)).body.payment;
  assert.equal(paid.status, "succeeded");
  await go("approvals");
  await row(REJECT_PAYMENT).locator("button.reject").click();
  await row(REJECT_PAYMENT).locator('[data-field="reason"]').fill("no such line in the statement");
  await row(REJECT_PAYMENT).locator("form.reject-form button").click();
  const rejected = await eventually(async () => {
    const a = (await api("GET", "/admin/v1/approvals/" + idOf(REJECT_PAYMENT))).body.approval;
    return a.state === "rejected" && a;
  }, "the approval rejected");
  assert.equal(rejected.decided_by, ACTOR);
  assert.equal(rejected.reason, "no such line in the statement");
  assert.equal((await api("GET", "/admin/v1/payments/" + REJECT_PAYMENT)).body.payment.status, "unknown");
  await go("approvals/applied");
  assert.match(await page.locator("#approvals").innerText(), new RegExp(APPROVE_PAYMENT));
});

test("signing out ends the session: its cookie is gone and a reload asks to sign in", async () => {
  await go("overview");
  const before = (await page.context().cookies()).find((c) => c.name === "payroute_session");
  assert.ok(before, "no session cookie");
  await page.click('#who button:has-text("Sign out")');
  await page.waitForSelector("#auth:not([hidden])");
  assert.equal((await page.context().cookies()).find((c) => c.name === "payroute_session"), undefined);
  await page.reload();
  await page.waitForSelector("#auth:not([hidden])");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("payroute_token")), null);
  // the old cookie, sent again, is refused: the session ended on the server
  const r = await fetch(ADMIN_URL + "/admin/v1/whoami", { headers: { Cookie: `payroute_session=${before.value}` } });
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error.code, "session_expired");
});

// A browser of its own signed in as NAME with the password: its page.
async function signInAs(name) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const p = await ctx.newPage();
  p.setDefaultTimeout(10000);
  p.on("pageerror", (e) => pageErrors.push(name + ": " + e.message));
  p.on("console", (m) => { if (m.type() === "error" && !/status of (400|401|403|404|409)/.test(m.text())) pageErrors.push(name + ": " + m.text()); });
  p.on("dialog", (d) => d.accept(d.type() === "prompt" ? "by " + name : undefined));
  await p.goto(ADMIN_URL + "/");
  await p.fill("#name", name);
  await p.fill("#password", PASSWORD);
  await p.click("#login button");
  await p.waitForSelector("#who-name");
  assert.equal(await p.textContent("#who-name"), name);
  return p;
}
async function open(p, hash) {
  await p.goto(`${ADMIN_URL}/?load=${++loads}#/${hash}`);
  await p.waitForSelector("#view[data-seq] section");
}
const visible = (p, sel) => p.locator(sel).filter({ visible: true }).count();

test("the cookie: HttpOnly, SameSite=Strict, Path=/, not readable by the page", async () => {
  const p = await signInAs("console-test");
  const c = (await p.context().cookies()).find((x) => x.name === "payroute_session");
  assert.ok(c, "no session cookie");
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, "Strict");
  assert.equal(c.path, "/");
  assert.equal(await p.evaluate(() => document.cookie.includes("payroute_session")), false);
  assert.match(await p.textContent("#who-roles"), /admin/);
  // an admin sees every control
  await open(p, "overview");
  assert.equal(await visible(p, "#reload"), 1);
  await open(p, "channels");
  assert.ok(await visible(p, ".status-switch") > 0);
  assert.equal(await visible(p, 'button:has-text("New channel")'), 1);
  await open(p, "merchants");
  assert.equal(await visible(p, "#merchant-form"), 1);
  await p.context().close();
});

test("a wrong password is refused with the sign-in form kept", async () => {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  await p.goto(ADMIN_URL + "/");
  await p.fill("#name", "cv-viewer");
  await p.fill("#password", "not the password at all");
  await p.click("#login button");
  await p.locator("#msg div").filter({ hasText: "wrong name or password" }).waitFor();
  assert.equal(await p.isVisible("#auth"), true);
  assert.equal(await p.inputValue("#password"), "");
  await ctx.close();
});

test("a viewer sees everything and no control that changes anything; the API refuses it anyway", async () => {
  const p = await signInAs("cv-viewer");
  assert.equal(await p.textContent("#who-roles"), "viewer");
  assert.equal(await visible(p, "#read-only"), 1);
  await open(p, "overview");
  await p.waitForSelector("#generation");
  assert.equal(await visible(p, "#reload"), 0);
  await open(p, "channels");
  await p.waitForSelector('tr[data-channel="wx_native"]');
  assert.equal(await visible(p, ".status-switch"), 0);
  assert.equal(await visible(p, 'button:has-text("New channel")'), 0);
  assert.equal(await visible(p, 'tr[data-channel="wx_native"] button:has-text("set")'), 0);
  await open(p, "channels/wx_native");
  await p.waitForSelector("#breaker [data-state]");
  assert.equal(await visible(p, "#breaker .breaker-close, #breaker .breaker-open"), 0);
  await open(p, "merchants");
  assert.equal(await visible(p, "#merchant-form"), 0);
  await open(p, "whitelist");
  assert.equal(await visible(p, "#whitelist-form"), 0);
  await open(p, "codes");
  assert.equal(await visible(p, "#override-form"), 0);
  await open(p, "reconciliation");
  assert.equal(await visible(p, "#recon-run"), 0);
  // what the page would send is refused by the API, said so, audited
  const msg = await p.evaluate(() => api("POST", "/admin/v1/channels/wx_native/status", { status: "offline" }).then(() => "done", (e) => e.status + " " + e.message));
  assert.match(msg, /^403 not allowed for your role/);
  assert.equal((await channel("wx_native")).status, "online");
  // a change without the CSRF token is refused as such
  const csrf = await p.evaluate(() => fetch("/admin/v1/reload", { method: "POST" }).then((r) => r.json()));
  assert.equal(csrf.error.code, "csrf_failed");
  await p.context().close();
});

test("an operator sets a channel's weight and status from the list, but sees no policy, merchant or reload control", async () => {
  const p = await signInAs("cv-operator");
  assert.equal(await p.textContent("#who-roles"), "operator");
  assert.equal(await visible(p, "#read-only"), 0);
  await open(p, "overview");
  assert.equal(await visible(p, "#reload"), 0);
  await open(p, "channels");
  await p.waitForSelector('tr[data-channel="wx_native"]');
  assert.equal(await visible(p, 'button:has-text("New channel")'), 0);
  // its weight, from the list (PUT /channels/{code}/weight: channel.operate)
  const w = (await channel("wx_native")).weight;
  await p.fill('tr[data-channel="wx_native"] input.weight', String(w + 1));
  await p.click('tr[data-channel="wx_native"] button:has-text("set")');
  await eventually(async () => (await channel("wx_native")).weight === w + 1, "the weight set by cv-operator");
  await open(p, "channels");
  await p.click('tr[data-channel="wx_native"] .status-switch');
  await eventually(async () => (await channel("wx_native")).status === "offline", "wx_native offline by cv-operator");
  const a = await lastAudit("channel");
  assert.equal(a.actor, "cv-operator");
  assert.equal(a.note, "by cv-operator");
  await p.waitForSelector('tr[data-channel="wx_native"] .tag.off');
  await p.click('tr[data-channel="wx_native"] .status-switch');
  await eventually(async () => (await channel("wx_native")).status === "online", "wx_native online again");
  await open(p, "merchants");
  assert.equal(await visible(p, "#merchant-form"), 0);
  await open(p, "reconciliation");
  assert.equal(await visible(p, "#recon-run"), 1);
  await p.context().close();
});

test("a session that ends on the server (the operator disabled) sends the page back to sign-in, saying why", async () => {
  const p = await signInAs("cv-viewer");
  await open(p, "channels");
  const r = await api("PATCH", "/admin/v1/operators/cv-viewer", { state: "disabled" });
  assert.equal(r.status, 200);
  await p.click('nav a[href="#/overview"]');
  await p.waitForSelector("#auth:not([hidden])");
  await p.locator("#msg div").filter({ hasText: "Signed out: the session has ended" }).waitFor();
  assert.equal(await visible(p, "#nav"), 0);
  assert.equal((await api("PATCH", "/admin/v1/operators/cv-viewer", { state: "active" })).status, 200);
  await p.context().close();
});

test("no errors in the page", () => {
  assert.deepEqual(pageErrors, []);
});
