// The tests of icn.js and icn-store.js, run in Chromium by
// coopnode/wallet/jsclient_browser_test.go against a real co-op node (the
// page is served by the same origin, under the wallet's CSP). fixture.json
// holds what the Go side made: the co-op id, the admin's key file, a
// signature and base58 vectors computed by the Go identity package.
import {test, ok, eq, rejects, throws, until, run} from './harness.js';
import * as icn from '/wallet/icn.js';
import {openWalletDB} from '/wallet/icn-store.js';

const fx = await (await fetch('fixture.json', {cache: 'no-store'})).json();
const client = new icn.ICNClient({coop: fx.coop});
const admin = await client.login(new icn.WebCryptoSigner(await icn.importKeyFile(fx.admin)));

let seq = 0;
// member makes a new key a member through the API: login (roles []),
// application with an invite, approval by the admin, login again.
async function member(name, c = client) {
  const k = await icn.generateKey();
  const signer = new icn.WebCryptoSigner(k);
  const first = await c.login(signer);
  eq(first.roles, [], 'roles before joining');
  const inv = await admin.createInvite();
  const app = await first.apply({inviteCode: inv.code, name: `${name}-${++seq}`, email: `${name}@example.org`});
  eq(app.status, 'pending');
  await admin.approve(app.id);
  const s = await c.login(signer);
  ok(s.isMember, 'member after approval');
  return {k, signer, s, name: `${name}-${seq}`};
}

function fromB64(s) {
  return icn.b64decode(s);
}

// ------------------------------------------------------------ encodings

test('base64url: round trip, no padding, strict', () => {
  for (const n of [0, 1, 2, 3, 4, 31, 32, 33]) {
    const b = crypto.getRandomValues(new Uint8Array(n));
    const s = icn.b64encode(b);
    ok(!/[=+/]/.test(s), `no padding or +/ in ${s}`);
    eq(icn.b64decode(s), b);
  }
  eq(icn.b64encode(new Uint8Array([0xfb, 0xff, 0xbf])), '-_-_');
  for (const bad of ['ab=', 'a+b/', 'a', 'ab c', 'AB==']) throws(() => icn.b64decode(bad), 'invalid_encoding', bad);
  throws(() => icn.b64decode('AB'), 'invalid_encoding', 'non-canonical trailing bits'); // 'AA' is canonical for one zero byte
  eq(icn.b64decode('AA'), new Uint8Array([0]));
});

test('base58btc agrees with the Go encoder', () => {
  ok(fx.base58.length >= 5);
  for (const v of fx.base58) {
    const b = fromB64(v.bytes);
    eq(icn.base58encode(b), v.text, `encode ${v.bytes}`);
    eq(icn.base58decode(v.text), b, `decode ${v.text}`);
  }
  throws(() => icn.base58decode('0OIl'), 'invalid_encoding');
});

test('DIDs: from public keys as Go makes them, parsed strictly', () => {
  for (const d of fx.dids) {
    eq(icn.didFromPublicKey(fromB64(d.public_key)), d.did);
    eq(icn.publicKeyOf(d.did), fromB64(d.public_key));
  }
  const b58 = (n, fill) => 'did:icn:' + icn.base58encode(new Uint8Array(n).fill(fill));
  for (const bad of ['did:key:z6Mk', 'did:icn:', 'did:icn:0OIl', 'did:icn:11111111', b58(31, 7), b58(33, 7), ' ' + fx.dids[0].did, fx.dids[0].did.slice(0, 12) + '0' + fx.dids[0].did.slice(13)]) {
    throws(() => icn.publicKeyOf(bad), 'invalid_did', bad);
    ok(!icn.isDID(bad), bad);
  }
  eq(icn.shortDID('did:icn:ABCDEFGHJKLMNPQRSTUVWXYZ'), 'did:icn:ABCDEF…WXYZ');
});

// ------------------------------------------------------------ keys and signatures

test('WebCrypto Ed25519 is there (no fallback needed in this browser)', async () => {
  ok(await icn.hasEd25519(), 'crypto.subtle Ed25519');
});

