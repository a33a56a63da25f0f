package membership_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
)

const coopID = "coop-a"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an injectable clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// key returns a deterministic key for n.
func key(t testing.TB, n byte) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type env struct {
	t     testing.TB
	path  string
	clk   *clock
	coop  *identity.Key
	admin *identity.Key
	l     *ledger.Store
	s     *membership.Store
	ctx   context.Context
}

func (e *env) opts() membership.Options {
	return membership.Options{CoopID: coopID, CoopKey: e.coop, Clock: e.clk.Now}
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "l.db"), clk: &clock{now: t0},
		coop: key(t, 200), admin: key(t, 201), ctx: context.Background()}
	e.open()
	t.Cleanup(func() { e.l.Close() })
	if _, err := e.s.Bootstrap(e.ctx, e.admin.DID(), "Admin"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) open() {
	e.t.Helper()
	l, err := ledger.Open(ledger.Options{Path: e.path, Buckets: membership.Buckets, Clock: e.clk.Now, NoSync: true})
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := membership.New(l, e.opts())
	if err != nil {
		l.Close()
		e.t.Fatal(err)
	}
	e.l, e.s = l, s
}

// restart closes the ledger file and opens it again with a fresh Store.
func (e *env) restart() {
	e.t.Helper()
	if err := e.l.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *env) invite() string {
	e.t.Helper()
	inv, err := e.s.CreateInvite(e.ctx, e.admin.DID())
	if err != nil {
		e.t.Fatal(err)
	}
	return inv.Code
}

func appJSON(did identity.DID, code, name, email string) []byte {
	b, _ := json.Marshal(map[string]string{"did": string(did), "invite_code": code, "name": name, "email": email})
	return b
}

// join takes k through invite, application and approval.
func (e *env) join(k *identity.Key, name string) membership.Member {
	e.t.Helper()
	app := appJSON(k.DID(), e.invite(), name, "x@example.org")
	a, err := e.s.Apply(e.ctx, app, k.Sign(identity.TagMembershipApplication, app))
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.s.Approve(e.ctx, a.ID, e.admin.DID())
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// signedReq marshals fields and signs them with k for tag.
func signedReq(k *identity.Key, tag identity.Tag, fields map[string]any) (req, sig []byte) {
	req, _ = json.Marshal(fields)
	return req, k.Sign(tag, req)
}

func (e *env) at(d time.Duration) string { return e.clk.Now().Add(d).Format(time.RFC3339) }

// addDevice registers a device with key dk for owner, signed by signer as signedBy.
func (e *env) addDevice(owner identity.DID, signer *identity.Key, signedBy, id string, dk *identity.Key) (membership.Device, error) {
	req, sig := signedReq(signer, identity.TagDevice, map[string]any{
		"did": owner, "action": "add", "device_id": id, "name": "Phone " + id,
		"public_key": identity.B64(dk.Public()), "signed_by": signedBy, "at": e.at(0),
	})
	return e.s.AddDevice(e.ctx, owner, req, sig)
}

func (e *env) revokeDevice(owner identity.DID, signer *identity.Key, signedBy, id string) error {
	req, sig := signedReq(signer, identity.TagDevice, map[string]any{
		"did": owner, "action": "revoke", "device_id": id, "signed_by": signedBy, "at": e.at(0),
	})
	return e.s.RevokeDevice(e.ctx, owner, id, req, sig)
}

// snapshot hashes every bucket of the file (keys, values, sequences) but the
// store's own (a failed command still takes its index), to show that a
// failed call wrote nothing.
func (e *env) snapshot() [32]byte {
	e.t.Helper()
	h := sha256.New()
	var walk func(b *store.Bucket)
	walk = func(b *store.Bucket) {
		var seq [8]byte
		for i, v := 0, b.Sequence(); i < 8; i++ {
			seq[i] = byte(v >> (8 * i))
		}
		h.Write(seq[:])
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			h.Write([]byte{byte(len(k) >> 8), byte(len(k))})
			h.Write(k)
			if v == nil {
				walk(b.Bucket(k))
				continue
			}
			h.Write([]byte{byte(len(v) >> 8), byte(len(v))})
			h.Write(v)
		}
	}
	err := e.l.State().View(func(tx *store.View) error {
		return tx.ForEach(func(name []byte, b *store.Bucket) error {
			if string(name) == "store.meta" {
				return nil
			}
			h.Write(name)
			walk(b)
			return nil
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// events returns the types of feed's events.
func (e *env) events(feed string) []string {
	e.t.Helper()
	evs, err := e.l.ReadFeed(feed, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func (e *env) lastEvent(feed string) ledger.Event {
	e.t.Helper()
	evs, err := e.l.ReadFeed(feed, 0, 1000)
	if err != nil || len(evs) == 0 {
		e.t.Fatalf("feed %q: %v events, err %v", feed, len(evs), err)
	}
	return evs[len(evs)-1]
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func deviceIDs(ds []membership.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func membershipCode(err error) (int, string) { return membership.Code(err) }
