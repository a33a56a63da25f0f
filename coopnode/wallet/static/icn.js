// icn.js: a client for an ICN co-op node's wallet gateway (docs/API.md), for
// browsers and other JavaScript hosts with fetch, WebSocket and WebCrypto.
// One plain ES module, no dependencies, no build step:
//
//   import {ICNClient, generateKey, WebCryptoSigner} from '/wallet/icn.js';
//   const client = new ICNClient({coop: 'riverside'});        // same origin as the node
//   const key = await generateKey();                          // or importKeyFile(json)
//   const session = await client.login(new WebCryptoSigner(key));
//   await session.pay({to: 'did:icn:...', amount: '2.50', memo: 'bread'});
//   const sub = session.subscribe({onEvent: ev => console.log(ev.seq, ev.type)});
//
// It mirrors the Go client (coopnode/client): the same calls, the same
// signing rules (Ed25519 over TAG, 0x0A, then the exact bytes sent), the same
// single-use refresh. Errors from the gateway are ICNError (status, code,
// message); a request that never got an answer is a NetworkError.

// Signature purpose tags (API.md "Signatures").
export const TAG = Object.freeze({
  login: 'icn/v1/auth-challenge',
  payment: 'icn/v1/payment-intent',
  application: 'icn/v1/membership-application',
  device: 'icn/v1/device',
  vote: 'icn/v1/vote',
});

export const DEFAULT_CURRENCY = 'hours';
// How long a payment intent stays valid (as the Go client: 5 minutes).
export const PAYMENT_TTL_MS = 5 * 60 * 1000;

const enc = new TextEncoder();

// ---------------------------------------------------------------- errors

// ICNError is an error answer of the gateway ({"error": {"code", "message"}}),
// or a local refusal with a code of the same kind (invalid_did, ...).
export class ICNError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message || code);
    this.name = 'ICNError';
    this.status = status; // HTTP status, 0 for a local refusal
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from Retry-After
  }
}

// NetworkError: the request got no answer (offline, connection cut, DNS).
// Whether the gateway acted on it is unknown: resend the same signed bytes.
export class NetworkError extends Error {
  constructor(cause) {
    super('no answer from the co-op node: ' + (cause && cause.message ? cause.message : String(cause)));
    this.name = 'NetworkError';
    this.cause = cause;
  }
}

// transient reports whether err may succeed if the same request is sent again.
export function transient(err) {
  return err instanceof NetworkError ||
    (err instanceof ICNError && (err.status === 408 || err.status === 429 || err.status >= 500));
}

function refuse(code, message) {
  return new ICNError(0, code, message);
}

// ---------------------------------------------------------------- encodings

// b64encode: base64url without padding (API.md "Encodings").
export function b64encode(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// b64decode reads base64url without padding, strictly.
export function b64decode(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) {
    throw refuse('invalid_encoding', 'not base64url without padding');
  }
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64encode(out) !== s) throw refuse('invalid_encoding', 'not canonical base64url');
  return out;
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

// base58encode: base58btc, the Bitcoin alphabet.
export function base58encode(bytes) {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  const digits = []; // base 58, least significant first
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i];
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j] << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  return '1'.repeat(zeros) + digits.reverse().map((d) => B58[d]).join('');
}