test('signatures match the Go signer byte for byte', async () => {
  const v = fx.signature;
  const k = await icn.importKeyFile({did: v.did, public_key: v.public_key, seed: v.seed});
  eq(k.did, v.did);
  eq(k.privateKey.extractable, false, 'imported key is non-extractable');
  const signer = new icn.WebCryptoSigner(k);
  const sig = await signer.sign(v.tag, fromB64(v.payload));
  eq(icn.b64encode(sig), v.signature);
  ok(await icn.verify(k.publicKey, v.tag, fromB64(v.payload), sig));
  ok(!(await icn.verify(k.publicKey, 'icn/v1/device', fromB64(v.payload), sig)), 'another tag does not verify');
  eq(icn.signingInput('t', new Uint8Array([1, 2])), new Uint8Array([0x74, 0x0a, 1, 2]));
  eq(icn.loginPayload('co', new Uint8Array([9])), new Uint8Array([0x63, 0x6f, 0x0a, 9]));
});

// ------------------------------------------------------------ votes

test('votes: encodeVote makes the bytes Go\'s VoteBody.Encode makes (the shared vectors)', () => {
  ok(fx.votes.encodings.length >= 3, 'vectors');
  for (const c of fx.votes.encodings) eq(icn.b64encode(icn.encodeVote(c.vote)), c.bytes_b64, c.comment);
  const text = new TextDecoder().decode(icn.encodeVote(fx.votes.encodings[2].vote));
  ok(text.includes('x\\u2028y\\u2029z'), 'U+2028 and U+2029 escaped: ' + text);
  ok(!text.includes('\u2028'), 'no raw U+2028');
  const good = fx.votes.encodings[0].vote;
  throws(() => icn.encodeVote({...good, coop: 'a\ud800'}), 'invalid_vote', 'lone surrogate');
  for (const revision of [0, -1, 1.5, 4294967296, '1']) throws(() => icn.encodeVote({...good, revision}), 'invalid_vote', `revision ${revision}`);
  throws(() => icn.encodeVote({...good, choice: 1}), 'invalid_vote', 'a number as choice');
});

test('votes: the signing vector signs as Go signs it, under icn/v1/vote only', async () => {
  const v = fx.votes;
  const k = await icn.importKeyFile({did: v.did, public_key: icn.b64encode(icn.publicKeyOf(v.did)), seed: v.seed});
  const bytes = icn.encodeVote({coop: 'riverside', proposal: 'prop-2026-03-credit', voter: v.did, choice: 'for', revision: 1, created_at: '2026-03-09T09:00:00Z'});
  eq(new TextDecoder().decode(bytes), v.vote);
  eq(icn.b64encode(bytes), v.vote_b64);
  const sig = await new icn.WebCryptoSigner(k).sign(icn.TAG.vote, bytes);
  eq(icn.b64encode(sig), v.signature);
  ok(!(await icn.verify(k.publicKey, icn.TAG.payment, bytes, sig)), 'a vote signature is no payment signature');
});

test('governance: list, read, vote, change the vote, repeat harmlessly', async () => {
  const m = await member('voter');
  const id = 'js-prop-' + Date.now();
  await admin.request('POST', `/governance/${fx.coop}/proposals`, {id, kind: 'economic', title: 'JS test proposal',
    change: {default_credit_limit: {amount: '60', currency: 'hours'}}});
  const list = await m.s.proposals({status: 'voting'});
  ok(list.some((p) => p.id === id), 'the proposal is listed as voting');
  let p = await m.s.proposal(id);
  eq(p.phase, 'voting');
  eq(icn.latestRevision(p, m.k.did), 0);
  let r = await m.s.vote(id, 'for');
  eq(r.recorded, true);
  eq(icn.latestRevision(r.proposal, m.k.did), 1);
  const mine = r.proposal.ballots.find((b) => b.voter === m.k.did);
  eq(mine.choice, 'for');
  // The recorded bytes are the ones encodeVote makes, and they verify.
  const raw = icn.b64decode(mine.vote);
  eq(icn.b64encode(icn.encodeVote(JSON.parse(new TextDecoder().decode(raw)))), mine.vote);
  ok(await icn.verify(m.k.publicKey, icn.TAG.vote, raw, icn.b64decode(mine.signature)), 'the ballot verifies');
  // Sending the same bytes again records nothing; a lower revision is refused.
  eq((await m.s.voteRaw(id, raw, icn.b64decode(mine.signature))).recorded, false);
  r = await m.s.vote(id, 'against');
  eq(icn.latestRevision(r.proposal, m.k.did), 2);
  await rejects(m.s.vote(id, 'abstain', {revision: 1}), 'already_voted');
  await rejects(m.s.vote(id, 'maybe'), 'invalid_vote');
  const counted = r.proposal.tally.counted.find((c) => c.member === m.k.did);
  eq(counted.choice, 'against');
});

