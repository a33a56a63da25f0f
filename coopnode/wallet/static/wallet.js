// wallet.js: the co-op node's wallet page, on icn.js. The page writes
// text only (textContent, never HTML: the CSP requires Trusted Types and
// allows none), and exposes what it shows in data-* attributes for tests.
import * as icn from './icn.js';
import {openWalletDB} from './icn-store.js';

const $ = (id) => document.getElementById(id);

const w = {
  config: null, // {coop, currencies: [{code, scale}]}
  db: null,
  client: null,
  rec: null, // the stored key record
  signer: null,
  session: null,
  sub: null,
  outbox: null,
  names: new Map(), // DID → name, from the directory
  historyNext: '',
  retry: {timer: 0, delay: 1000},
  request: null, // the parsed payment request being paid
  pendingBackup: null,
  outboxGen: 0,
  proposal: '', // the id of the proposal shown, '' for none
  proposalsGen: 0,
};

const SECTIONS = ['unsupported', 'welcome', 'backup', 'join', 'account', 'pay', 'request', 'activity', 'governance-section', 'history-section', 'devices-section', 'key-section'];
const MEMBER_SECTIONS = ['account', 'pay', 'request', 'activity', 'governance-section', 'history-section', 'devices-section', 'key-section'];

function show(...ids) {
  for (const s of SECTIONS) $(s).hidden = !ids.includes(s);
  $('loading').hidden = true;
}

function setState(s) {
  document.body.dataset.state = s;
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'data') Object.assign(e.dataset, v);
    else if (k === 'class') e.className = v;
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function showError(e) {
  const p = $('error');
  if (!e) {
    p.hidden = true;
    p.textContent = '';
    delete p.dataset.code;
    return;
  }
  p.hidden = false;
  p.dataset.code = e.code || (e instanceof icn.NetworkError ? 'network' : 'error');
  p.textContent = e instanceof icn.NetworkError
    ? 'The co-op node cannot be reached. The wallet will try again when the network is back.'
    : e.message;
}

function currency() {
  const cs = w.config.currencies;
  return cs.find((c) => c.code === icn.DEFAULT_CURRENCY) || cs[0] || {code: icn.DEFAULT_CURRENCY, scale: 2};
}

function nameOf(did) {
  if (did === w.rec?.did) return 'you';
  return w.names.get(did) || icn.shortDID(did);
}

function when(t) {
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

// ---------------------------------------------------------------- start

async function main() {
  try {
    const r = await fetch('config.json', {cache: 'no-store'});
    w.config = await r.json();
  } catch (e) {
    showError(new icn.NetworkError(e));
    return;
  }
  $('coop').textContent = w.config.coop;
  document.title = `Wallet · ${w.config.coop}`;
  $('pay-currency').textContent = currency().code;
  wire();
  if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) {
    // Browsers give WebCrypto to HTTPS pages (and to localhost) only.
    $('unsupported-why').textContent = 'Browsers keep their cryptography for secure pages: open the wallet over HTTPS (or on this machine as http://localhost).';
    setState('unsupported');
    show('unsupported');
    return;
  }
  if (!(await icn.hasEd25519())) {
    setState('unsupported');
    show('unsupported');
    return;
  }
  w.db = await openWalletDB();
  w.outbox = new icn.PaymentOutbox({store: w.db.outbox, onChange: renderOutbox});
  w.client = new icn.ICNClient({coop: w.config.coop});
  const rec = await w.db.keys.get('default');
  if (!rec) {
    setState('welcome');
    show('welcome');
    return;
  }
  await useKey(rec);
}

