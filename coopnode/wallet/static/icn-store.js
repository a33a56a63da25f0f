// icn-store.js: IndexedDB storage for a wallet built on icn.js: the
// member's key (a non-extractable CryptoKey: the page can sign with it but
// never read it), the payment outbox, and small settings such as the last
// event seq seen.
//
//   import {openWalletDB} from '/wallet/icn-store.js';
//   const db = await openWalletDB();
//   await db.keys.put({did, device: 'primary', publicKey, privateKey});
//   const outbox = new PaymentOutbox({store: db.outbox});

const VERSION = 1;

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

// Store is one object store: get, put, delete, all.
class Store {
  constructor(db, name, keyed) {
    this.db = db;
    this.name = name;
    this.keyed = keyed; // values carry their key (keyPath), or keys are given
  }

  async get(key) {
    return req(this.db.transaction(this.name).objectStore(this.name).get(key));
  }

  async all() {
    return req(this.db.transaction(this.name).objectStore(this.name).getAll());
  }

  async put(value, key) {
    const tx = this.db.transaction(this.name, 'readwrite');
    const os = tx.objectStore(this.name);
    if (this.keyed) os.put(value);
    else os.put(value, key);
    return done(tx);
  }

  async delete(key) {
    const tx = this.db.transaction(this.name, 'readwrite');
    tx.objectStore(this.name).delete(key);
    return done(tx);
  }

  async clear() {
    const tx = this.db.transaction(this.name, 'readwrite');
    tx.objectStore(this.name).clear();
    return done(tx);
  }
}

// openWalletDB opens (or creates) the wallet's database. keys holds at
// most the one key record of this wallet under the name "default":
// {name, did, device, publicKey (Uint8Array), privateKey (CryptoKey)}.
// outbox holds PaymentOutbox entries by id; meta holds settings by name.
export async function openWalletDB(name = 'icn-wallet') {
  const open = indexedDB.open(name, VERSION);
  open.onupgradeneeded = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('keys')) db.createObjectStore('keys', {keyPath: 'name'});
    if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', {keyPath: 'id'});
    if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
  };
  const db = await req(open);
  return {
    db,
    keys: new Store(db, 'keys', true),
    outbox: new Store(db, 'outbox', true),
    meta: new Store(db, 'meta', false),
    close: () => db.close(),
  };
}