test('roles: a moderator grants and revokes, a repeat changes nothing, a member may not', async () => {
  const m = await member('roles');
  let r = await admin.setRole(m.k.did, 'steward', true);
  eq([r.changed, r.roles], [true, ['member', 'steward']]);
  r = await admin.setRole(m.k.did, 'steward', true);
  eq(r.changed, false);
  await rejects(m.s.setRole(m.k.did, 'moderator', true), 'forbidden_role');
  await rejects(admin.setRole(m.k.did, 'member', false), 'member_role');
  r = await admin.setRole(m.k.did, 'steward', false);
  eq([r.changed, r.roles], [true, ['member']]);
});

test('generateKey: a key file once, a non-extractable key kept', async () => {
  const k = await icn.generateKey();
  eq(Object.keys(k.keyFile), ['did', 'public_key', 'seed']);
  eq(k.keyFile.did, k.did);
  eq(icn.publicKeyOf(k.did), k.publicKey);
  eq(k.privateKey.extractable, false);
  await rejects(crypto.subtle.exportKey('jwk', k.privateKey), 'InvalidAccessError', 'the stored key cannot be read back');
  const again = await icn.importKeyFile(JSON.stringify(k.keyFile));
  eq(again.did, k.did);
  const msg = icn.utf8('same key');
  const s1 = await new icn.WebCryptoSigner(k).sign(icn.TAG.payment, msg);
  const s2 = await new icn.WebCryptoSigner(again).sign(icn.TAG.payment, msg);
  eq(s1, s2, 'the key file makes the same key');
});

test('importKeyFile refuses broken key files', async () => {
  const a = (await icn.generateKey()).keyFile;
  const b = (await icn.generateKey()).keyFile;
  const cases = [
    ['not json', '{'],
    ['missing seed', {did: a.did, public_key: a.public_key}],
    ['another key\'s DID', {...a, did: b.did}],
    ['another key\'s seed', {...a, seed: b.seed}],
    ['padded base64', {...a, seed: a.seed + '='}],
    ['short seed', {...a, seed: icn.b64encode(new Uint8Array(31))}],
    ['number', {...a, seed: 7}],
  ];
  for (const [name, kf] of cases) await rejects(icn.importKeyFile(kf), 'invalid_key_file', name);
});

// ------------------------------------------------------------ ids, amounts, payment requests