function wire() {
  $('create').addEventListener('click', () => run(createKey));
  $('import').addEventListener('click', () => run(importKey));
  $('import-file').addEventListener('change', () => run(importFile));
  $('backup-done').addEventListener('click', () => run(backupDone));
  $('apply-form').addEventListener('submit', (e) => {
    e.preventDefault();
    run(apply);
  });
  $('relogin').addEventListener('click', () => run(login));
  $('pay-form').addEventListener('submit', (e) => {
    e.preventDefault();
    run(pay);
  });
  $('pay-request').addEventListener('input', () => readRequest());
  $('request-form').addEventListener('submit', (e) => {
    e.preventDefault();
    run(showRequest);
  });
  $('history-more').addEventListener('click', () => run(() => loadHistory(false)));
  $('device-form').addEventListener('submit', (e) => {
    e.preventDefault();
    run(addDevice);
  });
  $('gov-filter').addEventListener('change', () => run(loadProposals));
  $('gov-refresh').addEventListener('click', () => run(() => Promise.all([loadProposals(), w.proposal ? showProposal(w.proposal) : null])));
  $('proposal-back').addEventListener('click', () => closeProposal());
  for (const c of icn.CHOICES) $('vote-' + c).addEventListener('click', () => run(() => castVote(c)));
  addEventListener('hashchange', () => {
    if (w.session?.isMember) run(openFromHash);
  });
  $('forget').addEventListener('click', () => {
    $('forget-confirm').hidden = false;
  });
  $('forget-confirm').addEventListener('click', () => run(forget));
  if ('BarcodeDetector' in globalThis && navigator.mediaDevices) {
    $('scan').hidden = false;
    $('scan').addEventListener('click', () => run(scan));
  }
  addEventListener('online', () => {
    netState();
    if (w.rec && !w.session) run(login);
    else flush();
  });
  addEventListener('offline', netState);
  netState();
}

// run calls an action, showing its error.
async function run(f) {
  try {
    showError(null);
    await f();
  } catch (e) {
    showError(e);
  }
}

function netState() {
  const on = navigator.onLine;
  $('net').dataset.state = on ? 'online' : 'offline';
  $('net').textContent = on ? 'online' : 'offline';
}

// ---------------------------------------------------------------- keys

async function createKey() {
  const k = await icn.generateKey();
  const rec = {name: 'default', did: k.did, device: 'primary', publicKey: k.publicKey, privateKey: k.privateKey, created_at: Date.now()};
  await w.db.keys.put(rec);
  const text = JSON.stringify(k.keyFile, null, 2) + '\n';
  const url = URL.createObjectURL(new Blob([text], {type: 'application/json'}));
  w.pendingBackup = {rec, url};
  const a = $('backup-download');
  a.href = url;
  a.download = `icn-key-${k.did.slice(8, 14)}.json`;
  $('backup-text').value = text;
  setState('backup');
  show('backup');
}

async function backupDone() {
  const b = w.pendingBackup;
  w.pendingBackup = null;
  URL.revokeObjectURL(b.url);
  $('backup-text').value = '';
  $('backup-download').href = '#';
  await useKey(b.rec);
}

async function importFile() {
  const f = $('import-file').files[0];
  if (f) $('import-text').value = await f.text();
}

async function importKey() {
  const k = await icn.importKeyFile($('import-text').value);
  $('import-text').value = '';
  $('import-file').value = '';
  const rec = {name: 'default', did: k.did, device: 'primary', publicKey: k.publicKey, privateKey: k.privateKey, created_at: Date.now()};
  await w.db.keys.put(rec);
  await useKey(rec);
}

async function forget() {
  if (w.sub) w.sub.close();
  await w.db.keys.delete('default');
  await w.db.meta.delete(`lastSeq:${w.rec.did}`);
  location.reload();
}

async function useKey(rec) {
  w.rec = rec;
  w.signer = new icn.WebCryptoSigner({did: rec.did, privateKey: rec.privateKey, device: rec.device});
  $('who').hidden = false;
  $('my-did').textContent = icn.shortDID(rec.did);
  $('my-did').title = rec.did;
  $('my-did').dataset.did = rec.did;
  await login();
}

// ---------------------------------------------------------------- session

async function login() {
  let s;
  try {
    s = await w.client.login(w.signer);
  } catch (e) {
    setState('offline');
    show('key-section');
    throw e;
  }
  w.session = s;
  if (!s.isMember) {
    setState('join');
    show('join', 'key-section');
    const app = await w.db.meta.get(`application:${w.rec.did}`);
    if (app) {
      showApplication(app);
      $('application-note').textContent = `Not approved yet (checked ${new Date().toLocaleTimeString()}).`;
    }
    return;
  }
  setState('member');
  show(...MEMBER_SECTIONS);
  await Promise.all([loadBalance(), loadHistory(true), loadDirectory(), loadDevices(), renderOutbox(), loadProposals()]);
  await openFromHash();
  await subscribe();
  flush();
}