export function base58decode(s) {
  const bytes = [0];
  for (const ch of s) {
    let carry = B58.indexOf(ch);
    if (carry < 0) throw refuse('invalid_encoding', 'not base58btc');
    for (let j = 0; j < bytes.length; j++) {
      carry += bytes[j] * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  let zeros = 0;
  while (zeros < s.length && s[zeros] === '1') zeros++;
  const body = bytes.reverse();
  while (body.length > 0 && body[0] === 0) body.shift();
  return new Uint8Array([...new Array(zeros).fill(0), ...body]);
}

export function utf8(s) {
  return enc.encode(s);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

// signingInput is what an Ed25519 signature covers: TAG, 0x0A, PAYLOAD.
export function signingInput(tag, payload) {
  return concat(utf8(tag), [0x0a], payload);
}

// loginPayload is the login PAYLOAD: the co-op id, 0x0A, the nonce bytes.
export function loginPayload(coop, nonce) {
  return concat(utf8(coop), [0x0a], nonce);
}

// ---------------------------------------------------------------- DIDs

const DID_PREFIX = 'did:icn:';

export function didFromPublicKey(pub) {
  if (!(pub instanceof Uint8Array) || pub.length !== 32) throw refuse('invalid_public_key', 'a public key is 32 bytes');
  return DID_PREFIX + base58encode(pub);
}

// publicKeyOf parses a DID strictly and returns its 32-byte key. (The node
// also refuses small-order and non-canonical keys; this checks the form.)
export function publicKeyOf(did) {
  if (typeof did !== 'string' || !did.startsWith(DID_PREFIX)) throw refuse('invalid_did', 'a DID starts with did:icn:');
  let pub;
  try {
    pub = base58decode(did.slice(DID_PREFIX.length));
  } catch {
    throw refuse('invalid_did', 'the DID is not base58btc after did:icn:');
  }
  if (pub.length !== 32 || didFromPublicKey(pub) !== did) throw refuse('invalid_did', 'a DID holds a 32-byte key');
  return pub;
}

export function isDID(s) {
  try {
    publicKeyOf(s);
    return true;
  } catch {
    return false;
  }
}

// shortDID is a DID cut for display, as the Go side's DID.Short.
export function shortDID(did) {
  const id = String(did).slice(DID_PREFIX.length);
  return id.length <= 12 ? String(did) : DID_PREFIX + id.slice(0, 6) + '…' + id.slice(-4);
}

// ---------------------------------------------------------------- keys

const ED25519 = {name: 'Ed25519'};

// hasEd25519 reports whether this host's WebCrypto signs with Ed25519
// (Chromium 137+, Firefox 129+, Safari 17+).
export async function hasEd25519() {
  try {
    await crypto.subtle.generateKey(ED25519, false, ['sign', 'verify']);
    return true;
  } catch {
    return false;
  }
}

// generateKey makes a new Ed25519 key. It returns the key as the page keeps
// it (privateKey a non-extractable CryptoKey) and, once, its key file
// (API.md "Key files") for a backup: the browser will not give the seed
// back later.
export async function generateKey() {
  const pair = await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const publicKey = b64decode(jwk.x);
  const did = didFromPublicKey(publicKey);
  const keyFile = {did, public_key: jwk.x, seed: jwk.d};
  const privateKey = await crypto.subtle.importKey('jwk', {kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x}, ED25519, false, ['sign']);
  return {did, publicKey, privateKey, keyFile};
}

// importKeyFile reads a key file (a JSON string or the parsed object):
// {"did", "public_key", "seed"}. It checks that the DID is the public key's
// and that the seed makes that key, and returns {did, publicKey, privateKey}
// with a non-extractable privateKey.
export async function importKeyFile(file) {
  let kf = file;
  if (typeof file === 'string') {
    try {
      kf = JSON.parse(file);
    } catch {
      throw refuse('invalid_key_file', 'the key file is not JSON');
    }
  }
  if (!kf || typeof kf !== 'object' || typeof kf.did !== 'string' || typeof kf.public_key !== 'string' || typeof kf.seed !== 'string') {
    throw refuse('invalid_key_file', 'a key file holds did, public_key and seed');
  }
  let pub, seed;
  try {
    pub = b64decode(kf.public_key);
    seed = b64decode(kf.seed);
  } catch {
    throw refuse('invalid_key_file', 'public_key and seed must be base64url without padding');
  }
  if (pub.length !== 32 || seed.length !== 32) throw refuse('invalid_key_file', 'public_key and seed are 32 bytes each');
  if (didFromPublicKey(pub) !== kf.did) throw refuse('invalid_key_file', 'the did is not the DID of public_key');
  let privateKey;
  try {
    privateKey = await crypto.subtle.importKey('jwk', {kty: 'OKP', crv: 'Ed25519', d: kf.seed, x: kf.public_key}, ED25519, false, ['sign']);
  } catch (e) {
    throw refuse('invalid_key_file', 'the seed is not an Ed25519 key: ' + e.message);
  }
  const probe = utf8('icn key file check');
  const sig = new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, probe));
  if (!(await verify(pub, '', probe, sig, true))) throw refuse('invalid_key_file', 'the seed does not make public_key');
  return {did: kf.did, publicKey: pub, privateKey};
}

// verify checks an Ed25519 signature over TAG, 0x0A, PAYLOAD (raw: over
// payload alone).
export async function verify(publicKey, tag, payload, signature, raw = false) {
  const k = await crypto.subtle.importKey('raw', publicKey, ED25519, false, ['verify']);
  return crypto.subtle.verify(ED25519, k, signature, raw ? payload : signingInput(tag, payload));
}

// WebCryptoSigner signs for one DID with one of its device keys (a
// CryptoKey, which may be non-extractable). Any object with did, device and
// sign(tag, payload) → Promise<Uint8Array> works where a signer is asked for
// (a hardware key, another Ed25519 library).
export class WebCryptoSigner {
  constructor({did, privateKey, device = 'primary'}) {
    publicKeyOf(did);
    this.did = did;
    this.privateKey = privateKey;
    this.device = device;
  }

  async sign(tag, payload) {
    return new Uint8Array(await crypto.subtle.sign(ED25519, this.privateKey, signingInput(tag, payload)));
  }
}

// ---------------------------------------------------------------- ids, times, amounts

// newPaymentID returns a UUIDv7: unique, ordered by time (as the Go client).
export function newPaymentID(now = Date.now()) {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let ms = BigInt(now);
  for (let i = 5; i >= 0; i--) {
    b[i] = Number(ms & 0xffn);
    ms >>= 8n;
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// formatTime is the API's RFC 3339 UTC form, to the second.
export function formatTime(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// checkAmount refuses what the gateway would refuse as invalid_amount for a
// payment: not a positive decimal string with at most scale decimals.
export function checkAmount(amount, scale = 2) {
  const re = scale > 0 ? new RegExp(`^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,${scale}})?$`) : /^(0|[1-9][0-9]{0,17})$/;
  if (typeof amount !== 'string' || !re.test(amount) || /^[0.]+$/.test(amount)) {
    throw refuse('invalid_amount', `an amount is a positive decimal with at most ${scale} decimals, like 2.50`);
  }
  return amount;
}

// ---------------------------------------------------------------- votes

// Vote choices (docs/governance.md, "Votes").
export const CHOICES = Object.freeze(['for', 'against', 'abstain']);

// wellFormed reports whether s holds no lone surrogate (which has no UTF-8
// form, and which the node's strict decoder refuses as an escape).
function wellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

// jsonString is s as Go's encoding/json writes it with HTML escaping off,
// which is JSON.stringify's form but for U+2028 and U+2029, which Go
// escapes (\u2028, \u2029) and JSON.stringify leaves as they are. (Both
// write \" \\ \b \f \n \r \t, other control characters as \u00xx in lower
// case, and everything else, DEL and non-ASCII included, as it is.)
function jsonString(s) {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

// encodeVote returns a vote's canonical bytes (docs/governance.md, "The
// bytes a wallet signs"): compact JSON, the six fields in order, exactly
// the bytes Go's VoteBody.Encode makes for the same fields
// (governance/testdata/vote-vector.json checks both). It checks only what
// the encoding needs (strings, a revision from 1 to 4294967295): the node
// checks the rest.
export function encodeVote({coop, proposal, voter, choice, revision, created_at}) {
  const fields = {coop, proposal, voter, choice, created_at};
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v !== 'string') throw refuse('invalid_vote', `a vote's ${k} is a string`);
    if (!wellFormed(v)) throw refuse('invalid_vote', `a vote's ${k} holds a lone surrogate`);
  }
  if (!Number.isInteger(revision) || revision < 1 || revision > 4294967295) {
    throw refuse('invalid_vote', 'a vote\'s revision is a whole number from 1 to 4294967295');
  }
  return utf8(`{"coop":${jsonString(coop)},"proposal":${jsonString(proposal)},"voter":${jsonString(voter)},` +
    `"choice":${jsonString(choice)},"revision":${revision},"created_at":${jsonString(created_at)}}`);
}

// latestRevision is the highest revision among did's ballots in a
// proposal as the gateway shows it (0: none).
export function latestRevision(proposal, did) {
  let r = 0;
  for (const b of (proposal && proposal.ballots) || []) {
    if (b.voter === did && b.revision > r) r = b.revision;
  }
  return r;
}

// ---------------------------------------------------------------- payment requests

// A payment request is what a payee shows (as a QR code or text) for a payer
// to pay: icn:pay?to=<DID>&coop=<co-op id>&amount=2.50&currency=hours&memo=...
// amount is optional (the payer fills it in); currency defaults to hours.
export function encodePaymentRequest({to, coop, amount = '', currency = DEFAULT_CURRENCY, memo = ''}) {
  publicKeyOf(to);
  if (!coop) throw refuse('invalid_request', 'a payment request names the payee\'s co-op');
  const q = new URLSearchParams({to, coop});
  if (amount) q.set('amount', checkAmount(amount, 9));
  if (currency) q.set('currency', currency);
  if (memo) q.set('memo', memo);
  return 'icn:pay?' + q.toString();
}

// parsePaymentRequest reads a payment request strictly; it throws an
// ICNError with code invalid_request naming what is wrong.
export function parsePaymentRequest(text) {
  const s = String(text).trim();
  if (!s.startsWith('icn:pay?')) throw refuse('invalid_request', 'a payment request starts with icn:pay?');
  const q = new URLSearchParams(s.slice('icn:pay?'.length));
  for (const k of new Set(q.keys())) {
    if (q.getAll(k).length > 1) throw refuse('invalid_request', `${k} appears twice in the payment request`);
  }
  const to = q.get('to') || '';
  if (!isDID(to)) throw refuse('invalid_request', 'the payment request\'s to is not a DID');
  const coop = q.get('coop') || '';
  if (coop.length < 1 || coop.length > 64) throw refuse('invalid_request', 'the payment request names no co-op');
  const amount = q.get('amount') || '';
  if (amount) checkAmount(amount, 9);
  const currency = q.get('currency') || DEFAULT_CURRENCY;
  if (!/^[a-z0-9_]{1,16}$/.test(currency)) throw refuse('invalid_request', 'the payment request\'s currency is not a currency code');
  return {to, coop, amount, currency, memo: q.get('memo') || ''};
}

// ---------------------------------------------------------------- client

// ICNClient talks to one co-op node's gateway.
export class ICNClient {
  // baseURL: the node's address ('' or omitted: this page's origin).
  // coop: the co-op's id. timeout: ms a call may take before it counts as
  // unanswered (30 s, as the Go client; 0: none). fetch, WebSocket, now:
  // replaceable (tests, other hosts).
  constructor({baseURL = '', coop, timeout = 30000, fetch: f, WebSocket: W, now} = {}) {
    if (!coop) throw new TypeError('ICNClient: coop is required');
    this.timeout = timeout;
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.coop = coop;
    this.fetch = f || globalThis.fetch.bind(globalThis);
    this.WebSocket = W || globalThis.WebSocket;
    this.now = now || (() => Date.now());
  }

  // request sends one call and returns the decoded JSON answer; a non-2xx
  // answer throws ICNError, no answer NetworkError.
  async request(method, path, {token, body} = {}) {
    const headers = {Accept: 'application/json'};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    let resp;
    try {
      resp = await this.fetch(this.baseURL + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store', credentials: 'omit',
        signal: this.timeout > 0 ? AbortSignal.timeout(this.timeout) : undefined,
      });
    } catch (e) {
      throw new NetworkError(e);
    }
    let text;
    try {
      text = await resp.text();
    } catch (e) {
      throw new NetworkError(e);
    }
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const err = data && data.error;
      const ra = Number(resp.headers.get('Retry-After')) || 0;
      if (err && typeof err.code === 'string') throw new ICNError(resp.status, err.code, err.message || '', ra);
      throw new ICNError(resp.status, '', text.slice(0, 200) || resp.statusText, ra);
    }
    if (data === null) throw new ICNError(resp.status, 'invalid_response', `${method} ${path}: the answer is not JSON`);
    return data;
  }

  // ready reads /readyz (no login).
  ready() {
    return this.request('GET', '/readyz');
  }

  // login proves control of signer's key (challenge, signature, verify) and
  // returns a Session. A DID without membership gets roles [] (it may apply).
  async login(signer) {
    if (!signer || !signer.did) throw new TypeError('login: a signer with a did is required');
    const ch = await this.request('POST', '/auth/challenge', {body: {did: signer.did}});
    const nonce = b64decode(ch.nonce);
    const sig = await signer.sign(TAG.login, loginPayload(this.coop, nonce));
    const start = this.now();
    const tr = await this.request('POST', '/auth/verify', {
      body: {did: signer.did, nonce: ch.nonce, signature: b64encode(sig), coop_id: this.coop},
    });
    const s = new Session(this, signer);
    s._set(tr, start);
    return s;
  }
}

const seg = encodeURIComponent;

// Session is a logged-in DID. Its calls send the access token and, when the
// gateway says it expired, refresh it once and retry.
export class Session {
  constructor(client, signer) {
    this.client = client;
    this.signer = signer;
    this.did = signer.did;
    this.coop = client.coop;
    this.token = '';
    this.refreshToken = '';
    this.roles = [];
    this.expiresAt = 0;
    this._refreshing = null;
  }

  _set(tr, start) {
    if (!tr || !tr.token) throw new ICNError(200, 'invalid_response', 'the gateway returned no token');
    this.token = tr.token;
    if (tr.refresh_token) this.refreshToken = tr.refresh_token;
    this.roles = Array.isArray(tr.roles) ? tr.roles : [];
    this.expiresAt = tr.expires_in > 0 ? start + tr.expires_in * 1000 : 0;
  }

  hasRole(role) {
    return this.roles.includes(role);
  }

  get isMember() {
    return this.hasRole('member');
  }

  // refresh exchanges the refresh token (single use) for a new pair. Calls
  // made while one exchange runs share it: a refresh token is never sent
  // twice, which would close the session (refresh_reused).
  refresh() {
    if (this._refreshing) return this._refreshing;
    this._refreshing = (async () => {
      if (!this.refreshToken) throw new ICNError(401, 'invalid_token', 'this session has no refresh token; log in again');
      const start = this.client.now();
      const tr = await this.client.request('POST', '/auth/refresh', {body: {refresh_token: this.refreshToken}});
      this._set(tr, start);
    })().finally(() => {
      this._refreshing = null;
    });
    return this._refreshing;
  }

  // freshToken returns an access token valid for at least margin ms,
  // refreshing first if needed.
  async freshToken(margin = 30000) {
    if (this._refreshing) await this._refreshing;
    if (this.expiresAt && this.expiresAt - this.client.now() < margin) await this.refresh();
    return this.token;
  }

  async request(method, path, body) {
    await this.freshToken(5000);
    const token = this.token;
    try {
      return await this.client.request(method, path, {token, body});
    } catch (e) {
      if (e instanceof ICNError && e.status === 401 && e.code === 'token_expired') {
        if (this.token === token) await this.refresh();
        return this.client.request(method, path, {token: this.token, body});
      }
      throw e;
    }
  }

  // -------- payments

  // signPayment fills and signs a payment intent without sending it: the
  // exact bytes and signature to send now or later (PaymentOutbox). Missing
  // fields are filled as the Go client does: id (UUIDv7), from (this DID),
  // to_coop (this co-op), currency (hours), created_at (now), expires_at
  // (+5 min).
  async signPayment(intent, signer = this.signer) {
    const now = this.client.now();
    const created = intent.created_at || formatTime(now);
    const full = {
      id: intent.id || newPaymentID(now),
      from: intent.from || signer.did,
      to: intent.to,
      to_coop: intent.to_coop || this.coop,
      amount: intent.amount,
      currency: intent.currency || DEFAULT_CURRENCY,
      memo: intent.memo || '',
      created_at: created,
      expires_at: intent.expires_at || formatTime(Date.parse(created) + PAYMENT_TTL_MS),
    };
    const bytes = utf8(JSON.stringify(full));
    const signature = await signer.sign(TAG.payment, bytes);
    return {id: full.id, intent: full, bytes, signature};
  }

  // pay signs intent and sends it. A decision (committed, pending,
  // rejected) is a result, not an error. To retry after a NetworkError, send
  // the same signed bytes again (payRaw): the gateway answers a repeated id
  // with its first outcome and moves nothing twice.
  async pay(intent, signer = this.signer) {
    const s = await this.signPayment(intent, signer);
    return this.payRaw(s.bytes, s.signature);
  }

  payRaw(bytes, signature) {
    return this.request('POST', `/ledger/${seg(this.coop)}/payment`, {intent: b64encode(bytes), signature: b64encode(signature)});
  }

  paymentStatus(id) {
    return this.request('GET', `/payments/${seg(this.coop)}/${seg(id)}`);
  }

  balance({did = this.did, currency = ''} = {}) {
    const q = currency ? '?' + new URLSearchParams({currency}) : '';
    return this.request('GET', `/ledger/${seg(this.coop)}/balance/${seg(did)}${q}`);
  }

  // history reads one page, newest first; pass the answer's next as before
  // for the following page ('' at the end).
  async history({did = this.did, limit = 0, before = ''} = {}) {
    const q = new URLSearchParams();
    if (limit) q.set('limit', String(limit));
    if (before) q.set('before', before);
    const qs = q.toString() ? '?' + q : '';
    const h = await this.request('GET', `/ledger/${seg(this.coop)}/history/${seg(did)}${qs}`);
    return {entries: h.entries || [], next: h.next || ''};
  }

  // -------- membership

  async apply({inviteCode, name, email}, signer = this.signer) {
    const bytes = utf8(JSON.stringify({did: signer.did, invite_code: inviteCode, name, email}));
    const sig = await signer.sign(TAG.application, bytes);
    return this.request('POST', `/membership/${seg(this.coop)}/applications`, {application: b64encode(bytes), signature: b64encode(sig)});
  }

  member(did = this.did) {
    return this.request('GET', `/membership/${seg(this.coop)}/members/${seg(did)}`);
  }

  // directory reads one page of the co-op's members ({did, name}), ordered
  // by DID; pass next as after for the following page.
  async directory({limit = 0, after = ''} = {}) {
    const q = new URLSearchParams();
    if (limit) q.set('limit', String(limit));
    if (after) q.set('after', after);
    const qs = q.toString() ? '?' + q : '';
    const d = await this.request('GET', `/membership/${seg(this.coop)}/members${qs}`);
    return {members: d.members || [], next: d.next || ''};
  }

  // directoryAll reads every page of the directory.
  async directoryAll() {
    const out = [];
    let after = '';
    do {
      const p = await this.directory({limit: 500, after});
      out.push(...p.members);
      after = p.next;
    } while (after);
    return out;
  }

  async createInvite() {
    return this.request('POST', `/membership/${seg(this.coop)}/invites`, {});
  }

  approve(applicationID) {
    return this.request('POST', `/membership/${seg(this.coop)}/applications/${seg(applicationID)}/approve`, {});
  }

  revokeMember(did) {
    return this.request('DELETE', `/membership/${seg(this.coop)}/members/${seg(did)}`);
  }

  // setRole grants (grant true) or revokes role for did (role moderator):
  // {did, role, roles, changed}.
  setRole(did, role, grant) {
    return this.request(grant ? 'PUT' : 'DELETE', `/membership/${seg(this.coop)}/members/${seg(did)}/roles/${seg(role)}`);
  }

  // -------- governance

  // proposals lists the co-op's proposals (status: open, discussion,
  // voting, closing, passed, failed, cancelled; '' for all).
  async proposals({status = ''} = {}) {
    const q = status ? '?' + new URLSearchParams({status}) : '';
    const r = await this.request('GET', `/governance/${seg(this.coop)}/proposals${q}`);
    return r.proposals || [];
  }

  proposal(id) {
    return this.request('GET', `/governance/${seg(this.coop)}/proposals/${seg(id)}`);
  }

  // signVote builds and signs a vote without sending it: {vote, bytes,
  // signature}. The signer must be the DID's own key (device 'primary'):
  // device keys cannot sign votes. Without revision it reads the proposal
  // and takes one above the signer's latest recorded vote, so signing again
  // with another choice changes the vote.
  async signVote({proposal, choice, revision = 0, created_at = ''}, signer = this.signer) {
    if (!CHOICES.includes(choice)) throw refuse('invalid_vote', 'a choice is for, against or abstain');
    if (!revision) revision = latestRevision(await this.proposal(proposal), signer.did) + 1;
    const vote = {coop: this.coop, proposal, voter: signer.did, choice, revision, created_at: created_at || formatTime(this.client.now())};
    const bytes = encodeVote(vote);
    const signature = await signer.sign(TAG.vote, bytes);
    return {vote, bytes, signature};
  }

  // vote signs a vote (see signVote) and casts it: {recorded, proposal}.
  async vote(proposal, choice, {revision = 0} = {}, signer = this.signer) {
    const s = await this.signVote({proposal, choice, revision}, signer);
    return this.voteRaw(proposal, s.bytes, s.signature);
  }

  // voteRaw casts signed vote bytes as they are: a repeat of recorded bytes
  // is {recorded: false}, not an error.
  voteRaw(proposal, bytes, signature) {
    return this.request('POST', `/governance/${seg(this.coop)}/proposals/${seg(proposal)}/votes`, {vote: b64encode(bytes), signature: b64encode(signature)});
  }

  // -------- devices

  async devices() {
    const d = await this.request('GET', `/devices/${seg(this.did)}`);
    return d.devices || [];
  }

  // addDevice registers another key (publicKey: 32 bytes or base64url) as
  // device deviceId, signed by this session's signer's device.
  async addDevice({deviceId, name = '', publicKey}, signer = this.signer) {
    const pk = typeof publicKey === 'string' ? publicKey : b64encode(publicKey);
    const req = {did: this.did, action: 'add', device_id: deviceId, name, public_key: pk, signed_by: signer.device, at: formatTime(this.client.now())};
    const bytes = utf8(JSON.stringify(req));
    const sig = await signer.sign(TAG.device, bytes);
    const r = await this.request('POST', `/devices/${seg(this.did)}`, {request: b64encode(bytes), signature: b64encode(sig)});
    return r.device;
  }

  async revokeDevice(deviceId, signer = this.signer) {
    const req = {did: this.did, action: 'revoke', device_id: deviceId, signed_by: signer.device, at: formatTime(this.client.now())};
    const bytes = utf8(JSON.stringify(req));
    const sig = await signer.sign(TAG.device, bytes);
    return this.request('DELETE', `/devices/${seg(this.did)}/${seg(deviceId)}`, {request: b64encode(bytes), signature: b64encode(sig)});
  }

  // -------- events

  // subscribe opens the event feed (see Subscription) and returns it, started.
  subscribe(opts = {}) {
    const s = new Subscription(this, opts);
    s.start();
    return s;
  }
}

// ---------------------------------------------------------------- subscription

// Close reasons after which reconnecting cannot help: the gateway closes a
// feed with 1008 (policy violation) and the refusal's code.
const FATAL_CODES = new Set(['session_revoked', 'device_revoked', 'not_member', 'credential_revoked', 'credential_expired', 'forbidden_role', 'invalid_token']);

// Subscription follows a feed over WebSocket: the member's own feed, or the
// co-op's (feed: 'coop', roles moderator and treasurer). Events reach
// onEvent in order, each exactly once: every seq is one more than the one
// before. When one is missing (a gap) it says so (onGap) and reconnects at
// once with since = the last seq delivered, so the gateway replays what was
// missed (a backfill). When the connection drops it reconnects with backoff
// (and at once when the host comes back online), again with since, so
// nothing is lost across the cut. A refusal that reconnecting cannot mend
// (a revoked session, device or membership) ends it (onError, state
// 'failed').
//
// States (onState): connecting, open, waiting (to reconnect), offline,
// failed, closed.
export class Subscription {
  constructor(session, {since = 0, feed = 'member', onEvent, onGap, onState, onError, minBackoff = 250, maxBackoff = 15000} = {}) {
    this.session = session;
    this.lastSeq = since;
    this.feed = feed;
    this.onEvent = onEvent || (() => {});
    this.onGap = onGap || (() => {});
    this.onState = onState || (() => {});
    this.onError = onError || (() => {});
    this.minBackoff = minBackoff;
    this.maxBackoff = maxBackoff;
    this.state = 'closed';
    this.stats = {connects: 0, opens: 0, gaps: 0, backfills: 0, reconnects: 0};
    this.since = []; // the since of each connection, in order (for tests and diagnostics)
    this._ws = null;
    this._timer = null;
    this._failures = 0;
    this._closed = false;
    this._onOnline = () => this._online();
    this._onOffline = () => this._offline();
  }

  start() {
    if (typeof addEventListener === 'function') {
      addEventListener('online', this._onOnline);
      addEventListener('offline', this._onOffline);
    }
    this._connect();
  }

  // close ends the subscription for good.
  close() {
    this._closed = true;
    clearTimeout(this._timer);
    if (typeof removeEventListener === 'function') {
      removeEventListener('online', this._onOnline);
      removeEventListener('offline', this._onOffline);
    }
    this._drop();
    this._setState('closed');
  }

  _setState(s) {
    if (this.state !== s) {
      this.state = s;
      this.onState(s);
    }
  }

  _drop() {
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
  }

  _url(token) {
    const base = this.session.client.baseURL || location.origin;
    const u = new URL(base + `/ws/${seg(this.session.coop)}`);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('since', String(this.lastSeq));
    if (this.feed === 'coop') u.searchParams.set('feed', 'coop');
    // Browsers cannot set headers on a WebSocket: the gateway takes ?token=.
    u.searchParams.set('token', token);
    return u.toString();
  }

  async _connect() {
    if (this._closed) return;
    clearTimeout(this._timer);
    this._drop();
    this._setState('connecting');
    let token;
    try {
      token = await this.session.freshToken();
    } catch (e) {
      return this._failed(e);
    }
    if (this._closed) return;
    this.stats.connects++;
    this.since.push(this.lastSeq);
    if (this.since.length > 100) this.since.shift();
    let ws;
    try {
      ws = new this.session.client.WebSocket(this._url(token));
    } catch (e) {
      return this._retry();
    }
    this._ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this._failures = 0;
      this.stats.opens++;
      this._setState('open');
    };
    ws.onmessage = (m) => {
      if (this._ws !== ws) return;
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        ev = null;
      }
      if (!ev || !Number.isSafeInteger(ev.seq) || ev.seq < 1) {
        // Not an event: start again from the last good one.
        this._drop();
        return this._retry();
      }
      if (ev.seq <= this.lastSeq) return; // seen already
      if (ev.seq !== this.lastSeq + 1) {
        this.stats.gaps++;
        this.stats.backfills++;
        this._drop();
        try {
          this.onGap({after: this.lastSeq, got: ev.seq});
        } finally {
          this._connect(); // since = lastSeq: the gateway replays the missing events
        }
        return;
      }
      this.lastSeq = ev.seq;
      this.onEvent(ev);
    };
    ws.onclose = (e) => {
      if (this._ws !== ws) return;
      this._ws = null;
      if (e.code === 1008 && FATAL_CODES.has(e.reason)) {
        return this._failed(new ICNError(401, e.reason, 'the gateway closed the event feed: ' + e.reason));
      }
      if (!opened) this._failures++;
      this._retry(!opened);
    };
    ws.onerror = () => {}; // onclose follows
  }

  async _retry(handshakeFailed = false) {
    if (this._closed) return;
    if (typeof navigator !== 'undefined' && navigator.onLine === false) return this._setState('offline');
    if (handshakeFailed && this._failures >= 2) {
      // A refused handshake looks like any other failure to a browser: ask
      // the API whether the session still stands (it answers with a code).
      try {
        await this.session.balance();
      } catch (e) {
        if (e instanceof ICNError && (e.status === 401 || e.status === 403)) return this._failed(e);
      }
    }
    this.stats.reconnects++;
    const n = Math.min(this._failures, 16);
    const max = Math.min(this.maxBackoff, this.minBackoff * 2 ** n);
    const delay = this.minBackoff + Math.random() * (max - this.minBackoff);
    this._setState('waiting');
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._connect(), delay);
  }

  _failed(e) {
    if (transient(e)) return this._retry(true);
    this._closed = true;
    this._drop();
    this._setState('failed');
    this.onError(e);
  }

  _online() {
    if (this._closed) return;
    if (this.state === 'offline' || this.state === 'waiting') {
      this._failures = 0;
      this._connect();
    }
  }

  _offline() {
    if (this._closed) return;
    // A connection across a lost network can stay silent for minutes: drop
    // it and reconnect (with since) when the host is back online.
    clearTimeout(this._timer);
    this._drop();
    this._setState('offline');
  }
}

