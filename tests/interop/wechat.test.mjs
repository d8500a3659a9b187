// wechat.test.mjs - the wechat driver against WeChat Pay's APIv3 Node SDK
// (wechatpay-axios-plugin, pinned in package-lock.json).
//
//  1. The SDK verifies the requests our driver builds: it rebuilds the
//     signed message (Formatter.request over method, path+query as sent,
//     timestamp, nonce, body) from our Authorization header and checks the
//     signature with the merchant certificate's key (Rsa.verify); its
//     signer (Rsa.sign, what its axios interceptor uses) gives the same
//     signature.
//  2. Our driver verifies what the SDK produces: notifications encrypted
//     with Aes.AesGcm (AEAD_AES_256_GCM, the APIv3 key) and signed with
//     Rsa.sign(Formatter.response(...)) by the platform key, and signed
//     responses; stale, tampered or wrongly keyed ones are refused.
//  3. When a simulator runs (PAYSIM_URL), the SDK as a client (its own
//     response verifier) accepts the simulator's signed answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aes, Formatter, Rsa, Wechatpay } from 'wechatpay-axios-plugin';
import {
  PAYSIM_URL, WECHAT_APPID, WECHAT_MCHID, certSerial, driverPath, drvtool,
  header, key, mustOk, mustRefuse, order, tamperB64, unmask, wechatApiv3Key, wechatConfig,
} from './lib.mjs';

const DRIVER = driverPath('wechat');
const CONFIG = wechatConfig();
const MERCHANT_SERIAL = certSerial('wechat_merchant_cert.pem');
const PLATFORM_SERIAL = certSerial('wechat_platform_cert.pem');
const MERCHANT_PRIVATE = Rsa.from(key('wechat_merchant_private.pem'), Rsa.KEY_TYPE_PRIVATE);
const MERCHANT_PUBLIC = Rsa.from(key('wechat_merchant_cert.pem'), Rsa.KEY_TYPE_PUBLIC);
const PLATFORM_PRIVATE = Rsa.from(key('wechat_platform_private.pem'), Rsa.KEY_TYPE_PRIVATE);
const APIV3_KEY = wechatApiv3Key();

function run(op, ord, extra = {}) {
  return drvtool({ driver: DRIVER, config: CONFIG, op, order: ord, ...extra });
}

// Reads WECHATPAY2-SHA256-RSA2048 k="v",k="v",... (any order).
function parseAuthorization(value) {
  const m = /^WECHATPAY2-SHA256-RSA2048 (.*)$/.exec(value || '');
  assert.ok(m, `Authorization scheme: ${value}`);
  const out = {};
  for (const part of m[1].split(',')) {
    const kv = /^\s*([a-z_]+)="([^"]*)"\s*$/.exec(part);
    assert.ok(kv, `Authorization field: ${part}`);
    out[kv[1]] = kv[2];
  }
  for (const f of ['mchid', 'serial_no', 'timestamp', 'nonce_str', 'signature']) {
    assert.ok(out[f], `Authorization has ${f}`);
  }
  return out;
}

// The SDK's verdict on our request, and on tampered copies.
function sdkVerifiesRequest(req) {
  const auth = parseAuthorization(header(req.headers, 'Authorization'));
  assert.equal(auth.mchid, WECHAT_MCHID);
  assert.equal(auth.serial_no, MERCHANT_SERIAL);
  assert.ok(Math.abs(Number(auth.timestamp) - Formatter.timestamp()) < 300, 'a fresh timestamp');
  assert.match(auth.nonce_str, /^[0-9A-Za-z]{16,32}$/);
  const url = new URL(req.url);
  const message = Formatter.request(req.method, `${url.pathname}${url.search}`,
    auth.timestamp, auth.nonce_str, req.body || '');
  assert.equal(Rsa.verify(message, auth.signature, MERCHANT_PUBLIC), true,
    'the SDK verifies our Authorization signature');
  assert.equal(Rsa.sign(message, MERCHANT_PRIVATE), auth.signature,
    'the SDK signer gives the same signature');
  // What the SDK's interceptor would have sent, field for field.
  const sdkHeader = Formatter.authorization(WECHAT_MCHID, auth.nonce_str, auth.signature,
    auth.timestamp, MERCHANT_SERIAL);
  assert.deepEqual(parseAuthorization(sdkHeader), auth);
  // Tampers.
  const other = Formatter.request(req.method, `${url.pathname}${url.search}`,
    auth.timestamp, auth.nonce_str, `${req.body || ''} `);
  assert.equal(Rsa.verify(other, auth.signature, MERCHANT_PUBLIC), false, 'tampered body refused');
  assert.equal(Rsa.verify(message, tamperB64(auth.signature), MERCHANT_PUBLIC), false,
    'tampered signature refused');
  assert.equal(header(req.headers, 'Accept'), 'application/json');
  assert.ok(header(req.headers, 'User-Agent'), 'a User-Agent (WeChat Pay requires one)');
  if (req.method === 'POST') {
    assert.match(header(req.headers, 'Content-Type'), /^application\/json/);
  }
  return auth;
}