// ---------------------------------------------------------------- joining

async function apply() {
  const r = await w.session.apply({inviteCode: $('apply-code').value.trim(), name: $('apply-name').value.trim(), email: $('apply-email').value.trim()});
  const app = {id: r.id, status: r.status};
  await w.db.meta.put(app, `application:${w.rec.did}`);
  showApplication(app);
}

function showApplication(app) {
  $('application-note').textContent = '';
  $('apply-form').hidden = true;
  $('application').hidden = false;
  $('application').dataset.id = app.id;
  $('application').dataset.status = app.status;
  $('application-id').textContent = app.id;
  $('application-status').textContent = app.status;
}

// ---------------------------------------------------------------- balance, history, directory

async function loadBalance() {
  const b = await w.session.balance({currency: currency().code});
  for (const [id, v] of [['balance', b.balance], ['available', b.available], ['credit-limit', b.credit_limit], ['held', b.held], ['pending', b.pending]]) {
    const dd = $(id);
    dd.dataset.value = v ?? '';
    clear(dd);
    if (v === undefined) dd.append('—');
    else dd.append(v, ' ', el('span', {class: 'unit'}, b.currency));
  }
}

async function loadHistory(first) {
  const h = await w.session.history({limit: 10, before: first ? '' : w.historyNext});
  const body = $('history').tBodies[0];
  if (first) clear(body);
  for (const e of h.entries) {
    const out = e.from === w.rec.did;
    const other = out ? e.to : e.from;
    const who = out ? `to ${nameOf(other)}` : `from ${nameOf(other)}`;
    const coop = (out ? e.to_coop : e.from_coop) !== w.config.coop ? ` (${out ? e.to_coop : e.from_coop})` : '';
    body.append(el('tr', {data: {id: e.id, status: e.status, direction: out ? 'out' : 'in', amount: e.amount}},
      el('td', {}, when(e.created_at)),
      el('td', {title: other}, who + coop),
      el('td', {class: 'num ' + (out ? 'out' : 'in')}, `${out ? '−' : '+'}${e.amount} ${e.currency}`),
      el('td', {}, e.memo),
      el('td', {class: 'status ' + e.status}, e.status + (e.reason ? ` (${e.reason})` : ''))));
  }
  w.historyNext = h.next;
  $('history-more').hidden = !h.next;
  $('history').dataset.rows = String(body.rows.length);
}

async function loadDirectory() {
  const ms = await w.session.directoryAll();
  w.names = new Map(ms.map((m) => [m.did, m.name]));
  const sel = $('pay-to');
  const keep = sel.value;
  clear(sel);
  sel.append(el('option', {value: ''}, '— choose a member —'));
  const others = ms.filter((m) => m.did !== w.rec.did).sort((a, b) => (a.name || a.did).localeCompare(b.name || b.did));
  for (const m of others) sel.append(el('option', {value: m.did, title: m.did}, `${m.name || 'unnamed'} · ${icn.shortDID(m.did)}`));
  sel.value = keep;
  sel.dataset.members = String(others.length);
}

// ---------------------------------------------------------------- paying

// readRequest parses a pasted payment request and fills the form from it.
function readRequest() {
  const text = $('pay-request').value.trim();
  const info = $('pay-request-info');
  w.request = null;
  $('pay-amount').readOnly = false;
  if (!text) {
    info.hidden = true;
    $('pay-to').disabled = false;
    return;
  }
  info.hidden = false;
  try {
    const r = icn.parsePaymentRequest(text);
    w.request = r;
    $('pay-to').disabled = true;
    if (r.amount) {
      $('pay-amount').value = r.amount;
      $('pay-amount').readOnly = true;
    }
    if (r.memo) $('pay-memo').value = r.memo;
    $('pay-currency').textContent = r.currency;
    const coop = r.coop === w.config.coop ? '' : ` at co-op ${r.coop}`;
    info.textContent = `Paying ${nameOf(r.to)}${coop}` + (r.amount ? ` ${r.amount} ${r.currency}` : '') + (r.memo ? ` for “${r.memo}”` : '');
    info.dataset.valid = 'true';
  } catch (e) {
    $('pay-to').disabled = false;
    info.textContent = e.message;
    info.dataset.valid = 'false';
  }
}

