// bank.test.mjs - the bank driver (UnionPay online gateway 5.1.0,
// signMethod 01) against signatures computed independently with the
// openssl command line. UnionPay publishes no Node SDK, so:
//
//  1. the fixed vectors of tests/keys/bank_vectors.txt (written by
//     tests/keys/make_bank_vectors.sh with openssl alone) must come out of
//     our driver byte for byte, for the same orders;
//  2. for further requests, `openssl dgst` recomputes the signature over the
//     sorted string of the fields drvtool shows, and `openssl dgst -verify`
//     checks ours with the merchant public key;
//  3. answers and notifications signed by openssl with the platform key are
//     accepted by our driver, tampered ones refused.
//
// The signature (5.1.0, signMethod 01): base64(SHA256withRSA(key, hex)),
// hex = lower-case hex SHA-256 of the sorted "k=v&k=v" string of every
// non-empty field but signature.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BANK_MER_ID, bankConfig, certSerialDecimal, driverPath, drvtool, formEncode,
  header, keyPath, mustOk, mustRefuse, order, parseForm, tamperB64, withTmp, KEYDIR,
} from './lib.mjs';

const DRIVER = driverPath('bank');
const CONFIG = bankConfig();
const CERT_ID = certSerialDecimal('bank_merchant_cert.pem');

function run(op, ord, extra = {}) {
  return drvtool({ driver: DRIVER, config: CONFIG, op, order: ord, ...extra });
}

function sortedString(fields) {
  return Object.keys(fields).filter((k) => k !== 'signature' && fields[k] !== '')
    .sort().map((k) => `${k}=${fields[k]}`).join('&');
}

// hex = openssl dgst -sha256 of the string.
function opensslHex(text) {
  const out = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: Buffer.from(text, 'utf8') });
  return out.toString('utf8').split(' ')[0].trim();
}

// The signature openssl makes over a sorted string with a key file.
function opensslSign(text, keyFile) {
  const hex = opensslHex(text);
  const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', keyPath(keyFile)],
    { input: Buffer.from(hex, 'utf8') });
  return sig.toString('base64');
}

// openssl's verdict on a signature over a sorted string.
function opensslVerify(text, sigB64, pubFile) {
  return withTmp((dir) => {
    const sigFile = join(dir, 'sig.bin');
    writeFileSync(sigFile, Buffer.from(sigB64, 'base64'));
    try {
      const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', keyPath(pubFile),
        '-signature', sigFile], { input: Buffer.from(opensslHex(text), 'utf8'), stdio: 'pipe' });
      return /Verified OK/.test(out.toString());
    } catch {
      return false;
    }
  });
}

