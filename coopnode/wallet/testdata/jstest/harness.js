// A test runner small enough to read: test(name, fn) registers, run() runs
// them in order and leaves the results in window.icnTestResults (read by
// the Go harness, coopnode/wallet/jsclient_browser_test.go) and on the page.
const tests = [];

export function test(name, fn) {
  tests.push({name, fn});
}

export class AssertionError extends Error {
  constructor(msg) {
    super(msg);
    this.name = 'AssertionError';
  }
}

export function ok(cond, msg = 'expected a truthy value') {
  if (!cond) throw new AssertionError(msg);
}

const show = (v) => {
  try {
    return JSON.stringify(v, (k, x) => (x instanceof Uint8Array ? `Uint8Array[${[...x]}]` : typeof x === 'bigint' ? String(x) : x));
  } catch {
    return String(v);
  }
};

export function eq(got, want, msg = '') {
  if (show(got) !== show(want)) throw new AssertionError(`${msg ? msg + ': ' : ''}got ${show(got)}, want ${show(want)}`);
}

// rejects awaits p and checks that it failed with an error whose code (or
// name) is code; it returns the error.
export async function rejects(p, code, msg = '') {
  let err = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  if (!err) throw new AssertionError(`${msg ? msg + ': ' : ''}resolved, want a rejection with ${code}`);
  const got = typeof err.code === "string" ? err.code : err.name;
  if (code && got !== code) throw new AssertionError(`${msg ? msg + ': ' : ''}rejected with ${got} (${err.message}), want ${code}`);
  return err;
}

export function throws(f, code, msg = '') {
  try {
    f();
  } catch (e) {
    const got = typeof e.code === "string" ? e.code : e.name;
    if (code && got !== code) throw new AssertionError(`${msg ? msg + ': ' : ''}threw ${got} (${e.message}), want ${code}`);
    return e;
  }
  throw new AssertionError(`${msg ? msg + ': ' : ''}did not throw, want ${code}`);
}

// until polls cond (sync or async) every 10 ms until it is truthy, failing
// after ms.
export async function until(cond, what, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new AssertionError(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function run() {
  const results = [];
  const list = document.getElementById('results');
  for (const t of tests) {
    const start = performance.now();
    let error = '';
    try {
      await Promise.race([t.fn(), new Promise((_, rej) => setTimeout(() => rej(new AssertionError('timed out after 20 s')), 20000))]);
    } catch (e) {
      error = (e && e.stack) || String(e);
    }
    const r = {name: t.name, ok: !error, error, ms: Math.round(performance.now() - start)};
    results.push(r);
    const li = document.createElement('li');
    li.dataset.ok = String(r.ok);
    li.textContent = `${r.ok ? 'ok' : 'FAIL'} ${r.name} (${r.ms} ms)${error ? ': ' + error : ''}`;
    list.append(li);
  }
  window.icnTestResults = results;
  document.body.dataset.done = 'true';
}