test('payment ids are UUIDv7, ordered by time', () => {
  const a = icn.newPaymentID(1700000000000);
  const b = icn.newPaymentID(1700000000001);
  ok(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(a), a);
  ok(a < b, 'later id sorts after');
  ok(a.startsWith('018bcfe5-6800'), a);
  eq(icn.formatTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05Z');
});

test('checkAmount: what the gateway would call invalid_amount', () => {
  for (const good of ['1', '0.01', '2.5', '2.50', '100000']) eq(icn.checkAmount(good, 2), good);
  for (const bad of ['0', '0.00', '-1', '+1', '1.005', '1e3', ' 1', '1,50', '01', '.5', '', 'NaN']) throws(() => icn.checkAmount(bad, 2), 'invalid_amount', bad);
  throws(() => icn.checkAmount('1.5', 0), 'invalid_amount');
});

test('payment requests: encode, parse, refuse', async () => {
  const did = fx.dids[0].did;
  const text = icn.encodePaymentRequest({to: did, coop: 'riverside', amount: '2.50', memo: 'bread & jam'});
  ok(text.startsWith('icn:pay?to=did%3Aicn%3A'), text);
  eq(icn.parsePaymentRequest(' ' + text + '\n'), {to: did, coop: 'riverside', amount: '2.50', currency: 'hours', memo: 'bread & jam'});
  eq(icn.parsePaymentRequest(`icn:pay?to=${did}&coop=x`), {to: did, coop: 'x', amount: '', currency: 'hours', memo: ''});
  for (const [name, bad] of [
    ['no scheme', `pay?to=${did}&coop=x`],
    ['bad DID', 'icn:pay?to=did:icn:nope&coop=x'],
    ['no co-op', `icn:pay?to=${did}`],
    ['bad amount', `icn:pay?to=${did}&coop=x&amount=-1`],
    ['two amounts', `icn:pay?to=${did}&coop=x&amount=1&amount=100`],
    ['bad currency', `icn:pay?to=${did}&coop=x&currency=HOURS!`],
  ]) throws(() => icn.parsePaymentRequest(bad), name === 'bad amount' ? 'invalid_amount' : 'invalid_request', name);
});

// ------------------------------------------------------------ login, refresh

test('login: roles from the co-op, a non-member gets none', async () => {
  ok(admin.hasRole('moderator') && admin.isMember, `admin roles ${admin.roles}`);
  ok(admin.expiresAt > Date.now() + 50 * 60 * 1000, 'token for about an hour');
  const stranger = await client.login(new icn.WebCryptoSigner(await icn.generateKey()));
  eq(stranger.roles, []);
  await rejects(stranger.balance(), 'not_member');
  const other = new icn.ICNClient({coop: 'another-coop'});
  await rejects(other.login(new icn.WebCryptoSigner(await icn.generateKey())), 'wrong_coop');
});

test('refresh: one exchange for concurrent callers; a reused token closes the session', async () => {
  let exchanges = 0;
  const c = new icn.ICNClient({coop: fx.coop, fetch: (u, o) => {
    if (String(u).endsWith('/auth/refresh')) exchanges++;
    return fetch(u, o);
  }});
  const {signer} = await member('refresher');
  const s = await c.login(signer);
  const old = s.refreshToken;
  await Promise.all([s.refresh(), s.refresh(), s.refresh()]);
  eq(exchanges, 1, 'exchanges');
  ok(s.refreshToken && s.refreshToken !== old, 'a new refresh token');
  await s.balance();
  await rejects(c.request('POST', '/auth/refresh', {body: {refresh_token: old}}), 'refresh_reused');
  await rejects(s.balance(), 'session_revoked');
});

test('an expired token is refreshed once and the call retried', async () => {
  let refreshes = 0;
  let expireNext = false;
  const c = new icn.ICNClient({coop: fx.coop, fetch: (u, o) => {
    u = String(u);
    if (u.endsWith('/auth/refresh')) refreshes++;
    if (expireNext && u.includes('/balance/')) {
      expireNext = false;
      return Promise.resolve(new Response('{"error":{"code":"token_expired","message":"expired"}}', {status: 401, headers: {'Content-Type': 'application/json'}}));
    }
    return fetch(u, o);
  }});
  const {signer} = await member('expiring');
  const s = await c.login(signer);
  const tok = s.token;
  expireNext = true;
  const b = await s.balance();
  eq(b.balance, '0.00');
  eq(refreshes, 1);
  ok(s.token !== tok, 'a new access token');
});

test('a call that gets no answer in time is a NetworkError', async () => {
  const c = new icn.ICNClient({coop: fx.coop, timeout: 50, fetch: (u, o) => new Promise((_, rej) => {
    o.signal.addEventListener('abort', () => rej(o.signal.reason));
  })});
  const e = await rejects(c.ready(), 'NetworkError');
  ok(icn.transient(e), 'may be sent again');
});

// ------------------------------------------------------------ membership and directory

test('apply, approve, directory, member', async () => {
  const m = await member('joiner');
  const rec = await m.s.member();
  eq([rec.did, rec.status, rec.roles], [m.k.did, 'active', ['member']]);
  const dir = await m.s.directoryAll();
  const me = dir.find((x) => x.did === m.k.did);
  ok(me, 'the new member is in the directory');
  eq(me.name, m.name);
  eq(Object.keys(me).sort(), ['did', 'name'], 'a DID and a name, nothing else');
  ok(dir.some((x) => x.did === admin.did), 'the admin is in it');
  const page = await m.s.directory({limit: 1});
  eq(page.members.length, 1);
  ok(page.next, 'a next cursor');
  const page2 = await m.s.directory({limit: 1, after: page.next});
  ok(page2.members[0].did > page.members[0].did, 'ordered by DID');
  const inv = await admin.createInvite();
  const stranger = await client.login(new icn.WebCryptoSigner(await icn.generateKey()));
  await rejects(stranger.directory(), 'not_member');
  ok(inv.code);
});

// ------------------------------------------------------------ payments

test('pay: committed once, a repeat of the same signed bytes moves nothing', async () => {
  const a = await member('payer');
  const b = await member('payee');
  const signed = await a.s.signPayment({to: b.k.did, amount: '1.25', memo: 'twice sent, once paid'});
  eq(Object.keys(signed.intent), ['id', 'from', 'to', 'to_coop', 'amount', 'currency', 'memo', 'created_at', 'expires_at']);
  eq(Date.parse(signed.intent.expires_at) - Date.parse(signed.intent.created_at), 5 * 60 * 1000);
  const r1 = await a.s.payRaw(signed.bytes, signed.signature);
  eq([r1.id, r1.status], [signed.id, 'committed']);
  ok(r1.entry_hash, 'entry hash');
  const r2 = await a.s.payRaw(signed.bytes, signed.signature);
  eq(r2, r1, 'the first outcome again');
  eq((await a.s.balance()).balance, '-1.25');
  eq((await b.s.balance()).balance, '1.25');
  eq((await a.s.paymentStatus(signed.id)).status, 'committed');
  const h = await b.s.history();
  eq(h.entries.map((e) => [e.id, e.amount, e.from, e.memo]), [[signed.id, '1.25', a.k.did, 'twice sent, once paid']]);
});

test('pay: the gateway\'s refusals are ICNErrors with its codes', async () => {
  const a = await member('refused');
  const b = await member('refused-payee');
  const e = await rejects(a.s.pay({to: b.k.did, amount: '1.005'}), 'invalid_amount');
  eq(e.status, 400);
  await rejects(a.s.pay({to: b.k.did, amount: '1', currency: 'euros'}), 'unknown_currency');
  await rejects(a.s.balance({did: b.k.did}), 'forbidden');
  const r = await a.s.pay({to: b.k.did, amount: '1000'});
  eq([r.status, r.reason], ['rejected', 'insufficient_credit']);
  // A payment request of another co-op pays across co-ops (to_coop); this
  // node has no hub, so it has no route there.
  const req = icn.parsePaymentRequest(icn.encodePaymentRequest({to: b.k.did, coop: 'elsewhere', amount: '1.00'}));
  const x = await a.s.pay({to: req.to, to_coop: req.coop, amount: req.amount, currency: req.currency});
  eq([x.status, x.reason], ['rejected', 'no_route']);
});

test('history pages, newest first', async () => {
  const a = await member('pager');
  const b = await member('pagee');
  const ids = [];
  for (const amt of ['0.10', '0.20', '0.30']) ids.push((await a.s.pay({to: b.k.did, amount: amt})).id);
  const p1 = await a.s.history({limit: 2});
  eq(p1.entries.map((e) => e.id), [ids[2], ids[1]]);
  ok(p1.next, 'a cursor');
  const p2 = await a.s.history({limit: 2, before: p1.next});
  eq(p2.entries.map((e) => e.id), [ids[0]]);
  eq(p2.next, '');
});

// ------------------------------------------------------------ devices

test('devices: add, log in with it, list, revoke', async () => {
  const a = await member('devices');
  const phone = await icn.generateKey();
  const d = await a.s.addDevice({deviceId: 'phone', name: 'Phone', publicKey: phone.publicKey});
  eq([d.id, d.status, d.public_key], ['phone', 'active', icn.b64encode(phone.publicKey)]);
  const phoneSigner = new icn.WebCryptoSigner({did: a.k.did, privateKey: phone.privateKey, device: 'phone'});
  const ps = await client.login(phoneSigner);
  ok(ps.isMember, 'the device logs in as the member');
  eq((await ps.balance()).did, a.k.did);
  eq((await a.s.devices()).map((x) => [x.id, x.status]), [['primary', 'active'], ['phone', 'active']]);
  await a.s.revokeDevice('phone');
  const after = await a.s.devices();
  eq(after.map((x) => [x.id, x.status]), [['primary', 'active'], ['phone', 'revoked']]);
  ok(after[1].revoked_at, 'revoked_at');
  await rejects(ps.balance(), 'device_revoked');
  await rejects(client.login(phoneSigner), 'invalid_signature');
});

// ------------------------------------------------------------ subscription: real gateway

test('subscribe: events in order, live, and since resumes after the last', async () => {
  const a = await member('streamer');
  const b = await member('listener');
  const got = [];
  const sub = b.s.subscribe({onEvent: (ev) => got.push(ev)});
  await until(() => sub.state === 'open', 'open');
  await a.s.pay({to: b.k.did, amount: '0.50', memo: 'live one'});
  await until(() => got.some((e) => e.type === 'Payment' && e.payload.memo === 'live one'), 'the live payment');
  got.forEach((e, i) => eq(e.seq, i + 1, 'consecutive seq from 1'));
  const last = sub.lastSeq;
  sub.close();
  eq(sub.state, 'closed');
  await a.s.pay({to: b.k.did, amount: '0.25', memo: 'while closed'});
  const more = [];
  const sub2 = b.s.subscribe({since: last, onEvent: (ev) => more.push(ev)});
  await until(() => more.some((e) => e.payload.memo === 'while closed'), 'the missed payment');
  eq(more[0].seq, last + 1, 'resumes after since');
  eq(sub2.since, [last]);
  sub2.close();
});

// ------------------------------------------------------------ subscription: a fake gateway

// fakeFeed is a gateway feed of n events behind a fake WebSocket class.
// plan(conn, i) says what the i-th connection does; by default it opens and
// sends every event after since.
function fakeFeed(n, plan) {
  const events = Array.from({length: n}, (_, i) => ({seq: i + 1, type: 'Payment', at: '2026-01-01T00:00:00Z', payload: {n: i + 1}}));
  const conns = [];
  class FakeWS {
    constructor(url) {
      this.url = new URL(url);
      this.since = Number(this.url.searchParams.get('since'));
      this.readyState = 0;
      const i = conns.push(this) - 1;
      setTimeout(() => (plan ? plan(this, i, events) : this.serve(events)), 0);
    }
    open() {
      this.readyState = 1;
      this.onopen && this.onopen({});
    }
    send(ev) {
      if (this.readyState === 1) this.onmessage && this.onmessage({data: JSON.stringify(ev)});
    }
    serve(evs) {
      this.open();
      for (const ev of evs) if (ev.seq > this.since) this.send(ev);
    }
    end(code, reason = '') {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose && this.onclose({code, reason});
    }
    close() {
      this.readyState = 3;
    }
  }
  const session = {
    coop: 'c', client: {baseURL: 'http://gateway.test', WebSocket: FakeWS},
    freshToken: async () => 'tok', balance: async () => ({}),
  };
  return {events, conns, session};
}

function collect(session, opts = {}) {
  const got = [];
  const gaps = [];
  const errors = [];
  const sub = new icn.Subscription(session, {minBackoff: 5, maxBackoff: 20, ...opts,
    onEvent: (ev) => got.push(ev.seq), onGap: (g) => gaps.push(g), onError: (e) => errors.push(e)});
  sub.start();
  return {sub, got, gaps, errors};
}

test('subscription: a gap in seq makes it reconnect with since and backfill', async () => {
  const f = fakeFeed(5, (c, i, evs) => (i === 0 ? c.serve(evs.filter((e) => e.seq !== 3)) : c.serve(evs)));
  const {sub, got, gaps} = collect(f.session);
  await until(() => got.length === 5, 'five events');
  eq(got, [1, 2, 3, 4, 5], 'each once, in order');
  eq(gaps, [{after: 2, got: 4}]);
  eq(f.conns.map((c) => c.since), [0, 2], 'the backfill asked since=2');
  eq([sub.stats.gaps, sub.stats.backfills], [1, 1]);
  ok(f.conns[0].url.searchParams.get('token') === 'tok' && f.conns[0].url.protocol === 'ws:' && f.conns[0].url.pathname === '/ws/c', String(f.conns[0].url));
  sub.close();
});

test('subscription: reconnects after a drop, since the last, repeats ignored', async () => {
  const f = fakeFeed(4, (c, i, evs) => {
    if (i === 0) {
      c.serve(evs.slice(0, 2));
      c.end(1006);
    } else {
      c.open();
      for (const ev of evs) if (ev.seq >= c.since) c.send(ev); // resends since itself: a repeat
    }
  });
  const {sub, got} = collect(f.session);
  await until(() => got.length === 4, 'four events');
  eq(got, [1, 2, 3, 4]);
  eq(f.conns.map((c) => c.since), [0, 2]);
  eq(sub.state, 'open');
  sub.close();
});

test('subscription: a revoked session ends it, no reconnect', async () => {
  const f = fakeFeed(1, (c) => {
    c.serve([]);
    c.end(1008, 'session_revoked');
  });
  const {sub, errors} = collect(f.session);
  await until(() => sub.state === 'failed', 'failed');
  eq(errors.map((e) => e.code), ['session_revoked']);
  await new Promise((r) => setTimeout(r, 60));
  eq(f.conns.length, 1, 'no reconnect');
});

test('subscription: refused handshakes are explained by the API, then it stops', async () => {
  const f = fakeFeed(1, (c) => c.end(1006)); // never opens, as a 403 handshake looks to a browser
  f.session.balance = async () => {
    throw new icn.ICNError(403, 'credential_revoked', 'revoked');
  };
  const {sub, errors} = collect(f.session);
  await until(() => sub.state === 'failed', 'failed');
  eq(errors.map((e) => e.code), ['credential_revoked']);
  eq(f.conns.length, 2, 'asked after the second refusal');
});

test('subscription: offline drops the socket, online reconnects with since', async () => {
  const f = fakeFeed(3, (c, i, evs) => c.serve(i === 0 ? evs.slice(0, 1) : evs));
  const {sub, got} = collect(f.session, {minBackoff: 60000, maxBackoff: 60000});
  await until(() => got.length === 1, 'first event');
  dispatchEvent(new Event('offline'));
  eq(sub.state, 'offline');
  dispatchEvent(new Event('online'));
  await until(() => got.length === 3, 'the rest, without waiting out the backoff');
  eq(f.conns.map((c) => c.since), [0, 1]);
  sub.close();
});

// ------------------------------------------------------------ offline queue

test('outbox: queued with no answer, sent with its id when back, paid once', async () => {
  let cut = true;
  let lost = false;
  const c = new icn.ICNClient({coop: fx.coop, fetch: async (u, o) => {
    if (String(u).endsWith('/payment')) {
      if (cut) throw new TypeError('Failed to fetch');
      if (lost) {
        lost = false;
        await fetch(u, o); // the node gets it; the answer is lost
        throw new TypeError('network error');
      }
    }
    return fetch(u, o);
  }});
  const a = await member('offline');
  const b = await member('offline-payee');
  const s = await c.login(a.signer);
  const ob = new icn.PaymentOutbox();
  const signed = await s.signPayment({to: b.k.did, amount: '2.00', memo: 'queued'});
  await ob.add(signed);
  let r = await ob.flush(s);
  ok(r.stopped instanceof icn.NetworkError, 'stopped on no answer');
  eq((await ob.list()).map((e) => [e.id, e.status, e.attempts]), [[signed.id, 'queued', 1]]);
  eq((await b.s.balance()).balance, '0.00', 'nothing paid yet');

  cut = false;
  lost = true; // the node commits it, the answer is lost: still queued
  r = await ob.flush(s);
  ok(r.stopped instanceof icn.NetworkError);
  eq((await ob.list()).map((e) => [e.id, e.status, e.attempts]), [[signed.id, 'queued', 2]]);
  eq((await b.s.balance()).balance, '2.00', 'paid by the lost one');

  r = await ob.flush(s);
  eq(r.done.map((d) => [d.entry.id, d.result.status]), [[signed.id, 'committed']]);
  eq(await ob.list(), []);
  eq((await b.s.balance()).balance, '2.00', 'paid once');
  eq((await b.s.history()).entries.map((e) => e.id), [signed.id]);
});

test('outbox: an intent that expired unsent is marked, signed again with its id, paid', async () => {
  const a = await member('late');
  const b = await member('late-payee');
  const ob = new icn.PaymentOutbox();
  const past = Date.now() - 10 * 60 * 1000;
  const stale = await a.s.signPayment({to: b.k.did, amount: '0.75', created_at: icn.formatTime(past), expires_at: icn.formatTime(past + 5 * 60 * 1000)});
  await ob.add(stale);
  let r = await ob.flush(a.s);
  eq(r.done.map((d) => [d.entry.status, d.error.code]), [['expired', 'intent_expired']]);
  eq((await ob.list())[0].status, 'expired');
  const again = await a.s.signPayment({id: stale.id, to: b.k.did, amount: '0.75'});
  await ob.replace(again);
  r = await ob.flush(a.s);
  eq(r.done.map((d) => [d.entry.id, d.result.status]), [[stale.id, 'committed']]);
  const bad = await a.s.signPayment({to: b.k.did, amount: '0'});
  await ob.add(bad);
  r = await ob.flush(a.s);
  eq(r.done.map((d) => [d.entry.status, d.error.code]), [['failed', 'invalid_amount']]);
});

// ------------------------------------------------------------ storage

test('IndexedDB: the key is kept non-extractable and still signs; the outbox survives', async () => {
  const name = 'icn-test-' + icn.newPaymentID();
  let db = await openWalletDB(name);
  const k = await icn.generateKey();
  await db.keys.put({name: 'default', did: k.did, device: 'primary', publicKey: k.publicKey, privateKey: k.privateKey});
  const ob = new icn.PaymentOutbox({store: db.outbox});
  const s = new icn.Session(client, new icn.WebCryptoSigner(k));
  await ob.add(await s.signPayment({to: fx.dids[0].did, amount: '1'}));
  await db.meta.put(42, 'lastSeq');
  db.close();

  db = await openWalletDB(name);
  const rec = await db.keys.get('default');
  ok(rec.privateKey instanceof CryptoKey, 'a CryptoKey');
  eq(rec.privateKey.extractable, false);
  const sig = await new icn.WebCryptoSigner(rec).sign(icn.TAG.payment, icn.utf8('x'));
  ok(await icn.verify(rec.publicKey, icn.TAG.payment, icn.utf8('x'), sig));
  const kept = await new icn.PaymentOutbox({store: db.outbox}).list();
  eq(kept.map((e) => [e.status, e.intent.amount]), [['queued', '1']]);
  eq(await db.meta.get('lastSeq'), 42);
  db.close();
  await new Promise((res) => {
    const r = indexedDB.deleteDatabase(name);
    r.onsuccess = r.onerror = res;
  });
});

test('the page runs under the wallet\'s CSP: no HTML from strings', () => {
  throws(() => {
    document.getElementById('results').insertAdjacentHTML('beforeend', '<li>x</li>');
  }, 'TypeError');
});

run();