// ---------------------------------------------------------------- offline queue

// MemoryStore keeps outbox entries in memory (see IDBStore in
// icn-store.js for one that survives a reload).
export class MemoryStore {
  constructor() {
    this.m = new Map();
  }
  async all() {
    return [...this.m.values()].map((e) => ({...e}));
  }
  async put(e) {
    this.m.set(e.id, {...e});
  }
  async delete(id) {
    this.m.delete(id);
  }
}

// PaymentOutbox keeps signed payments until the gateway has decided them,
// so that a payment made offline, or whose answer was lost, is sent again
// with its original id and bytes when the node can be reached: the gateway
// answers a repeated id with its first outcome, so a payment is made once
// however often it is sent.
//
// Entries: {id, intent (the intent's fields), bytes, signature (base64url),
// status: 'queued' | 'expired' | 'failed', code, message,
// attempts, queued_at}.
export class PaymentOutbox {
  constructor({store = new MemoryStore(), onChange = () => {}} = {}) {
    this.store = store;
    this.onChange = onChange;
    this._flushing = null;
  }

  // add keeps a signed payment (Session.signPayment's answer) as queued.
  async add(signed) {
    const e = {
      id: signed.id, intent: signed.intent, bytes: b64encode(signed.bytes), signature: b64encode(signed.signature),
      status: 'queued', code: '', message: '', attempts: 0, queued_at: Date.now(),
    };
    await this.store.put(e);
    this.onChange();
    return e;
  }