const payCases = [
  { environment: 'native_qr', path: '/v3/pay/transactions/native' },
  { environment: 'jsapi', path: '/v3/pay/transactions/jsapi', buyer: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  { environment: 'mini_program', path: '/v3/pay/transactions/jsapi', buyer: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  { environment: 'h5', path: '/v3/pay/transactions/h5' },
  { environment: 'app', path: '/v3/pay/transactions/app' },
];

for (const c of payCases) {
  test(`SDK verifies our pay request (${c.environment} -> ${c.path})`, () => {
    const ord = order({ method: 'wechat_pay', environment: c.environment, amount: 1234,
      subject: '测试 order "quoted"', buyer_id: c.buyer, client_ip: '203.0.113.7' });
    const out = mustOk(run('pay', ord), 'build pay');
    const req = out.request;
    assert.equal(req.method, 'POST');
    assert.equal(new URL(req.url).pathname, c.path);
    sdkVerifiesRequest(req);
    const body = JSON.parse(req.body);
    assert.equal(body.appid, WECHAT_APPID);
    assert.equal(body.mchid, WECHAT_MCHID);
    assert.equal(body.out_trade_no, ord.order_id);
    assert.equal(body.description, ord.subject);
    assert.equal(body.notify_url, ord.notify_url);
    assert.equal(body.amount.total, 1234);
    if (body.amount.currency !== undefined) assert.equal(body.amount.currency, 'CNY');
    if (c.buyer) assert.equal(body.payer.openid, c.buyer);
    if (c.environment === 'h5') {
      assert.equal(body.scene_info.payer_client_ip, '203.0.113.7');
      assert.ok(body.scene_info.h5_info.type);
    }
  });
}

const otherCases = [
  { op: 'query', method: 'GET', fields: {},
    path: (o) => `/v3/pay/transactions/out-trade-no/${o.order_id}`,
    query: { mchid: WECHAT_MCHID } },
  { op: 'close', method: 'POST', fields: {},
    path: (o) => `/v3/pay/transactions/out-trade-no/${o.order_id}/close`,
    body: (b) => assert.equal(b.mchid, WECHAT_MCHID) },
  { op: 'refund', method: 'POST',
    fields: { refund_id: 'RF0001', refund_amount: 500, total_amount: 1234, reason: '退款' },
    path: () => '/v3/refund/domestic/refunds',
    body: (b, o) => {
      assert.equal(b.out_trade_no, o.order_id);
      assert.equal(b.out_refund_no, 'RF0001');
      assert.equal(b.amount.refund, 500);
      assert.equal(b.amount.total, 1234);
      assert.equal(b.amount.currency, 'CNY');
    } },
  { op: 'refund_query', method: 'GET',
    fields: { refund_id: 'RF0001' },
    path: () => '/v3/refund/domestic/refunds/RF0001' },
  { op: 'payout', method: 'POST',
    fields: { payout_id: 'PO0001', amount: 10000, payee_kind: 'wechat_openid',
      payee_account: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', payee_name: '张三' },
    path: () => null,
    body: (b, ord, req) => {
      assert.ok(JSON.stringify(b).includes('PO0001'), 'the payout id is in the body');
      // The payee's name is a sensitive field: RSA-OAEP (SHA-1) with the
      // platform key, which the SDK's own Rsa.decrypt opens.
      const enc = b.transfer_detail_list[0].user_name;
      assert.ok(enc && !enc.includes('张三'), 'user_name is encrypted');
      assert.equal(Rsa.decrypt(enc, PLATFORM_PRIVATE), '张三');
      assert.equal(header(req.headers, 'Wechatpay-Serial'), PLATFORM_SERIAL);
    } },
  { op: 'payout', name: 'payout of 2000 yuan', method: 'POST',
    fields: { payout_id: 'PO0002', amount: 200000, payee_kind: 'wechat_openid',
      payee_account: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', payee_name: 'Zhang San' },
    path: () => null,
    body: (b, ord, req) => {
      assert.equal(b.transfer_detail_list[0].transfer_amount, 200000);
      assert.equal(Rsa.decrypt(b.transfer_detail_list[0].user_name, PLATFORM_PRIVATE), 'Zhang San');
      assert.equal(header(req.headers, 'Wechatpay-Serial'), PLATFORM_SERIAL);
    } },
  { op: 'payout_query', method: 'GET', fields: { payout_id: 'PO0001' },
    path: () => null,
    check: (url) => assert.ok(url.includes('PO0001'), 'the payout id is in the URL') },
];

for (const c of otherCases) {
  test(`SDK verifies our ${c.name || c.op} request`, () => {
    const ord = order({ method: 'wechat_pay', environment: 'native_qr',
      channel_trade_no: '4200000000202401010000000001', ...c.fields });
    const out = mustOk(run(c.op, ord), `build ${c.op}`);
    // drvtool masks the payee account: put it back to check the signature.
    const req = ord.payee_account ? unmask(out.request, ord.payee_account) : out.request;
    assert.equal(req.method, c.method);
    const url = new URL(req.url);
    const want = c.path(ord);
    if (want) assert.equal(url.pathname, want);
    for (const [k, v] of Object.entries(c.query || {})) assert.equal(url.searchParams.get(k), v);
    if (c.check) c.check(req.url);
    sdkVerifiesRequest(req);
    if (c.body) c.body(JSON.parse(req.body), ord, req);
    if (c.method === 'GET') assert.equal(req.body, '');
  });
}

// --- our driver verifies what the SDK produces ------------------------------

// Signs a body as WeChat Pay does for answers and notifications.
function wechatSigned(body, { ts = Formatter.timestamp(), privateKey = PLATFORM_PRIVATE,
  serial = PLATFORM_SERIAL } = {}) {
  const nonce = Formatter.nonce(32);
  const signature = Rsa.sign(Formatter.response(ts, nonce, body), privateKey);
  return [
    ['Content-Type', 'application/json'],
    ['Wechatpay-Timestamp', String(ts)],
    ['Wechatpay-Nonce', nonce],
    ['Wechatpay-Signature', signature],
    ['Wechatpay-Serial', serial],
    ['Request-ID', '08F78BB5AF0610D302A8A47A0918A4AF06'],
  ];
}

function notificationBody(eventType, originalType, resourcePlain, apiKey = APIV3_KEY) {
  const nonce = Formatter.nonce(12);
  const aad = originalType;
  const ciphertext = Aes.AesGcm.encrypt(JSON.stringify(resourcePlain), apiKey, nonce, aad);
  // The SDK decrypts its own ciphertext (sanity: AEAD round trip).
  assert.equal(Aes.AesGcm.decrypt(ciphertext, apiKey, nonce, aad), JSON.stringify(resourcePlain));
  return JSON.stringify({
    id: 'EV-2018022511223320873',
    create_time: '2024-01-01T10:00:06+08:00',
    resource_type: 'encrypt-resource',
    event_type: eventType,
    summary: '支付成功',
    resource: {
      original_type: originalType,
      algorithm: 'AEAD_AES_256_GCM',
      ciphertext,
      associated_data: aad,
      nonce,
    },
  });
}

function transaction(ord, state = 'SUCCESS') {
  return {
    mchid: WECHAT_MCHID, appid: WECHAT_APPID, out_trade_no: ord.order_id,
    transaction_id: '4200000000202401010000000001', trade_type: 'NATIVE',
    trade_state: state, trade_state_desc: '支付成功', bank_type: 'OTHERS',
    attach: '', success_time: '2024-01-01T10:00:05+08:00',
    payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
    amount: { total: 1234, payer_total: 1234, currency: 'CNY', payer_currency: 'CNY' },
  };
}

function inbound(body, headers) {
  return { method: 'POST', path: '/notify/wechat', query: null, headers, body };
}

test('our driver verifies and decrypts a payment notification made with the SDK', () => {
  const ord = order({ method: 'wechat_pay', environment: 'native_qr' });
  const body = notificationBody('TRANSACTION.SUCCESS', 'transaction', transaction(ord));
  const out = run('notify', null, { inbound: inbound(body, wechatSigned(body)) });
  mustOk(out, 'notify');
  assert.equal(out.notify.kind, 'payment');
  assert.equal(out.notify.order_id, ord.order_id);
  assert.equal(out.notify.channel_trade_no, '4200000000202401010000000001');
  assert.equal(out.notify.code, 'SUCCESS');
  assert.equal(out.notify.amount, 1234);
  assert.equal(out.notify.reply_ok_status, 200);
  assert.equal(out.notify.reply_fail_status >= 400, true, 'a failure status WeChat Pay retries');
});

test('our driver verifies and decrypts a refund notification made with the SDK', () => {
  const ord = order({ method: 'wechat_pay', environment: 'native_qr' });
  const refund = {
    mchid: WECHAT_MCHID, out_trade_no: ord.order_id,
    transaction_id: '4200000000202401010000000001', out_refund_no: 'RF0001',
    refund_id: '50000000382019052709732678859', refund_status: 'SUCCESS',
    success_time: '2024-01-01T11:00:00+08:00', user_received_account: '支付用户零钱',
    amount: { total: 1234, refund: 500, payer_total: 1234, payer_refund: 500 },
  };
  const body = notificationBody('REFUND.SUCCESS', 'refund', refund);
  const out = run('notify', null, { inbound: inbound(body, wechatSigned(body)) });
  mustOk(out, 'refund notify');
  assert.equal(out.notify.kind, 'refund');
  assert.equal(out.notify.refund_id, 'RF0001');
  assert.equal(out.notify.code, 'SUCCESS');
  assert.equal(out.notify.amount, 500);
});

test('our driver refuses tampered, stale, foreign or undecryptable notifications', () => {
  const ord = order({ method: 'wechat_pay', environment: 'native_qr' });
  const body = notificationBody('TRANSACTION.SUCCESS', 'transaction', transaction(ord));
  const good = wechatSigned(body);
  const cases = {
    'body changed after signing': inbound(body.replace('支付成功', '支付失败'), good),
    'signature tampered': inbound(body, good.map(([k, v]) => [k,
      k === 'Wechatpay-Signature' ? tamperB64(v) : v])),
    'stale timestamp (10 min old, correctly signed)': inbound(body,
      wechatSigned(body, { ts: Formatter.timestamp() - 600 })),
    'signed by the merchant key, not the platform': inbound(body,
      wechatSigned(body, { privateKey: MERCHANT_PRIVATE })),
    'unknown platform serial': inbound(body, wechatSigned(body, { serial: '0123456789ABCDEF' })),
  };
  const wrongKeyBody = notificationBody('TRANSACTION.SUCCESS', 'transaction', transaction(ord),
    'abcdefghijklmnopqrstuvwxyz012345');
  cases['encrypted with another APIv3 key (signature valid)'] = inbound(wrongKeyBody,
    wechatSigned(wrongKeyBody));
  for (const [name, inb] of Object.entries(cases)) {
    const out = run('notify', null, { inbound: inb });
    mustRefuse(out, `refused: ${name}`);
    assert.equal(out.exit, 1, name);
  }
});

test('our driver verifies a native pay response signed with the SDK', () => {
  const ord = order({ method: 'wechat_pay', environment: 'native_qr' });
  const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}';
  const out = run('pay', ord, { response: { status: 200, headers: wechatSigned(body), body } });
  mustOk(out, 'parse native pay');
  assert.equal(out.parse.payer.qr_code, 'weixin://wxpay/bizpayurl?pr=p4lpSuKzz');

  const tampered = body.replace('p4lp', 'p5lp');
  const out2 = run('pay', ord, { response: { status: 200, headers: wechatSigned(body), body: tampered } });
  mustRefuse(out2, 'a tampered answer is refused');
  const out3 = run('pay', ord, { response: { status: 200, headers: [['Content-Type', 'application/json']], body } });
  mustRefuse(out3, 'an unsigned answer is refused');
});

test('our driver verifies a query response signed with the SDK', () => {
  const ord = order({ method: 'wechat_pay', environment: 'native_qr' });
  const body = JSON.stringify(transaction(ord, 'SUCCESS'));
  const out = run('query', ord, { response: { status: 200, headers: wechatSigned(body), body } });
  mustOk(out, 'parse query');
  assert.equal(out.parse.status, 'SUCCESS');
  assert.equal(out.parse.channel_trade_no, '4200000000202401010000000001');
  assert.equal(out.parse.amount, 1234);
});

test('our driver reads a signed error answer (400 ORDERPAID)', () => {
  const ord = order({ method: 'wechat_pay', environment: 'native_qr' });
  const body = '{"code":"ORDERPAID","message":"该订单已支付"}';
  const out = run('pay', ord, { response: { status: 400, headers: wechatSigned(body), body } });
  mustOk(out, 'parse error answer');
  assert.equal(out.parse.code, 'ORDERPAID');
});

// --- the SDK as a client of the simulator -----------------------------------

test('wechatpay-axios-plugin pointed at the simulator verifies its answers', { skip: !PAYSIM_URL && 'PAYSIM_URL not set: no simulator running' }, async () => {
  const base = `${PAYSIM_URL}/wechat/`;
  const wxpay = new Wechatpay({
    mchid: WECHAT_MCHID, serial: MERCHANT_SERIAL, privateKey: key('wechat_merchant_private.pem'),
    certs: { [PLATFORM_SERIAL]: key('wechat_platform_cert.pem') }, baseURL: base, timeout: 10000,
  });
  const outTradeNo = `SDK${Date.now()}`;
  const res = await wxpay.v3.pay.transactions.native.post({
    appid: WECHAT_APPID, mchid: WECHAT_MCHID, description: 'sdk interop',
    out_trade_no: outTradeNo, notify_url: 'http://127.0.0.1:9/notify/wechat',
    amount: { total: 1, currency: 'CNY' },
  });
  assert.equal(res.status, 200);
  assert.match(res.data.code_url, /^weixin:\/\//);
  const q = await wxpay.v3.pay.transactions.outTradeNo.$out_trade_no$.get({
    params: { mchid: WECHAT_MCHID }, out_trade_no: outTradeNo,
  });
  assert.equal(q.status, 200);
  assert.equal(q.data.out_trade_no, outTradeNo);
  assert.equal(q.data.trade_state, 'NOTPAY');

  // The same answers with a wrong platform key under the right serial.
  const wrong = new Wechatpay({
    mchid: WECHAT_MCHID, serial: MERCHANT_SERIAL, privateKey: key('wechat_merchant_private.pem'),
    certs: { [PLATFORM_SERIAL]: key('wechat_merchant_public.pem') }, baseURL: base, timeout: 10000,
  });
  await assert.rejects(wrong.v3.pay.transactions.outTradeNo.$out_trade_no$.get({
    params: { mchid: WECHAT_MCHID }, out_trade_no: outTradeNo,
  }));
});

test('our driver talks to the simulator (native pay then query)', { skip: !PAYSIM_URL && 'PAYSIM_URL not set: no simulator running' }, () => {
  const config = wechatConfig(`${PAYSIM_URL}/wechat`);
  const ord = order({ method: 'wechat_pay', environment: 'native_qr' });
  const out = drvtool({ driver: DRIVER, config, op: 'pay', order: ord, send: true });
  mustOk(out, 'pay via simulator');
  assert.match(out.parse.payer.qr_code, /^weixin:\/\//);
  const q = drvtool({ driver: DRIVER, config, op: 'query', order: ord, send: true });
  mustOk(q, 'query via simulator');
  assert.equal(q.parse.status, 'NOTPAY');
});
