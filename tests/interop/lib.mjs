// lib.mjs - helpers shared by the interop tests: where the build and the
// keys are, and running drvtool (tests/interop/drvtool.c), payroute's
// command-line wrapper around one driver operation.
//
// Environment (set by tests/integration/t_interop.sh):
//   PR_BUILDDIR  the build tree (drivers/*/.libs/*.so, tests/interop/drvtool)
//   PR_SRCDIR    the source tree (tests/keys)
//   DRVTOOL      drvtool's path (default $PR_BUILDDIR/tests/interop/drvtool)
//   PAYSIM_URL   the channel simulator's base URL, when one is running
//   ALIPAY_CERT_DIR  Alipay's certificate-mode test certificates
//                (tests/keys/make_alipay_certs.sh made them for the app
//                ALIPAY_CERT_APP_ID; alipay_sn.env holds their SNs)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export const SRCDIR = resolve(process.env.PR_SRCDIR || join(here, '..', '..'));
export const BUILDDIR = resolve(process.env.PR_BUILDDIR || SRCDIR);
export const DRVTOOL = process.env.DRVTOOL ||
  join(BUILDDIR, 'tests', 'interop', 'drvtool');
export const KEYDIR = join(SRCDIR, 'tests', 'keys');
export const PAYSIM_URL = (process.env.PAYSIM_URL || '').replace(/\/+$/, '');
export const ALIPAY_CERT_DIR = process.env.ALIPAY_CERT_DIR || '';

export function keyPath(name) {
  return join(KEYDIR, name);
}

export function key(name) {
  return readFileSync(keyPath(name), 'utf8');
}

export function driverPath(name) {
  return join(BUILDDIR, 'drivers', name, '.libs', `${name}.so`);
}

// The hex serial of a certificate, upper case, as WeChat Pay writes it.
export function certSerial(name) {
  const out = execFileSync('openssl',
    ['x509', '-in', keyPath(name), '-noout', '-serial'], { encoding: 'utf8' });
  return out.trim().replace(/^serial=/, '').toUpperCase();
}

// The decimal serial of a certificate (UnionPay's certId).
export function certSerialDecimal(name) {
  return BigInt(`0x${certSerial(name)}`).toString(10);
}

export const ALIPAY_APP_ID = '2021000000000001';
// The app in public-key certificate mode (paysim knows it so).
export const ALIPAY_CERT_APP_ID = '2021000000000002';
export const WECHAT_MCHID = '1900000001';
export const WECHAT_APPID = 'wx0000000000000001';
export const BANK_MER_ID = '777290058110048';

export function alipayConfig(gateway = 'https://openapi.alipay.com/gateway.do') {
  return {
    app_id: ALIPAY_APP_ID,
    gateway,
    app_private_key: `@${keyPath('alipay_app_private.pem')}`,
    alipay_public_key: `@${keyPath('alipay_platform_public.pem')}`,
    sign_type: 'RSA2',
  };
}

// A certificate-mode config: no alipay_public_key, the three certificates.
export function alipayCertConfig(gateway = 'https://openapi.alipay.com/gateway.do') {
  return {
    app_id: ALIPAY_CERT_APP_ID,
    gateway,
    app_private_key: `@${keyPath('alipay_app_private.pem')}`,
    app_cert: `@${join(ALIPAY_CERT_DIR, 'alipay_app_cert.pem')}`,
    alipay_cert: `@${join(ALIPAY_CERT_DIR, 'alipay_cert.pem')}`,
    alipay_root_cert: `@${join(ALIPAY_CERT_DIR, 'alipay_root_cert.pem')}`,
  };
}

