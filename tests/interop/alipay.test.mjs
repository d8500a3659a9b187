// alipay.test.mjs - the alipay driver against Alipay's official Node SDK
// (alipay-sdk, pinned in package-lock.json).
//
//  1. The SDK verifies the requests our driver builds: the SDK's own
//     signature check (checkNotifySignV2 is its sorted-parameter RSA2
//     verification) with our app public key, the SDK's own signer (util
//     sign(), the code exec() signs with) recomputes a signature equal to
//     ours over the same parameters (PKCS#1 v1.5 is deterministic), and the
//     common parameters have the format the SDK sends.
//  2. Our driver verifies what the SDK's signing produces: notifications
//     and response nodes signed with the SDK's signer and Alipay's (here:
//     the test platform) private key, which the SDK itself accepts too.
//  3. When a simulator runs (PAYSIM_URL), the SDK as a client accepts its
//     signed answers.
//  4. Public-key certificate mode (certificates from
//     tests/keys/make_alipay_certs.sh): the SDK configured with the same
//     certificate files computes the same app_cert_sn, alipay_cert_sn and
//     alipay_root_cert_sn as our driver (and as openssl and md5sum in the
//     script) and signs our request to the same signature; our driver
//     verifies an answer the SDK's signer made carrying alipay_cert_sn and
//     refuses one naming another certificate; transfers (which Alipay
//     serves in this mode only) are refused in public-key mode. With the
//     simulator: the SDK in certificate mode calls paysim, which checks
//     its SNs, and verifies paysim's answers against alipay_cert's key;
//     the SDK with another root is refused; our driver pays out through
//     paysim in certificate mode.
// Every signature check has a tampered twin that must be refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AlipaySdk } from 'alipay-sdk';
import {
  ALIPAY_APP_ID, ALIPAY_CERT_APP_ID, ALIPAY_CERT_DIR, ENOTSUP, PAYSIM_URL,
  alipayCertConfig, alipayCertSns, alipayConfig, driverPath, drvtool,
  formEncode, key, mustOk, mustRefuse, order, requestParams, tamperB64,
  unmask,
} from './lib.mjs';

// The SDK's signing helpers (sign, signatureV3) live in its util module,
// which its package "exports" do not list: load the file itself.
const require = createRequire(import.meta.url);
const sdkDir = dirname(require.resolve('alipay-sdk/package.json'));
const sdkUtil = await import(pathToFileURL(join(sdkDir, 'dist', 'esm', 'util.js')).href);

const DRIVER = driverPath('alipay');
const CONFIG = alipayConfig();
const APP_PRIVATE = key('alipay_app_private.pem');
const APP_PUBLIC = key('alipay_app_public.pem');
const PLATFORM_PRIVATE = key('alipay_platform_private.pem');
const PLATFORM_PUBLIC = key('alipay_platform_public.pem');

// The SDK as Alipay's gateway would check us: it verifies with the app's
// public key.
const sdkAsGateway = new AlipaySdk({
  appId: ALIPAY_APP_ID, privateKey: APP_PRIVATE, keyType: 'PKCS8',
  alipayPublicKey: APP_PUBLIC,
});
// The SDK as a merchant: it verifies with Alipay's public key.
const sdkAsMerchant = new AlipaySdk({
  appId: ALIPAY_APP_ID, privateKey: APP_PRIVATE, keyType: 'PKCS8',
  alipayPublicKey: PLATFORM_PUBLIC,
});

function run(op, ord, extra = {}) {
  return drvtool({ driver: DRIVER, config: CONFIG, op, order: ord, ...extra });
}

// Certificate mode: our config, and the official SDK given the same files.
const CERT_CONFIG = alipayCertConfig();
const certFile = (name) => join(ALIPAY_CERT_DIR, name);
const sdkCert = (extra = {}) => new AlipaySdk({
  appId: ALIPAY_CERT_APP_ID, privateKey: APP_PRIVATE, keyType: 'PKCS8',
  appCertPath: certFile('alipay_app_cert.pem'),
  alipayPublicCertPath: certFile('alipay_cert.pem'),
  alipayRootCertPath: certFile('alipay_root_cert.pem'),
  ...extra,
});
function runCert(op, ord, extra = {}) {
  return drvtool({ driver: DRIVER, config: CERT_CONFIG, op, order: ord, ...extra });
}