  async list() {
    const all = await this.store.all();
    return all.sort((a, b) => a.queued_at - b.queued_at || (a.id < b.id ? -1 : 1));
  }

  async remove(id) {
    await this.store.delete(id);
    this.onChange();
  }

  // replace swaps an entry's signed bytes (a payment signed again with the
  // same id after its intent expired unsent) and queues it again.
  async replace(signed) {
    const all = await this.store.all();
    const old = all.find((e) => e.id === signed.id);
    const e = await this.add(signed);
    if (old) {
      e.queued_at = old.queued_at;
      await this.store.put(e);
    }
    return e;
  }

  // flush sends every queued entry, oldest first, as signed. An entry the
  // gateway decided (committed, pending, rejected) leaves the outbox and is
  // returned with its result; one it refused stays, marked failed (or
  // expired: its intent's window passed before it was ever received, so it
  // may be signed again with the same id); on no answer (offline) or a
  // transient refusal the flush stops and the entries stay queued. Flushes do
  // not overlap (across tabs too, where the host has Web Locks).
  flush(session) {
    if (this._flushing) return this._flushing;
    const run = () => this._flush(session);
    const locked = typeof navigator !== 'undefined' && navigator.locks
      ? navigator.locks.request('icn-outbox', run)
      : run();
    this._flushing = Promise.resolve(locked).finally(() => {
      this._flushing = null;
    });
    return this._flushing;
  }

  async _flush(session) {
    const done = [];
    let stopped = null;
    for (const e of await this.list()) {
      if (e.status !== 'queued' || e.intent.from !== session.did) continue;
      e.attempts++;
      let res;
      try {
        res = await session.payRaw(b64decode(e.bytes), b64decode(e.signature));
      } catch (err) {
        if (transient(err) || (err instanceof ICNError && err.status === 401)) {
          e.code = err instanceof ICNError ? err.code : 'network';
          e.message = err.message;
          await this.store.put(e);
          stopped = err;
          break;
        }
        e.status = err.code === 'intent_expired' ? 'expired' : 'failed';
        e.code = err.code || String(err.status);
        e.message = err.message;
        await this.store.put(e);
        done.push({entry: e, error: err});
        continue;
      }
      await this.store.delete(e.id);
      done.push({entry: e, result: res});
    }
    this.onChange();
    return {done, stopped};
  }
}