// The SNs make_alipay_certs.sh computed with openssl and md5sum.
export function alipayCertSns() {
  const out = {};
  for (const line of readFileSync(join(ALIPAY_CERT_DIR, 'alipay_sn.env'), 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function wechatApiv3Key() {
  return key('wechat_apiv3.key').trim();
}

export function wechatConfig(apiBase = 'https://api.mch.weixin.qq.com') {
  return {
    mch_id: WECHAT_MCHID,
    appid: WECHAT_APPID,
    api_base: apiBase,
    merchant_private_key: `@${keyPath('wechat_merchant_private.pem')}`,
    merchant_serial_no: certSerial('wechat_merchant_cert.pem'),
    platform_public_key: `@${keyPath('wechat_platform_cert.pem')}`,
    platform_serial_no: certSerial('wechat_platform_cert.pem'),
    apiv3_key: wechatApiv3Key(),
  };
}

export function bankConfig(gateway = 'https://gateway.95516.com') {
  return {
    mer_id: BANK_MER_ID,
    gateway,
    sign_key: `@${keyPath('bank_merchant_private.pem')}`,
    verify_key: `@${keyPath('bank_platform_cert.pem')}`,
    cert_id: certSerialDecimal('bank_merchant_cert.pem'),
    allow_clear_accno: true,
  };
}

// A payment order as struct payroute_order (see drvtool.c for the fields).
export function order(fields = {}) {
  const now = Date.now();
  return {
    order_id: `IT${now}${Math.floor(Math.random() * 1e6)}`,
    amount: 1234,
    currency: 'CNY',
    subject: 'interop test',
    notify_url: 'https://merchant.example.com/notify/interop',
    client_ip: '127.0.0.1',
    created_at_ms: now,
    expire_at_ms: now + 15 * 60 * 1000,
    ...fields,
  };
}

// Runs drvtool. opts: { driver, config, op, order, response, inbound,
// send, timeoutMs }. Returns the JSON object drvtool printed, plus `exit`
// (its exit status). Throws on usage errors (exit 2) or unreadable output.
export function drvtool(opts) {
  const dir = mkdtempSync(join(tmpdir(), 'drvtool-'));
  try {
    const args = ['--driver', opts.driver];
    const put = (name, obj) => {
      const p = join(dir, name);
      writeFileSync(p, JSON.stringify(obj));
      return p;
    };
    args.push('--config', put('config.json', opts.config));
    args.push(opts.op);
    if (opts.order) args.push('--order', put('order.json', opts.order));
    if (opts.response) args.push('--response', put('response.json', opts.response));
    if (opts.inbound) args.push('--inbound', put('inbound.json', opts.inbound));
    if (opts.send) args.push('--send', '--timeout', String(opts.timeoutMs || 5000));
    let stdout;
    let exit = 0;
    try {
      stdout = execFileSync(DRVTOOL, args, {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 30000,
      });
    } catch (err) {
      if (err.status === 1 && err.stdout) {
        stdout = err.stdout;
        exit = 1;
      } else {
        throw new Error(`drvtool ${args.join(' ')} failed (exit ${err.status}): ${err.stderr}`);
      }
    }
    const out = JSON.parse(stdout);
    out.exit = exit;
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Fails with drvtool's own error text when a step did not return 0.
export function mustOk(out, what) {
  if (out.rc !== 0) {
    throw new Error(`${what}: drvtool rc ${out.rc}: ${out.error}`);
  }
  return out;
}

// The value of a header (case-insensitive) in [[name, value], ...].
export function header(headers, name) {
  const h = (headers || []).find(([k]) => k.toLowerCase() === name.toLowerCase());
  return h ? h[1] : undefined;
}

// Form decoding ('+' is a space, %XX escapes) of "k=v&k=v" into an
// object; a repeated key is an error.
export function parseForm(text) {
  const out = {};
  if (!text) return out;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
    const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    if (Object.prototype.hasOwnProperty.call(out, k)) {
      throw new Error(`parameter ${k} appears twice`);
    }
    out[k] = v;
  }
  return out;
}

// All the parameters of a request: its URL query and its form body.
export function requestParams(req) {
  const url = new URL(req.url);
  const params = parseForm(url.search.replace(/^\?/, ''));
  const ct = header(req.headers, 'content-type') || '';
  if (req.body && (ct.startsWith('application/x-www-form-urlencoded') || ct === '')) {
    for (const [k, v] of Object.entries(parseForm(req.body))) {
      if (Object.prototype.hasOwnProperty.call(params, k)) {
        throw new Error(`parameter ${k} both in the URL and the body`);
      }
      params[k] = v;
    }
  }
  return params;
}

// Form encoding as a channel would send a notification.
export function formEncode(params) {
  return Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

// Flips one character of a base64 signature (still valid base64).
export function tamperB64(sig) {
  const i = Math.floor(sig.length / 2);
  const c = sig[i] === 'A' ? 'B' : 'A';
  return sig.slice(0, i) + c + sig.slice(i + 1);
}

// Runs a callback with a temporary directory, removed afterwards.
export function withTmp(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'interop-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// RFC 3986 percent-encoding (everything but unreserved, upper-case hex),
// as the core's url_encode service and drvtool's masking do it.
export function rfc3986(text) {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// drvtool prints card numbers and payee accounts as runs of '*' (in clear
// and in their URL-encoded form). Puts `secret` back into a copy of a
// printed request so that its signature can be checked, after asserting
// that the secret was indeed masked.
export function unmask(req, secret) {
  const restore = (text) => {
    if (!text) return text;
    if (text.includes(secret) || text.includes(rfc3986(secret))) {
      throw new Error('drvtool printed a secret in clear');
    }
    const forms = [rfc3986(secret), secret].sort((a, b) => b.length - a.length);
    let out = text;
    for (const f of forms) out = out.split('*'.repeat(f.length)).join(f);
    return out;
  };
  return { ...req, url: restore(req.url), body: restore(req.body) };
}

export const EBADMSG = -74;
export const ENOTSUP = -95;

// Asserts that drvtool's step ran and refused its input: a negative code,
// but not "operation not supported" (a refusal by a missing codec proves
// nothing).
export function mustRefuse(out, what) {
  if (out.rc === 0 || out.rc === ENOTSUP || out.exit !== 1) {
    throw new Error(`${what}: expected a refusal, got rc ${out.rc} (${out.error})`);
  }
  return out;
}