// The SDK's signer over our parameters: sign() adds the common parameters
// from its config, copies ours over them (so ours win: timestamp,
// notify_url...) and JSON-encodes bizContent. Our biz_content is already
// JSON text: it goes in under a key that sign() does not special-case and
// that its snake-casing turns back into biz_content.
function sdkSign(params) {
  const p = { ...params };
  const method = p.method;
  delete p.sign;
  delete p.method;
  if (p.biz_content !== undefined) {
    p.BizContent = p.biz_content;
    delete p.biz_content;
  }
  const config = {
    appId: p.app_id, privateKey: sdkAsGateway.config.privateKey,
    signType: p.sign_type, charset: p.charset, version: p.version,
  };
  return sdkUtil.sign(method, p, config, { bizContentAutoSnakeCase: false });
}

function checkCommon(params, method, appId = ALIPAY_APP_ID) {
  assert.equal(params.app_id, appId);
  assert.equal(params.method, method);
  assert.equal(params.charset, 'utf-8');
  assert.equal(params.sign_type, 'RSA2');
  assert.equal(params.version, '1.0');
  if (params.format !== undefined) assert.equal(params.format, 'JSON');
  assert.match(params.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.ok(params.sign && params.sign.length > 300, 'an RSA2048 signature');
  return JSON.parse(params.biz_content);
}

// Both of the SDK's verdicts on a signed parameter set, and on a tampered
// copy of it.
function sdkVerifies(params) {
  assert.equal(sdkAsGateway.checkNotifySignV2({ ...params }), true,
    'alipay-sdk verifies our signature with the app public key');
  const again = sdkSign(params);
  assert.equal(again.sign, params.sign,
    'alipay-sdk signs the same parameters to the same signature');
  const tampered = { ...params, biz_content: params.biz_content.replace(/"$|}$/, ' }') };
  assert.equal(sdkAsGateway.checkNotifySignV2(tampered), false,
    'a tampered biz_content is refused by the SDK');
  assert.equal(sdkAsGateway.checkNotifySignV2({ ...params, sign: tamperB64(params.sign) }),
    false, 'a tampered signature is refused by the SDK');
}

// The signed parameters of a built request: from the request itself, or
// for page / wap / app payments (which the payer's browser or app sends)
// from the payer payload the parse step returns.
function signedParams(out) {
  if (out.request.url) return requestParams(out.request);
  const payer = out.parse?.payer || {};
  if (payer.pay_url) {
    assert.ok(payer.pay_url.startsWith(`${CONFIG.gateway}?`), 'pay_url is the gateway');
    return requestParams({ url: payer.pay_url, headers: [], body: '' });
  }
  if (payer.order_string) {
    return requestParams({ url: `http://x/?${payer.order_string}`, headers: [], body: '' });
  }
  throw new Error('no signed parameters: neither a request nor a payer payload');
}

const payCases = [
  { environment: 'native_qr', method: 'alipay.trade.precreate' },
  { environment: 'h5', method: 'alipay.trade.wap.pay', product: 'QUICK_WAP_WAY', payer: 'pay_url' },
  { environment: 'pc', method: 'alipay.trade.page.pay', product: 'FAST_INSTANT_TRADE_PAY', payer: 'pay_url' },
  { environment: 'app', method: 'alipay.trade.app.pay', product: 'QUICK_MSECURITY_PAY', payer: 'order_string' },
  { environment: 'mini_program', method: 'alipay.trade.create', buyer: '2088000000000001' },
];

for (const c of payCases) {
  test(`SDK verifies our pay request (${c.environment} -> ${c.method})`, () => {
    const ord = order({ method: 'alipay', environment: c.environment, amount: 1234,
      subject: '测试 order & more', buyer_id: c.buyer });
    const out = mustOk(run('pay', ord), 'build pay');
    if (c.payer) {
      assert.equal(out.request.method, null, 'nothing to send: the payer opens it');
      assert.equal(out.parse.code, '10000');
      assert.ok(out.parse.payer[c.payer], `payer payload ${c.payer}`);
    }
    const params = signedParams(out);
    const biz = checkCommon(params, c.method);
    assert.equal(params.notify_url, ord.notify_url);
    assert.equal(biz.out_trade_no, ord.order_id);
    assert.equal(biz.total_amount, '12.34');
    assert.equal(biz.subject, ord.subject);
    if (c.product) assert.equal(biz.product_code, c.product);
    if (c.buyer) assert.equal(biz.buyer_id, c.buyer);
    sdkVerifies(params);
  });
}

const otherCases = [
  { op: 'query', method: 'alipay.trade.query', fields: {},
    check: (biz, o) => assert.equal(biz.out_trade_no, o.order_id) },
  { op: 'close', method: 'alipay.trade.close', fields: {},
    check: (biz, o) => assert.equal(biz.out_trade_no, o.order_id) },
  { op: 'refund', method: 'alipay.trade.refund',
    fields: { refund_id: 'RF0001', refund_amount: 500, total_amount: 1234, reason: '退款' },
    check: (biz, o) => {
      assert.equal(biz.out_trade_no, o.order_id);
      assert.equal(biz.out_request_no, 'RF0001');
      assert.equal(biz.refund_amount, '5.00');
    } },
  { op: 'refund_query', method: 'alipay.trade.fastpay.refund.query',
    fields: { refund_id: 'RF0001', refund_amount: 500, total_amount: 1234 },
    check: (biz, o) => {
      assert.equal(biz.out_trade_no, o.order_id);
      assert.equal(biz.out_request_no, 'RF0001');
    } },
  { op: 'payout', method: 'alipay.fund.trans.uni.transfer', cert: true,
    fields: { payout_id: 'PO0001', amount: 10000, payee_kind: 'alipay_account',
      payee_account: 'payee@example.com', payee_name: '张三' },
    check: (biz) => {
      assert.equal(biz.out_biz_no, 'PO0001');
      assert.equal(biz.trans_amount, '100.00');
    } },
  { op: 'payout_query', method: 'alipay.fund.trans.common.query', cert: true,
    fields: { payout_id: 'PO0001' },
    check: (biz) => assert.equal(biz.out_biz_no, 'PO0001') },
];

for (const c of otherCases) {
  test(`SDK verifies our ${c.op} request (${c.method})`, () => {
    const ord = order({ method: 'alipay', environment: 'native_qr',
      channel_trade_no: '2024010122001400000000000001', ...c.fields });
    // transfers: Alipay serves them in certificate mode only
    const out = mustOk((c.cert ? runCert : run)(c.op, ord), `build ${c.op}`);
    const req = ord.payee_account ? unmask(out.request, ord.payee_account) : out.request;
    const params = requestParams(req);
    const biz = checkCommon(params, c.method, c.cert ? ALIPAY_CERT_APP_ID : ALIPAY_APP_ID);
    c.check(biz, ord);
    sdkVerifies(params);
  });
}

// --- our driver verifies what the SDK signs --------------------------------

function signNotify(params, privateKey = PLATFORM_PRIVATE) {
  // Alipay's asynchronous notifications are signed over every parameter
  // but sign and sign_type, sorted, "k=v" joined by "&", values decoded.
  const content = Object.keys(params).filter((k) => k !== 'sign' && k !== 'sign_type')
    .sort().map((k) => `${k}=${params[k]}`).join('&');
  return { ...params, sign: sdkUtil.signatureV3(content, privateKey) };
}

function notifyParams(ord) {
  return {
    gmt_create: '2024-01-01 10:00:00',
    charset: 'utf-8',
    seller_email: 'seller@example.com',
    subject: '测试 order & more',
    buyer_id: '2088102177846880',
    invoice_amount: '12.34',
    notify_id: '2024010100222100000000000000000001',
    fund_bill_list: '[{"amount":"12.34","fundChannel":"ALIPAYACCOUNT"}]',
    notify_type: 'trade_status_sync',
    trade_status: 'TRADE_SUCCESS',
    receipt_amount: '12.34',
    app_id: ALIPAY_APP_ID,
    buyer_pay_amount: '12.34',
    sign_type: 'RSA2',
    seller_id: '2088102176000000',
    gmt_payment: '2024-01-01 10:00:05',
    notify_time: '2024-01-01 10:00:06',
    version: '1.0',
    out_trade_no: ord.order_id,
    total_amount: '12.34',
    trade_no: '2024010122001400000000000001',
    auth_app_id: ALIPAY_APP_ID,
    point_amount: '0.00',
  };
}

function inbound(body) {
  return {
    method: 'POST', path: '/notify/alipay', query: null,
    headers: [['Content-Type', 'application/x-www-form-urlencoded; charset=utf-8']],
    body,
  };
}

test('our driver verifies a notification signed with the SDK signer', () => {
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const signed = signNotify(notifyParams(ord));
  assert.equal(sdkAsMerchant.checkNotifySignV2({ ...signed }), true,
    'the SDK itself accepts the notification');
  const out = run('notify', null, { inbound: inbound(formEncode(signed)) });
  mustOk(out, 'notify');
  assert.equal(out.notify.kind, 'payment');
  assert.equal(out.notify.order_id, ord.order_id);
  assert.equal(out.notify.channel_trade_no, '2024010122001400000000000001');
  assert.equal(out.notify.code, 'TRADE_SUCCESS');
  assert.equal(out.notify.amount, 1234);
  assert.equal(out.notify.reply_ok_body, 'success');
});

test('our driver refuses a tampered notification', () => {
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const signed = signNotify(notifyParams(ord));
  const tampered = { ...signed, total_amount: '1234.00' };
  assert.equal(sdkAsMerchant.checkNotifySignV2({ ...tampered }), false);
  const out = run('notify', null, { inbound: inbound(formEncode(tampered)) });
  mustRefuse(out, 'refused');
  assert.equal(out.exit, 1);
  // Signed with the wrong key (the app's own) is refused as well.
  const wrongKey = signNotify(notifyParams(ord), APP_PRIVATE);
  const out2 = run('notify', null, { inbound: inbound(formEncode(wrongKey)) });
  mustRefuse(out2, 'refused');
});

// A response as the gateway writes it: the node's exact text (slashes
// escaped the way Alipay does), signed.
function signedResponse(method, nodeText, privateKey = PLATFORM_PRIVATE, certSn = null) {
  const key = `${method.replaceAll('.', '_')}_response`;
  const sign = sdkUtil.signatureV3(nodeText, privateKey);
  const sn = certSn === null ? '' : `"alipay_cert_sn":"${certSn}",`;
  return { key, sign, text: `{"${key}":${nodeText},${sn}"sign":"${sign}"}` };
}

test('our driver verifies a precreate response signed with the SDK signer', () => {
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const node = `{"code":"10000","msg":"Success","out_trade_no":"${ord.order_id}",`
    + '"qr_code":"https:\\/\\/qr.alipay.com\\/bax01234567890"}';
  const r = signedResponse('alipay.trade.precreate', node);
  sdkAsMerchant.checkResponseSign(r.text, r.key, r.sign, 'test'); // throws if bad
  const out = run('pay', ord, {
    response: { status: 200, headers: [['Content-Type', 'text/html;charset=utf-8']], body: r.text },
  });
  mustOk(out, 'parse precreate');
  assert.equal(out.parse.code, '10000');
  assert.equal(out.parse.payer.qr_code, 'https://qr.alipay.com/bax01234567890');

  const bad = r.text.replace('bax01234567890', 'bax01234567891');
  assert.throws(() => sdkAsMerchant.checkResponseSign(bad, r.key, r.sign, 'test'));
  const out2 = run('pay', ord, { response: { status: 200, headers: [], body: bad } });
  mustRefuse(out2, 'a tampered response is refused');
});

test('our driver verifies a query response signed with the SDK signer', () => {
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const node = `{"code":"10000","msg":"Success","buyer_logon_id":"159****5620",`
    + `"buyer_pay_amount":"12.34","out_trade_no":"${ord.order_id}",`
    + '"send_pay_date":"2024-01-01 10:00:05","total_amount":"12.34",'
    + '"trade_no":"2024010122001400000000000001","trade_status":"TRADE_SUCCESS"}';
  const r = signedResponse('alipay.trade.query', node);
  sdkAsMerchant.checkResponseSign(r.text, r.key, r.sign, 'test');
  const out = run('query', ord, { response: { status: 200, headers: [], body: r.text } });
  mustOk(out, 'parse query');
  assert.equal(out.parse.code, '10000');
  assert.equal(out.parse.sub_code, 'TRADE_SUCCESS');
  assert.equal(out.parse.channel_trade_no, '2024010122001400000000000001');
  assert.equal(out.parse.amount, 1234);

  const wrong = signedResponse('alipay.trade.query', node, APP_PRIVATE);
  const out2 = run('query', ord, { response: { status: 200, headers: [], body: wrong.text } });
  mustRefuse(out2, 'a response signed with another key is refused');
});

test('our driver reads a signed business error (40004 ACQ.TRADE_NOT_EXIST)', () => {
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const node = '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST",'
    + `"sub_msg":"交易不存在","out_trade_no":"${ord.order_id}"}`;
  const r = signedResponse('alipay.trade.query', node);
  sdkAsMerchant.checkResponseSign(r.text, r.key, r.sign, 'test');
  const out = run('query', ord, { response: { status: 200, headers: [], body: r.text } });
  mustOk(out, 'parse query error');
  assert.equal(out.parse.code, '40004');
  assert.equal(out.parse.sub_code, 'ACQ.TRADE_NOT_EXIST');
});

// --- public-key certificate mode --------------------------------------------

test('the SDK in certificate mode computes our SNs and signs our request the same', () => {
  const sdk = sdkCert();
  const sns = alipayCertSns();
  // three computations agree: the SDK's, openssl + md5sum's, ours
  assert.equal(sdk.config.appCertSn, sns.APP_CERT_SN);
  assert.equal(sdk.config.alipayCertSn, sns.ALIPAY_CERT_SN);
  assert.equal(sdk.config.alipayRootCertSn, sns.ALIPAY_ROOT_CERT_SN);
  assert.equal(sdk.config.alipayRootCertSn.split('_').length, 2,
    'two RSA roots; the ECDSA root of the bundle is left out');
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const out = mustOk(runCert('query', ord), 'build query (certificate mode)');
  const params = requestParams(out.request);
  checkCommon(params, 'alipay.trade.query', ALIPAY_CERT_APP_ID);
  assert.equal(params.app_cert_sn, sdk.config.appCertSn);
  assert.equal(params.alipay_root_cert_sn, sdk.config.alipayRootCertSn);
  // The SDK adds its own SNs when it signs: leave ours out and its
  // signature must be ours (RSA PKCS#1 v1.5 is deterministic).
  const p = { ...params, BizContent: params.biz_content };
  const method = p.method;
  for (const k of ['sign', 'method', 'biz_content', 'app_cert_sn', 'alipay_root_cert_sn']) delete p[k];
  const again = sdkUtil.sign(method, p, {
    appId: ALIPAY_CERT_APP_ID, privateKey: sdkAsGateway.config.privateKey,
    signType: 'RSA2', charset: 'utf-8', version: '1.0',
    appCertSn: sdk.config.appCertSn, alipayRootCertSn: sdk.config.alipayRootCertSn,
  }, { bizContentAutoSnakeCase: false });
  assert.equal(again.app_cert_sn, params.app_cert_sn);
  assert.equal(again.sign, params.sign, 'the SDK signs our certificate-mode request to our signature');
  sdkVerifies(params);
});

test('our driver in certificate mode verifies an answer the SDK signer made with alipay_cert_sn', () => {
  const sdk = sdkCert();
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const node = `{"code":"10000","msg":"Success","out_trade_no":"${ord.order_id}",`
    + '"total_amount":"12.34","trade_no":"2024010122001400000000000001","trade_status":"TRADE_SUCCESS"}';
  const r = signedResponse('alipay.trade.query', node, PLATFORM_PRIVATE, sdk.config.alipayCertSn);
  // the SDK verifies it against alipay_cert's public key
  sdk.checkResponseSign(r.text, r.key, r.sign, 'test');
  const out = runCert('query', ord, { response: { status: 200, headers: [], body: r.text } });
  mustOk(out, 'parse a certificate-mode answer');
  assert.equal(out.parse.sub_code, 'TRADE_SUCCESS');
  assert.equal(out.parse.amount, 1234);
  // signed with a certificate we do not have: refused, saying so
  const other = signedResponse('alipay.trade.query', node, PLATFORM_PRIVATE, '0123456789abcdef0123456789abcdef');
  const out2 = runCert('query', ord, { response: { status: 200, headers: [], body: other.text } });
  mustRefuse(out2, 'another alipay_cert_sn');
  assert.match(out2.error, /signed with Alipay's certificate 0123456789abcdef0123456789abcdef/);
  // and a tampered node fails the signature
  const bad = r.text.replace('12.34', '99.99');
  assert.throws(() => sdk.checkResponseSign(bad, r.key, r.sign, 'test'));
  mustRefuse(runCert('query', ord, { response: { status: 200, headers: [], body: bad } }), 'tampered');
});

test('transfers need certificate mode: our key-mode driver refuses them', () => {
  const ord = order({ method: 'alipay', environment: 'native_qr', payout_id: 'PO0002', amount: 100,
    payee_kind: 'alipay_account', payee_account: 'payee@example.com' });
  for (const op of ['payout', 'payout_query']) {
    const out = run(op, ord);
    assert.equal(out.rc, ENOTSUP, `${op} in public-key mode: ${out.error}`);
    assert.match(out.error, /certificate mode only/);
  }
});

test('the SDK in certificate mode against the simulator: SNs checked, answers verified', { skip: !PAYSIM_URL && 'PAYSIM_URL not set: no simulator running' }, async () => {
  const gateway = `${PAYSIM_URL}/alipay/gateway.do`;
  const sdk = sdkCert({ gateway, timeout: 10000 });
  const outTradeNo = `SDKC${Date.now()}`;
  const res = await sdk.exec('alipay.trade.precreate', {
    notify_url: 'http://127.0.0.1:9/notify/alipay',
    bizContent: { out_trade_no: outTradeNo, total_amount: '0.01', subject: 'sdk cert interop' },
  }, { validateSign: true });
  assert.equal(res.code, '10000', JSON.stringify(res));
  assert.ok(res.qrCode);
  // a transfer, which Alipay serves in this mode only
  const outBizNo = `SDKT${Date.now()}`;
  const t = await sdk.exec('alipay.fund.trans.uni.transfer', {
    bizContent: { out_biz_no: outBizNo, trans_amount: '1.00', product_code: 'TRANS_ACCOUNT_NO_PWD',
      biz_scene: 'DIRECT_TRANSFER', order_title: 'sdk', payee_info: { identity: 'payee@example.com', identity_type: 'ALIPAY_LOGON_ID' } },
  }, { validateSign: true });
  assert.equal(t.code, '10000', JSON.stringify(t));
  assert.equal(t.outBizNo, outBizNo);
  // paysim names its certificate in the answer
  const raw = await fetch(gateway, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: formEncode(sdkUtil.sign('alipay.trade.query', { bizContent: { out_trade_no: outTradeNo } }, sdk.config)),
  });
  const body = JSON.parse(await raw.text());
  assert.equal(body.alipay_cert_sn, sdk.config.alipayCertSn);
  // another root bundle: the SDK computes another root SN, paysim refuses it
  const wrongRoot = sdkCert({ gateway, alipayRootCertPath: certFile('other_root_cert.pem') });
  const w = await wrongRoot.exec('alipay.trade.query', { bizContent: { out_trade_no: outTradeNo } }, { validateSign: true });
  assert.equal(w.subCode, 'isv.invalid-alipay-root-cert-sn', JSON.stringify(w));
  // the key-mode app cannot transfer at the simulator either
  const keyMode = new AlipaySdk({ appId: ALIPAY_APP_ID, privateKey: APP_PRIVATE, keyType: 'PKCS8',
    alipayPublicKey: PLATFORM_PUBLIC, gateway });
  const k = await keyMode.exec('alipay.fund.trans.uni.transfer', {
    bizContent: { out_biz_no: `${outBizNo}K`, trans_amount: '1.00', product_code: 'TRANS_ACCOUNT_NO_PWD',
      biz_scene: 'DIRECT_TRANSFER', payee_info: { identity: 'payee@example.com', identity_type: 'ALIPAY_LOGON_ID' } },
  }, { validateSign: true });
  assert.equal(k.subCode, 'isv.app-cert-required', JSON.stringify(k));
});

test('our driver in certificate mode pays out through the simulator', { skip: !PAYSIM_URL && 'PAYSIM_URL not set: no simulator running' }, () => {
  const config = alipayCertConfig(`${PAYSIM_URL}/alipay/gateway.do`);
  const ord = order({ method: 'alipay', environment: 'native_qr', payout_id: `PO${Date.now()}`,
    amount: 500, payee_kind: 'alipay_account', payee_account: 'payee@example.com', payee_name: '张三' });
  const out = drvtool({ driver: DRIVER, config, op: 'payout', order: ord, send: true });
  mustOk(out, 'payout via simulator (certificate mode)');
  assert.equal(out.parse.code, '10000');
  assert.equal(out.parse.sub_code, 'SUCCESS');
  const q = drvtool({ driver: DRIVER, config, op: 'payout_query', order: ord, send: true });
  mustOk(q, 'payout query via simulator');
  assert.equal(q.parse.sub_code, 'SUCCESS');
  assert.equal(q.parse.amount, 500);
});

// --- the SDK as a client of the simulator ----------------------------------

test('alipay-sdk pointed at the simulator accepts its signed answers', { skip: !PAYSIM_URL && 'PAYSIM_URL not set: no simulator running' }, async () => {
  const sdk = new AlipaySdk({
    appId: ALIPAY_APP_ID, privateKey: APP_PRIVATE, keyType: 'PKCS8',
    alipayPublicKey: PLATFORM_PUBLIC, gateway: `${PAYSIM_URL}/alipay/gateway.do`,
    timeout: 10000,
  });
  const outTradeNo = `SDK${Date.now()}`;
  const res = await sdk.exec('alipay.trade.precreate', {
    notify_url: 'http://127.0.0.1:9/notify/alipay',
    bizContent: { out_trade_no: outTradeNo, total_amount: '0.01', subject: 'sdk interop' },
  }, { validateSign: true });
  assert.equal(res.code, '10000', JSON.stringify(res));
  assert.equal(res.outTradeNo, outTradeNo);
  assert.ok(res.qrCode, 'a qr_code');
  const q = await sdk.exec('alipay.trade.query', {
    bizContent: { out_trade_no: outTradeNo },
  }, { validateSign: true });
  assert.equal(q.code, '10000', JSON.stringify(q));
  assert.equal(q.tradeStatus, 'WAIT_BUYER_PAY');

  // With the wrong Alipay public key the SDK must refuse the same answer.
  const wrong = new AlipaySdk({
    appId: ALIPAY_APP_ID, privateKey: APP_PRIVATE, keyType: 'PKCS8',
    alipayPublicKey: APP_PUBLIC, gateway: `${PAYSIM_URL}/alipay/gateway.do`,
  });
  await assert.rejects(wrong.exec('alipay.trade.query', {
    bizContent: { out_trade_no: outTradeNo },
  }, { validateSign: true }), /验签失败|sign/i);
});

test('our driver talks to the simulator (precreate then query)', { skip: !PAYSIM_URL && 'PAYSIM_URL not set: no simulator running' }, () => {
  const config = alipayConfig(`${PAYSIM_URL}/alipay/gateway.do`);
  const ord = order({ method: 'alipay', environment: 'native_qr' });
  const out = drvtool({ driver: DRIVER, config, op: 'pay', order: ord, send: true });
  mustOk(out, 'pay via simulator');
  assert.equal(out.parse.code, '10000');
  assert.ok(out.parse.payer.qr_code);
  const q = drvtool({ driver: DRIVER, config, op: 'query', order: ord, send: true });
  mustOk(q, 'query via simulator');
  assert.equal(q.parse.sub_code, 'WAIT_BUYER_PAY');
});