async function pay() {
  const r = w.request;
  const to = r ? r.to : $('pay-to').value;
  if (!to) throw new icn.ICNError(0, 'invalid_request', 'Choose a member to pay, or paste a payment request.');
  const cur = r ? r.currency : currency().code;
  const scale = (w.config.currencies.find((c) => c.code === cur) || {scale: 2}).scale;
  const amount = icn.checkAmount($('pay-amount').value.trim(), scale);
  const signed = await w.session.signPayment({to, to_coop: r ? r.coop : w.config.coop, amount, currency: cur, memo: $('pay-memo').value});
  // Kept before it is sent: if the answer never comes, it is sent again
  // with this id and these bytes.
  await w.outbox.add(signed);
  const p = $('pay-result');
  p.hidden = false;
  p.dataset.id = signed.id;
  p.dataset.status = 'queued';
  p.textContent = `Sending ${amount} ${cur} to ${nameOf(to)}…`;
  $('pay-form').reset();
  $('pay-request').value = '';
  readRequest();
  await flush();
}

// flush sends the outbox; with no answer it tries again later (at once
// when the browser says it is back online).
async function flush() {
  if (!w.session || !w.outbox) return;
  clearTimeout(w.retry.timer);
  let res;
  try {
    res = await w.outbox.flush(w.session);
  } catch (e) {
    showError(e);
    return;
  }
  for (const d of res.done) showOutcome(d);
  if (res.done.length > 0) {
    w.retry.delay = 1000;
    await Promise.all([loadBalance(), loadHistory(true)]).catch(showError);
  }
  if (res.stopped) {
    const p = $('pay-result');
    if (p.dataset.status === 'queued') p.textContent = 'No answer from the co-op node: the payment is kept below and sent again, as signed, when the network is back.';
    if (res.stopped instanceof icn.ICNError && res.stopped.status === 401) {
      showError(res.stopped);
      return;
    }
    if (navigator.onLine) {
      w.retry.timer = setTimeout(flush, w.retry.delay);
      w.retry.delay = Math.min(w.retry.delay * 2, 30000);
    }
  }
}

function showOutcome({entry, result, error}) {
  const p = $('pay-result');
  p.hidden = false;
  p.dataset.id = entry.id;
  const i = entry.intent;
  if (result) {
    p.dataset.status = result.status;
    const what = `${i.amount} ${i.currency} to ${nameOf(i.to)}`;
    p.textContent = result.status === 'committed' ? `Paid ${what}.`
      : result.status === 'pending' ? `Payment of ${what} is on its way through the hub.`
        : `Payment of ${what} was rejected: ${result.reason}.`;
  } else {
    p.dataset.status = entry.status;
    p.textContent = `Payment of ${i.amount} ${i.currency} to ${nameOf(i.to)} was refused: ${error.message}`;
  }
}

async function renderOutbox() {
  if (!w.outbox || !w.rec) return;
  const gen = ++w.outboxGen;
  const list = (await w.outbox.list()).filter((e) => e.intent.from === w.rec.did);
  if (gen !== w.outboxGen) return; // a later call is rendering a newer list
  const ul = $('outbox');
  clear(ul);
  for (const e of list) {
    const i = e.intent;
    const label = {queued: 'queued: waiting for the network', expired: 'expired before it could be sent', failed: 'refused'}[e.status] || e.status;
    const li = el('li', {data: {id: e.id, status: e.status, attempts: String(e.attempts)}},
      `${i.amount} ${i.currency} to ${nameOf(i.to)}` + (i.memo ? ` (“${i.memo}”)` : '') + ` — ${label}`);
    if (e.status !== 'queued' && e.message) li.append(el('span', {class: 'note'}, ` ${e.message}`));
    if (e.status === 'expired') {
      li.append(' ', el('button', {type: 'button', onclick: () => run(() => resign(e))}, 'Sign again'));
    }
    if (e.status !== 'queued') {
      li.append(' ', el('button', {type: 'button', onclick: () => run(() => w.outbox.remove(e.id))}, 'Discard'));
    }
    ul.append(li);
  }
  $('outbox-section').hidden = list.length === 0;
  ul.dataset.count = String(list.length);
}