function vectors() {
  const out = {};
  for (const line of readFileSync(join(KEYDIR, 'bank_vectors.txt'), 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [name, signer, str, hex, sig] = line.split('|');
    out[name] = { signer, str, hex, sig };
  }
  return out;
}

// Fields of a built request (form body).
function requestFields(out) {
  assert.equal(out.request.method, 'POST');
  assert.match(header(out.request.headers, 'Content-Type') || '',
    /^application\/x-www-form-urlencoded/);
  return parseForm(out.request.body);
}

function checkSignedRequest(fields) {
  assert.equal(fields.version, '5.1.0');
  assert.equal(fields.encoding, 'UTF-8');
  assert.equal(fields.signMethod, '01');
  assert.equal(fields.merId, BANK_MER_ID);
  assert.equal(fields.certId, CERT_ID);
  const str = sortedString(fields);
  assert.equal(fields.signature, opensslSign(str, 'bank_merchant_private.pem'),
    'openssl computes the same signature over the sorted string');
  assert.equal(opensslVerify(str, fields.signature, 'bank_merchant_public.pem'), true,
    'openssl verifies our signature with the merchant public key');
  // Tampers: a changed field, a changed signature.
  const changed = sortedString({ ...fields, txnTime: '20000101000000' });
  assert.equal(opensslVerify(changed, fields.signature, 'bank_merchant_public.pem'), false);
  assert.equal(opensslVerify(str, tamperB64(fields.signature), 'bank_merchant_public.pem'), false);
  return str;
}

// The orders of make_bank_vectors.sh.
const VEC_CREATED = 1700000000000;
const VEC_NOTIFY = 'http://127.0.0.1:8081/notify/bank1';

test('fixed openssl vectors: our query request is byte for byte the vector', () => {
  const v = vectors().query;
  const out = mustOk(run('query', order({ order_id: 'P20231115000001', created_at_ms: VEC_CREATED,
    method: 'debit_card', environment: 'pc' })), 'build query');
  const fields = requestFields(out);
  assert.match(out.request.url, /\/gateway\/api\/queryTrans\.do$/);
  assert.equal(sortedString(fields), v.str);
  assert.equal(opensslHex(v.str), v.hex);
  assert.equal(fields.signature, v.sig);
  checkSignedRequest(fields);
});

test('fixed openssl vectors: our refund request is byte for byte the vector', () => {
  const v = vectors().refund;
  const out = mustOk(run('refund', order({ order_id: 'P20231115000001', refund_id: 'R20231115000001',
    channel_trade_no: '512311150613200000001', refund_amount: 500, total_amount: 1234,
    created_at_ms: VEC_CREATED, notify_url: VEC_NOTIFY, method: 'debit_card', environment: 'pc' })),
  'build refund');
  const fields = requestFields(out);
  assert.match(out.request.url, /\/gateway\/api\/backTransReq\.do$/);
  assert.equal(sortedString(fields), v.str);
  assert.equal(fields.signature, v.sig);
  checkSignedRequest(fields);
});

// Fields of the front consume the payer posts (parse_pay's form_fields):
// build_pay writes no request, drvtool parses at once with status 0.
function payFields(out) {
  assert.equal(out.request.method, null, 'build_pay writes no request');
  assert.equal(out.parse.code, 'FORM');
  assert.match(out.parse.payer.pay_url, /\/gateway\/api\/frontTransReq\.do$/);
  return JSON.parse(out.parse.payer.form_fields);
}

test('fixed openssl vectors: our front consume is byte for byte the vector', () => {
  const v = vectors().pay;
  const ord = order({ order_id: 'P20231115000001', amount: 1234, created_at_ms: VEC_CREATED,
    expire_at_ms: VEC_CREATED + 30 * 60 * 1000, notify_url: VEC_NOTIFY, bank_code: 'ICBC',
    method: 'debit_card', environment: 'pc' });
  const out = mustOk(run('pay', ord), 'front consume');
  const fields = payFields(out);
  assert.equal(sortedString(fields), v.str);
  assert.equal(fields.signature, v.sig);
  checkSignedRequest(fields);
  // The payer's HTML form carries the same signed fields.
  const form = out.parse.payer.form;
  assert.ok(form.includes(`action="${out.parse.payer.pay_url}"`), 'the form posts to pay_url');
  for (const [k, val] of Object.entries(fields)) {
    assert.ok(form.includes(`name="${k}" value="${val}"`), `the form carries ${k}`);
  }
});

test('openssl recomputes our signatures (refund_query, payout, h5 consume)', () => {
  const base = { method: 'debit_card', created_at_ms: Date.now() };
  const cases = [
    ['refund_query', order({ ...base, environment: 'pc', refund_id: 'R20240101000009' })],
    ['pay', order({ ...base, environment: 'h5', amount: 1, bank_code: 'CMB' })],
    ['payout_query', order({ ...base, payout_id: 'W20240101000001' })],
  ];
  for (const [op, ord] of cases) {
    const out = mustOk(run(op, ord), `build ${op}`);
    const fields = op === 'pay' ? payFields(out) : requestFields(out);
    checkSignedRequest(fields);
  }
});

test('payout: the payee account is masked by drvtool and openssl verifies once restored', () => {
  const account = '6216610200016587010';
  const ord = order({ method: 'debit_card', payout_id: 'W20240101000002', amount: 10000,
    payee_kind: 'bank_card', payee_account: account, payee_name: '张三', payee_bank_code: 'BOC' });
  const out = mustOk(run('payout', ord), 'build payout');
  assert.ok(!JSON.stringify(out).includes(account), 'drvtool never prints the account');
  const fields = requestFields(out);
  assert.equal(fields.txnType, '12');
  assert.equal(fields.accNo, '*'.repeat(account.length));
  fields.accNo = account;
  checkSignedRequest(fields);
});

// --- answers and notifications signed by openssl ----------------------------

function platformSigned(fields) {
  const f = { ...fields };
  f.signature = opensslSign(sortedString(f), 'bank_platform_private.pem');
  return f;
}

// How the gateway writes an answer: "k=v&k=v", values as they are.
function rawJoin(fields) {
  return Object.entries(fields).map(([k, v]) => `${k}=${v}`).join('&');
}

test('fixed openssl vectors: our driver accepts the signed query answer', () => {
  const v = vectors().query_answer;
  const ord = order({ order_id: 'P20231115000001', created_at_ms: VEC_CREATED,
    method: 'debit_card', environment: 'pc' });
  const body = `${v.str}&signature=${v.sig}`;
  const out = run('query', ord, { response: { status: 200,
    headers: [['Content-Type', 'text/plain;charset=UTF-8']], body } });
  mustOk(out, 'parse query answer');
  assert.equal(out.parse.code, '00');
  assert.equal(out.parse.sub_code, '00');
  assert.equal(out.parse.channel_trade_no, '512311150613200000001');
  assert.equal(out.parse.amount, 1234);

  const tampered = body.replace('txnAmt=1234', 'txnAmt=1235');
  const out2 = run('query', ord, { response: { status: 200, headers: [], body: tampered } });
  mustRefuse(out2, 'a tampered answer is refused');
  const unsigned = v.str;
  const out3 = run('query', ord, { response: { status: 200, headers: [], body: unsigned } });
  mustRefuse(out3, 'an unsigned answer is refused');
});

test('our driver reads an unknown-outcome query answer (origRespCode 03)', () => {
  const ord = order({ order_id: 'P20240101000077', created_at_ms: VEC_CREATED,
    method: 'debit_card', environment: 'pc' });
  const fields = platformSigned({
    accessType: '0', bizType: '000000', encoding: 'UTF-8', merId: BANK_MER_ID,
    orderId: ord.order_id, origRespCode: '03', origRespMsg: '交易通讯超时，请发起查询交易',
    queryId: '512311150613200000077', respCode: '00', respMsg: '成功[0000000]',
    signMethod: '01', txnAmt: '1234', txnSubType: '01', txnTime: '20231115061320',
    txnType: '00', version: '5.1.0',
  });
  const out = run('query', ord, { response: { status: 200, headers: [], body: rawJoin(fields) } });
  mustOk(out, 'parse query 03');
  assert.equal(out.parse.code, '00');
  assert.equal(out.parse.sub_code, '03');
});

test('fixed openssl vectors: our driver accepts the signed notification', () => {
  const v = vectors().notify;
  const fields = { ...parseForm(v.str.split('&').map((kv) => {
    const i = kv.indexOf('=');
    return `${kv.slice(0, i)}=${encodeURIComponent(kv.slice(i + 1))}`;
  }).join('&')), signature: v.sig };
  const inbound = (f) => ({ method: 'POST', path: '/notify/bank1', query: null,
    headers: [['Content-Type', 'application/x-www-form-urlencoded;charset=UTF-8']],
    body: formEncode(f) });
  const out = run('notify', null, { inbound: inbound(fields) });
  mustOk(out, 'notify');
  assert.equal(out.notify.kind, 'payment');
  assert.equal(out.notify.order_id, 'P20231115000001');
  assert.equal(out.notify.code, '00');
  assert.equal(out.notify.amount, 1234);
  assert.equal(out.notify.reply_ok_status, 200);

  const out2 = run('notify', null, { inbound: inbound({ ...fields, txnAmt: '123400' }) });
  mustRefuse(out2, 'a tampered notification is refused');
  const wrongKey = { ...fields };
  delete wrongKey.signature;
  wrongKey.signature = opensslSign(sortedString(wrongKey), 'bank_merchant_private.pem');
  const out3 = run('notify', null, { inbound: inbound(wrongKey) });
  mustRefuse(out3, 'a notification signed with another key is refused');
});

test('our driver accepts a refund notification signed by openssl', () => {
  const fields = platformSigned({
    accessType: '0', bizType: '000201', currencyCode: '156', encoding: 'UTF-8',
    merId: BANK_MER_ID, orderId: 'R20240101000003', origQryId: '512311150613200000001',
    queryId: '512401010000000000003', respCode: '00', respMsg: 'Success!', settleAmt: '500',
    signMethod: '01', txnAmt: '500', txnSubType: '00', txnTime: '20240101100000',
    txnType: '04', version: '5.1.0',
  });
  const out = run('notify', null, { inbound: { method: 'POST', path: '/notify/bank1', query: null,
    headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: formEncode(fields) } });
  mustOk(out, 'refund notify');
  assert.equal(out.notify.kind, 'refund');
  assert.equal(out.notify.refund_id, 'R20240101000003');
  assert.equal(out.notify.amount, 500);
});