// resign signs an expired, never-received payment again, with its id: the
// node refused it as expired, so it never recorded that id.
async function resign(e) {
  const i = e.intent;
  const signed = await w.session.signPayment({id: i.id, to: i.to, to_coop: i.to_coop, amount: i.amount, currency: i.currency, memo: i.memo});
  await w.outbox.replace(signed);
  await flush();
}

// ---------------------------------------------------------------- payment requests

async function showRequest() {
  const cur = currency();
  const amount = $('request-amount').value.trim();
  if (amount) icn.checkAmount(amount, cur.scale);
  const text = icn.encodePaymentRequest({to: w.rec.did, coop: w.config.coop, amount, currency: cur.code, memo: $('request-memo').value});
  $('request-text').textContent = text;
  $('request-qr').dataset.request = text;
  const img = $('request-img');
  img.src = 'qr.png?' + new URLSearchParams({text});
  $('request-qr').hidden = false;
}

async function scan() {
  const video = $('scan-video');
  const stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: 'environment'}});
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const det = new globalThis.BarcodeDetector({formats: ['qr_code']});
  try {
    for (let i = 0; i < 600; i++) {
      const codes = await det.detect(video);
      const c = codes.find((x) => String(x.rawValue).startsWith('icn:pay?'));
      if (c) {
        $('pay-request').value = c.rawValue;
        readRequest();
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    for (const t of stream.getTracks()) t.stop();
    video.hidden = true;
  }
}

// ---------------------------------------------------------------- live events

async function subscribe() {
  if (w.sub) w.sub.close();
  const key = `lastSeq:${w.rec.did}`;
  const since = (await w.db.meta.get(key)) || 0;
  let refresh = 0;
  const sub = w.session.subscribe({
    since,
    onEvent: (ev) => {
      addEvent(ev);
      w.db.meta.put(ev.seq, key).catch(() => {});
      clearTimeout(refresh);
      refresh = setTimeout(() => onEventRefresh(ev), 50);
      subState();
    },
    onGap: () => subState(),
    onState: () => subState(),
    onError: (e) => {
      subState();
      showError(e);
    },
  });
  w.sub = sub;
  subState();
}

function onEventRefresh(ev) {
  const jobs = [];
  if (ev.type.startsWith('Payment')) jobs.push(loadBalance(), loadHistory(true));
  if (ev.type === 'MemberJoined' || ev.type === 'MemberRevoked') jobs.push(loadDirectory());
  if (ev.type.startsWith('Device') || ev.type.startsWith('Key')) jobs.push(loadDevices());
  if (GOV_EVENTS.has(ev.type)) {
    jobs.push(loadProposals());
    const p = ev.payload || {};
    if (w.proposal && (p.id === w.proposal || p.proposal === w.proposal || p.appeal === w.proposal)) jobs.push(showProposal(w.proposal));
  }
  Promise.all(jobs).catch(showError);
}

function subState() {
  const s = w.sub;
  if (!s) return;
  const b = $('sub');
  Object.assign(b.dataset, {state: s.state, lastSeq: String(s.lastSeq), gaps: String(s.stats.gaps),
    backfills: String(s.stats.backfills), connects: String(s.stats.connects), since: s.since.join(',')});
  $('sub-note').textContent = s.stats.gaps ? `caught up after ${s.stats.gaps === 1 ? 'a gap' : s.stats.gaps + ' gaps'} in the feed (replayed from #${s.since[s.since.length - 1]})` : '';
  b.textContent = {open: 'live', connecting: 'connecting…', waiting: 'reconnecting…', offline: 'offline', failed: 'stopped', closed: 'closed'}[s.state] || s.state;
}

function describe(ev) {
  const p = ev.payload || {};
  switch (ev.type) {
    case 'Payment':
    case 'PaymentPending':
    case 'PaymentRejected': {
      const out = p.from === w.rec.did;
      const verb = ev.type === 'Payment' ? (out ? 'You paid' : 'You received') : ev.type === 'PaymentPending' ? (out ? 'Sending' : 'Incoming') : 'Rejected:';
      return `${verb} ${p.amount} ${p.currency} ${out ? 'to ' + nameOf(p.to) : 'from ' + nameOf(p.from)}` + (p.memo ? ` (“${p.memo}”)` : '') + (p.reason ? ` — ${p.reason}` : '');
    }
    case 'MemberJoined':
      return `${p.name || nameOf(p.did)} joined the co-op`;
    case 'MemberRevoked':
      return `${nameOf(p.did)} left the co-op`;
    case 'DeviceAdded':
      return `Device ${p.device_id}${p.name ? ` (${p.name})` : ''} added`;
    case 'DeviceRevoked':
      return `Device ${p.device_id} revoked`;
    case 'KeyRotated':
      return 'Key rotated';
    case 'KeysRevoked':
      return 'Every other key revoked (emergency)';
    case 'ProposalOpened':
      return `Proposal “${p.title}” (${p.kind}) opened by ${nameOf(p.proposer)}; voting ${when(p.voting_starts)} to ${when(p.voting_ends)}`;
    case 'VoteCast':
      return `${p.voter === w.rec.did ? 'You' : nameOf(p.voter)} voted ${p.choice} (revision ${p.revision})`;
    case 'ProposalClosed':
      return `Proposal (${p.kind}) ${p.status}${p.result !== p.status ? ` (${p.result})` : ''}: ${p.for} for, ${p.against} against, ${p.abstain} abstaining of ${p.eligible}`;
    case 'MemberRemoved':
      return `${nameOf(p.did)} was removed by proposal ${p.proposal}`;
    case 'AppealFiled':
      return `${nameOf(p.appellant)} appealed: “${p.title}”`;
    case 'RolesChanged':
      return `${p.did === w.rec.did ? 'Your' : nameOf(p.did) + '\'s'} role ${p.role} was ${p.grant ? 'granted' : 'revoked'}; roles now ${(p.roles || []).join(', ')}`;
    case 'CredentialRenewed':
      return `Membership credential renewed until ${when(p.expires_at)}`;
    default:
      return ev.type;
  }
}

function addEvent(ev) {
  const ol = $('events');
  ol.prepend(el('li', {data: {seq: String(ev.seq), type: ev.type, id: ev.payload?.id || ''}},
    el('span', {class: 'seq'}, `#${ev.seq}`), ' ', describe(ev), ' ', el('time', {}, when(ev.at))));
  while (ol.children.length > 30) ol.lastChild.remove();
}

// ---------------------------------------------------------------- governance

const GOV_EVENTS = new Set(['ProposalOpened', 'VoteCast', 'ProposalClosed', 'MemberRemoved', 'AppealFiled']);

const PHASES = {
  discussion: 'in discussion', voting: 'voting', closing: 'closing (voting has ended; the node records the outcome)',
  passed: 'passed', failed: 'failed', cancelled: 'cancelled',
};

function tallyText(t) {
  return `${t.for ?? 0} · ${t.against ?? 0} · ${t.abstain ?? 0}`;
}

async function loadProposals() {
  const gen = ++w.proposalsGen;
  const list = await w.session.proposals({status: $('gov-filter').value});
  if (gen !== w.proposalsGen) return; // a later call is rendering a newer list
  const body = $('proposals').tBodies[0];
  clear(body);
  for (const p of list) {
    body.append(el('tr', {data: {id: p.id, phase: p.phase, status: p.status, selected: String(p.id === w.proposal)}},
      el('td', {}, p.title), el('td', {}, p.kind), el('td', {class: 'status ' + p.phase}, PHASES[p.phase] || p.phase),
      el('td', {}, when(p.voting_ends)), el('td', {class: 'num'}, tallyText(p.tally || {})),
      el('td', {}, el('button', {type: 'button', data: {open: p.id}, onclick: () => run(() => showProposal(p.id))}, 'Open'))));
  }
  $('proposals').dataset.rows = String(list.length);
  $('proposals-empty').hidden = list.length > 0;
}

// openFromHash shows the proposal the address names (#proposal=ID).
async function openFromHash() {
  const m = /^#proposal=(.+)$/.exec(location.hash);
  if (m) await showProposal(decodeURIComponent(m[1]));
}

function closeProposal() {
  w.proposal = '';
  $('proposal').hidden = true;
  delete $('proposal').dataset.id;
  history.replaceState(null, '', location.pathname + location.search);
  for (const tr of $('proposals').tBodies[0].rows) tr.dataset.selected = 'false';
}

async function showProposal(id) {
  const p = await w.session.proposal(id);
  if (w.proposal !== id) $('vote-result').hidden = true;
  w.proposal = id;
  history.replaceState(null, '', '#proposal=' + encodeURIComponent(id));
  for (const tr of $('proposals').tBodies[0].rows) tr.dataset.selected = String(tr.dataset.id === id);
  renderProposal(p);
}

// changeLines describes what a proposal changes, one line an item.
function changeLines(p) {
  const c = p.change || {};
  const amt = (a) => (a ? `${a.amount} ${a.currency}` : '');
  const out = [];
  if (c.default_credit_limit) out.push(`Default credit limit for new members: ${amt(c.default_credit_limit)}`);
  for (const l of c.credit_limits || []) out.push(`Credit limit of ${nameOf(l.member)}: ${amt(l.limit)}`);
  for (const r of c.roles || []) out.push(`${r.grant ? 'Grant' : 'Revoke'} the role ${r.role} ${r.grant ? 'to' : 'from'} ${nameOf(r.member)}`);
  if (c.remove) out.push(`Remove ${nameOf(c.remove)} from the co-op`);
  if (c.restore) out.push(`Restore ${nameOf(c.restore.member)}'s membership (roles ${(c.restore.roles || []).join(', ')})`);
  if (c.dues) out.push(`Dues: ${amt(c.dues.amount)} on day ${c.dues.day} of each month to ${c.dues.treasury}`);
  if (out.length === 0) out.push(JSON.stringify(c));
  return out;
}

function renderProposal(p) {
  const a = $('proposal');
  const mine = (p.ballots || []).filter((b) => b.voter === w.rec.did);
  const last = mine.reduce((x, b) => (!x || b.revision > x.revision ? b : x), null);
  const eligible = (p.electorate || []).includes(w.rec.did);
  a.hidden = false;
  Object.assign(a.dataset, {id: p.id, phase: p.phase, status: p.status, ballots: String((p.ballots || []).length),
    myChoice: last ? last.choice : '', myRevision: String(last ? last.revision : 0), eligible: String(eligible)});
  $('proposal-title').textContent = p.title;
  $('proposal-kind').textContent = p.kind;
  $('proposal-proposer').textContent = nameOf(p.proposer);
  $('proposal-proposer').title = p.proposer;
  $('proposal-phase').textContent = PHASES[p.phase] || p.phase;
  $('proposal-window').textContent = `Opened ${when(p.opened_at)}; voting from ${when(p.voting_starts)} until ${when(p.voting_ends)}.`;
  $('proposal-body').textContent = p.body || '';
  const ul = $('proposal-change');
  clear(ul);
  for (const line of changeLines(p)) ul.append(el('li', {}, line));
  const t = p.tally || {};
  for (const k of ['eligible', 'for', 'against', 'abstain']) {
    $('tally-' + k).dataset.value = String(t[k] ?? 0);
    $('tally-' + k).textContent = String(t[k] ?? 0);
  }
  const r = p.rule || {};
  $('proposal-rule').textContent = r.threshold
    ? `Passes with ${r.threshold === 'two_thirds' ? 'two thirds' : 'a majority'} of for and against, if ${r.quorum_num}/${r.quorum_den} of the ${t.eligible ?? 0} eligible take part (abstaining counts towards that only). Ties fail.`
    : '';
  const o = $('proposal-outcome');
  o.hidden = !p.outcome;
  if (p.outcome) {
    o.dataset.status = p.outcome.status;
    o.dataset.result = p.outcome.result;
    const fx = (p.outcome.effects || []).map((e) => e.type + (e.skipped ? ` (skipped: ${e.skipped})` : '')).join(', ');
    const st = p.outcome.status;
    o.textContent = `${st === 'passed' ? 'Passed' : st === 'cancelled' ? 'Cancelled' : 'Failed'}${p.outcome.result !== st ? ` (${p.outcome.result})` : ''}` +
      (p.outcome.closed_at ? `, closed ${when(p.outcome.closed_at)}` : '') + (fx ? `. Effects: ${fx}.` : '.');
  }
  const counted = ((t.counted || []).find((c) => c.member === w.rec.did)) || null;
  let my = last ? `Your vote: ${last.choice} (revision ${last.revision}, ${when(last.at)}).` : eligible ? 'You have not voted.' : 'You are not in this proposal\'s electorate (members when it opened).';
  if (!last && counted && counted.by && counted.by !== w.rec.did) my += ` Your delegate ${nameOf(counted.by)}'s vote (${counted.choice}) counts for you.`;
  $('my-vote').textContent = my;
  const open = p.phase === 'voting' && eligible;
  $('vote-buttons').hidden = !open;
  for (const c of icn.CHOICES) {
    const b = $('vote-' + c);
    b.disabled = !open;
    b.setAttribute('aria-pressed', String(!!last && last.choice === c));
  }
  const body = $('ballots').tBodies[0];
  clear(body);
  for (const b of p.ballots || []) {
    body.append(el('tr', {data: {voter: b.voter, choice: b.choice, revision: String(b.revision)}},
      el('td', {title: b.voter}, nameOf(b.voter)), el('td', {}, b.choice), el('td', {class: 'num'}, String(b.revision)), el('td', {}, when(b.at))));
  }
}

async function castVote(choice) {
  const id = w.proposal;
  const res = $('vote-result');
  for (const c of icn.CHOICES) $('vote-' + c).disabled = true;
  res.hidden = false;
  res.dataset.status = 'sending';
  res.textContent = `Signing and sending your vote (${choice})…`;
  let r;
  try {
    r = await w.session.vote(id, choice);
  } catch (e) {
    res.dataset.status = 'refused';
    res.dataset.code = e.code || 'error';
    res.textContent = `Your vote was not recorded: ${e.message}`;
    await showProposal(id).catch(() => {});
    return;
  }
  const mine = (r.proposal.ballots || []).filter((b) => b.voter === w.rec.did);
  const rev = mine.reduce((n, b) => Math.max(n, b.revision), 0);
  res.dataset.status = 'recorded';
  res.dataset.code = '';
  res.dataset.revision = String(rev);
  res.textContent = r.recorded ? `Your vote (${choice}, revision ${rev}) is recorded.` : 'That vote was already recorded.';
  if (w.proposal === id) renderProposal(r.proposal);
  await loadProposals();
}

// ---------------------------------------------------------------- devices

async function loadDevices() {
  const ds = await w.session.devices();
  const body = $('devices').tBodies[0];
  clear(body);
  for (const d of ds) {
    const mine = d.id === w.rec.device;
    const tr = el('tr', {data: {device: d.id, status: d.status}},
      el('td', {}, d.id), el('td', {}, d.name || ''), el('td', {class: 'status ' + d.status}, d.status + (mine ? ' (this browser)' : '')),
      el('td', {}, d.added_at ? when(d.added_at) : ''), el('td', {}));
    if (d.status !== 'revoked' && !mine) {
      tr.lastChild.append(el('button', {type: 'button', class: 'danger', data: {revoke: d.id}, onclick: () => run(() => revokeDevice(d.id))}, 'Revoke'));
    }
    body.append(tr);
  }
}

async function addDevice() {
  await w.session.addDevice({deviceId: $('device-id').value.trim(), name: $('device-name').value.trim(), publicKey: $('device-key').value.trim()});
  $('device-form').reset();
  await loadDevices();
}

async function revokeDevice(id) {
  await w.session.revokeDevice(id);
  await loadDevices();
}

main().catch((e) => {
  showError(e);
  console.error(e);
});
