package membership_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
)

func TestPrimaryDeviceImplicit(t *testing.T) {
	e := newEnv(t)
	stranger := key(t, 9) // not a member: may still log in (and apply)
	keys := e.s.LoginKeys(stranger.DID(), e.clk.Now())
	if len(keys) != 1 || keys[0].ID != membership.PrimaryDevice || !keys[0].PublicKey.Equal(stranger.Public()) {
		t.Fatalf("login keys %+v", keys)
	}
	if e.s.LoginKeys("did:icn:bad", e.clk.Now()) != nil {
		t.Fatal("login keys for a malformed DID")
	}
	_, err := e.s.Device(stranger.DID(), "laptop")
	wantErr(t, err, membership.ErrNoDevice)
}

func TestAddDevice(t *testing.T) {
	alice, phone, mallory := key(t, 1), key(t, 11), key(t, 66)
	add := func(e *env, fields map[string]any, signer *identity.Key, tag identity.Tag) error {
		base := map[string]any{
			"did": alice.DID(), "action": "add", "device_id": "phone", "name": "Phone",
			"public_key": identity.B64(phone.Public()), "signed_by": "primary", "at": e.at(0),
		}
		for k, v := range fields {
			if v == nil {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		req, sig := signedReq(signer, tag, base)
		_, err := e.s.AddDevice(e.ctx, alice.DID(), req, sig)
		return err
	}
	cases := []struct {
		name   string
		fields map[string]any
		signer *identity.Key
		tag    identity.Tag
		want   error
	}{
		{"signed by another key", nil, mallory, identity.TagDevice, identity.ErrBadSignature},
		{"wrong tag", nil, alice, identity.TagKeyRotation, identity.ErrBadSignature},
		{"signed_by names no device", map[string]any{"signed_by": "tablet"}, alice, identity.TagDevice, identity.ErrBadSignature},
		{"stale at", map[string]any{"at": t0.Add(-6 * time.Minute).Format(time.RFC3339)}, alice, identity.TagDevice, membership.ErrExpired},
		{"future at", map[string]any{"at": t0.Add(6 * time.Minute).Format(time.RFC3339)}, alice, identity.TagDevice, membership.ErrExpired},
		{"bad at", map[string]any{"at": "yesterday"}, alice, identity.TagDevice, membership.ErrBadRequest},
		{"another DID", map[string]any{"did": mallory.DID()}, alice, identity.TagDevice, membership.ErrForbidden},
		{"wrong action", map[string]any{"action": "revoke"}, alice, identity.TagDevice, membership.ErrBadRequest},
		{"device id taken", map[string]any{"device_id": "primary"}, alice, identity.TagDevice, membership.ErrConflict},
		{"key taken", map[string]any{"public_key": identity.B64(alice.Public())}, alice, identity.TagDevice, membership.ErrConflict},
		{"bad device id", map[string]any{"device_id": "my phone"}, alice, identity.TagDevice, membership.ErrBadRequest},
		{"long device id", map[string]any{"device_id": string(make([]byte, 65))}, alice, identity.TagDevice, membership.ErrBadRequest},
		{"short key", map[string]any{"public_key": identity.B64(phone.Public()[:31])}, alice, identity.TagDevice, membership.ErrBadRequest},
		{"padded key", map[string]any{"public_key": identity.B64(phone.Public()) + "="}, alice, identity.TagDevice, membership.ErrBadRequest},
		{"missing name", map[string]any{"name": nil}, alice, identity.TagDevice, membership.ErrBadRequest},
		{"extra field", map[string]any{"roles": "moderator"}, alice, identity.TagDevice, membership.ErrBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.join(alice, "Alice")
			before := e.snapshot()
			wantErr(t, add(e, tc.fields, tc.signer, tc.tag), tc.want)
			if e.snapshot() != before {
				t.Fatal("a rejected request wrote to the file")
			}
		})
	}

	t.Run("ok, then replay", func(t *testing.T) {
		e := newEnv(t)
		e.join(alice, "Alice")
		req, sig := signedReq(alice, identity.TagDevice, map[string]any{
			"did": alice.DID(), "action": "add", "device_id": "phone", "name": "Phone",
			"public_key": identity.B64(phone.Public()), "signed_by": "primary", "at": e.at(-time.Minute),
		})
		d, err := e.s.AddDevice(e.ctx, alice.DID(), req, sig)
		if err != nil {
			t.Fatal(err)
		}
		if d.ID != "phone" || d.Status != membership.DeviceActive || !d.AddedAt.Equal(e.clk.Now()) || !d.PublicKey.Equal(phone.Public()) {
			t.Fatalf("device %+v", d)
		}
		if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"primary", "phone"}) {
			t.Fatalf("login keys %v", ids)
		}
		ev := e.lastEvent(string(alice.DID()))
		var p struct {
			DeviceID  string `json:"device_id"`
			PublicKey string `json:"public_key"`
		}
		if ev.Type != membership.EventDeviceAdded || json.Unmarshal(ev.Payload, &p) != nil || p.DeviceID != "phone" || p.PublicKey != identity.B64(phone.Public()) {
			t.Fatalf("event %+v", ev)
		}
		e.clk.Advance(2 * time.Minute)
		before := e.snapshot()
		_, err = e.s.AddDevice(e.ctx, alice.DID(), req, sig)
		wantErr(t, err, membership.ErrReplay)
		if e.snapshot() != before {
			t.Fatal("a replay wrote to the file")
		}
		// The new device signs for itself.
		if _, err := e.addDevice(alice.DID(), phone, "phone", "laptop", key(t, 12)); err != nil {
			t.Fatal(err)
		}
		// Once the request's time is out of the window it is stale, not a replay.
		e.clk.Advance(10 * time.Minute)
		_, err = e.s.AddDevice(e.ctx, alice.DID(), req, sig)
		wantErr(t, err, membership.ErrExpired)
	})
}

func TestRevokeDevice(t *testing.T) {
	e := newEnv(t)
	alice, phone, laptop := key(t, 1), key(t, 11), key(t, 12)
	e.join(alice, "Alice")
	if _, err := e.addDevice(alice.DID(), alice, "primary", "phone", phone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.addDevice(alice.DID(), alice, "primary", "laptop", laptop); err != nil {
		t.Fatal(err)
	}

	// Signed by a key that is not the signed_by device's.
	req, sig := signedReq(laptop, identity.TagDevice, map[string]any{
		"did": alice.DID(), "action": "revoke", "device_id": "phone", "signed_by": "phone", "at": e.at(0),
	})
	wantErr(t, e.s.RevokeDevice(e.ctx, alice.DID(), "phone", req, sig), identity.ErrBadSignature)
	// device_id must match the path's.
	wantErr(t, e.s.RevokeDevice(e.ctx, alice.DID(), "laptop", req, sig), membership.ErrBadRequest)
	wantErr(t, e.revokeDevice(alice.DID(), laptop, "laptop", "tablet"), membership.ErrNoDevice)

	// The phone revokes the primary key; it leaves LoginKeys and can sign no more.
	if err := e.revokeDevice(alice.DID(), phone, "phone", "primary"); err != nil {
		t.Fatal(err)
	}
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"phone", "laptop"}) {
		t.Fatalf("login keys %v", ids)
	}
	if d, _ := e.s.Device(alice.DID(), "primary"); d.Status != membership.DeviceRevoked || !d.RevokedAt.Equal(e.clk.Now()) {
		t.Fatalf("primary %+v", d)
	}
	if ev := e.lastEvent(string(alice.DID())); ev.Type != membership.EventDeviceRevoked {
		t.Fatalf("event %+v", ev)
	}
	wantErr(t, e.revokeDevice(alice.DID(), alice, "primary", "phone"), membership.ErrDeviceInactive)
	wantErr(t, e.revokeDevice(alice.DID(), phone, "phone", "primary"), membership.ErrReplay)
	e.clk.Advance(time.Second) // a new request, no longer a replay
	if err := e.revokeDevice(alice.DID(), phone, "phone", "primary"); err != nil {
		t.Fatalf("revoking a revoked device again: %v", err)
	}

	// A device may revoke itself, but not the last active one.
	if err := e.revokeDevice(alice.DID(), phone, "phone", "phone"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.revokeDevice(alice.DID(), phone, "phone", "phone"), membership.ErrReplay) // though the signer is now revoked
	wantErr(t, e.revokeDevice(alice.DID(), laptop, "laptop", "laptop"), membership.ErrLastDevice)
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"laptop"}) {
		t.Fatalf("login keys %v", ids)
	}
	all, err := e.s.Devices(alice.DID())
	if err != nil || len(all) != 3 {
		t.Fatalf("devices %+v %v", all, err)
	}
}

func TestRotate(t *testing.T) {
	e := newEnv(t)
	alice, next, other := key(t, 1), key(t, 21), key(t, 22)
	e.join(alice, "Alice")
	rotate := func(signer *identity.Key, signedBy, newID string, nk *identity.Key, grace int64) (membership.Device, error) {
		req, sig := signedReq(signer, identity.TagKeyRotation, map[string]any{
			"did": alice.DID(), "new_public_key": identity.B64(nk.Public()), "new_device_id": newID,
			"grace_seconds": grace, "signed_by": signedBy, "at": e.at(0),
		})
		return e.s.Rotate(e.ctx, alice.DID(), req, sig)
	}
	_, err := rotate(alice, "primary", "k2", next, int64(8*24*3600))
	wantErr(t, err, membership.ErrBadRequest)
	_, err = rotate(alice, "primary", "k2", next, -1)
	wantErr(t, err, membership.ErrBadRequest)
	_, err = rotate(other, "primary", "k2", next, 60)
	wantErr(t, err, identity.ErrBadSignature)
	req, _ := signedReq(alice, identity.TagKeyRotation, map[string]any{
		"did": alice.DID(), "new_public_key": identity.B64(next.Public()), "new_device_id": "k2",
		"grace_seconds": 60, "signed_by": "primary", "at": e.at(0),
	})
	_, err = e.s.Rotate(e.ctx, alice.DID(), req, alice.Sign(identity.TagDevice, req))
	wantErr(t, err, identity.ErrBadSignature)

	d, err := rotate(alice, "primary", "k2", next, 3600)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "k2" || d.Status != membership.DeviceActive || d.Name != "primary" {
		t.Fatalf("new device %+v", d)
	}
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"primary", "k2"}) {
		t.Fatalf("during grace: %v", ids)
	}
	old, _ := e.s.Device(alice.DID(), "primary")
	if old.Status != membership.DeviceRetiring || !old.RetiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("old device %+v", old)
	}
	ev := e.lastEvent(string(alice.DID()))
	if ev.Type != membership.EventKeyRotated {
		t.Fatalf("event %+v", ev)
	}
	// The same request again is a replay, though its signer is now retiring.
	_, err = rotate(alice, "primary", "k2", next, 3600)
	wantErr(t, err, membership.ErrReplay)
	// A retiring key logs in but signs nothing.
	_, err = e.addDevice(alice.DID(), alice, "primary", "x", other)
	wantErr(t, err, membership.ErrDeviceInactive)

	e.clk.Advance(time.Hour - time.Second)
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"primary", "k2"}) {
		t.Fatalf("end of grace: %v", ids)
	}
	e.clk.Advance(time.Second)
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"k2"}) {
		t.Fatalf("after grace: %v", ids)
	}
	if old, _ := e.s.Device(alice.DID(), "primary"); old.Status != membership.DeviceRevoked {
		t.Fatalf("old device after grace %+v", old)
	}

	// Grace 0: the old key stops at once.
	if _, err := rotate(next, "k2", "k3", other, 0); err != nil {
		t.Fatal(err)
	}
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"k3"}) {
		t.Fatalf("after rotation without grace: %v", ids)
	}
	// The DID stays a member throughout.
	if _, err := e.s.Authorize(alice.DID(), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestEmergencyRevoke(t *testing.T) {
	e := newEnv(t)
	alice, phone, laptop := key(t, 1), key(t, 11), key(t, 12)
	e.join(alice, "Alice")
	for id, k := range map[string]*identity.Key{"phone": phone, "laptop": laptop} {
		if _, err := e.addDevice(alice.DID(), alice, "primary", id, k); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Advance(time.Hour)
	req, sig := signedReq(laptop, identity.TagEmergencyRevoke, map[string]any{"did": alice.DID(), "keep_device": "phone", "at": e.at(0)})
	wantErr(t, e.s.EmergencyRevoke(e.ctx, alice.DID(), req, sig), identity.ErrBadSignature)
	req, sig = signedReq(laptop, identity.TagDevice, map[string]any{"did": alice.DID(), "keep_device": "laptop", "at": e.at(0)})
	wantErr(t, e.s.EmergencyRevoke(e.ctx, alice.DID(), req, sig), identity.ErrBadSignature)

	req, sig = signedReq(laptop, identity.TagEmergencyRevoke, map[string]any{"did": alice.DID(), "keep_device": "laptop", "at": e.at(0)})
	if err := e.s.EmergencyRevoke(e.ctx, alice.DID(), req, sig); err != nil {
		t.Fatal(err)
	}
	m, err := e.s.Member(alice.DID())
	if err != nil || !m.SessionsValidAfter.Equal(e.clk.Now()) || !e.s.SessionsValidAfter(alice.DID()).Equal(e.clk.Now()) {
		t.Fatalf("sessions valid after: %+v %v", m, err)
	}
	if ids := deviceIDs(e.s.LoginKeys(alice.DID(), e.clk.Now())); !slices.Equal(ids, []string{"laptop"}) {
		t.Fatalf("login keys %v", ids)
	}
	devs, _ := e.s.Devices(alice.DID())
	for _, d := range devs {
		if d.ID != "laptop" && (d.Status != membership.DeviceRevoked || !d.RevokedAt.Equal(e.clk.Now())) {
			t.Fatalf("device %+v not revoked", d)
		}
	}
	ev := e.lastEvent(string(alice.DID()))
	var p struct {
		Revoked []string `json:"revoked"`
	}
	if ev.Type != membership.EventKeysRevoked || json.Unmarshal(ev.Payload, &p) != nil || len(p.Revoked) != 2 {
		t.Fatalf("event %+v", ev)
	}
	wantErr(t, e.s.EmergencyRevoke(e.ctx, alice.DID(), req, sig), membership.ErrReplay)
	_, err = e.addDevice(alice.DID(), phone, "phone", "x", key(t, 13))
	wantErr(t, err, membership.ErrDeviceInactive)
}

// TestRestart checks that the cache agrees with a Store loaded afresh from
// the same file.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol, phone := key(t, 1), key(t, 2), key(t, 3), key(t, 11)
	e.join(alice, "Alice")
	e.join(bob, "Bob")
	if _, err := e.s.AddMember(e.ctx, carol.DID(), "Carol", []string{"treasurer"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Revoke(e.ctx, bob.DID(), e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.addDevice(alice.DID(), alice, "primary", "phone", phone); err != nil {
		t.Fatal(err)
	}
	req, sig := signedReq(phone, identity.TagEmergencyRevoke, map[string]any{"did": alice.DID(), "keep_device": "phone", "at": e.at(0)})
	if err := e.s.EmergencyRevoke(e.ctx, alice.DID(), req, sig); err != nil {
		t.Fatal(err)
	}
	app := appJSON(key(t, 4).DID(), e.invite(), "Dan", "d@x.org")
	if _, err := e.s.Apply(e.ctx, app, key(t, 4).Sign(identity.TagMembershipApplication, app)); err != nil {
		t.Fatal(err)
	}

	type view struct {
		Members  []membership.Member
		Devices  map[identity.DID][]membership.Device
		Login    map[identity.DID][]membership.Device
		Revoked  []bool
		Admin    identity.DID
		Auth     []string
		Sessions map[identity.DID]time.Time
		Epochs   map[identity.DID]uint64
	}
	look := func() view {
		v := view{Members: e.s.Members(), Devices: map[identity.DID][]membership.Device{}, Login: map[identity.DID][]membership.Device{},
			Admin: e.s.Admin(), Sessions: map[identity.DID]time.Time{}, Epochs: map[identity.DID]uint64{}}
		for _, m := range v.Members {
			v.Devices[m.DID], _ = e.s.Devices(m.DID)
			v.Login[m.DID] = e.s.LoginKeys(m.DID, e.clk.Now())
			v.Revoked = append(v.Revoked, e.s.CredentialRevoked(m.CredentialID))
			_, err := e.s.Authorize(m.DID, e.clk.Now())
			v.Auth = append(v.Auth, errString(err))
			v.Sessions[m.DID] = e.s.SessionsValidAfter(m.DID)
			v.Epochs[m.DID] = e.s.SessionEpoch(m.DID)
		}
		return v
	}
	before := look()
	if len(before.Members) != 4 {
		t.Fatalf("%d members", len(before.Members))
	}
	e.restart()
	after := look()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	// A replay is still refused after the restart.
	wantErr(t, e.s.EmergencyRevoke(e.ctx, alice.DID(), req, sig), membership.ErrReplay)
	if p, _ := e.s.Applications(membership.AppPending); len(p) != 1 {
		t.Fatalf("pending after restart: %+v", p)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	_, code := membership.Code(err)
	return code
}

// TestForeignCredential: a credential that does not verify against the co-op
// key is refused after loading.
func TestForeignCredential(t *testing.T) {
	e := newEnv(t)
	alice := key(t, 1)
	e.join(alice, "Alice")
	if err := e.l.Close(); err != nil {
		t.Fatal(err)
	}
	e.coop = key(t, 250) // the node now holds another co-op key
	e.open()
	_, err := e.s.Authorize(alice.DID(), e.clk.Now())
	wantErr(t, err, membership.ErrCredentialInvalid)
	_, err = e.s.Authorize(e.admin.DID(), e.clk.Now())
	wantErr(t, err, membership.ErrCredentialInvalid)
	// Bootstrap re-issues the admin's credential under the new key.
	if _, err := e.s.Bootstrap(e.ctx, e.admin.DID(), "Admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Authorize(e.admin.DID(), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentWrites runs many writers at once (one group commit) and checks
// the cache against a fresh load.
func TestConcurrentWrites(t *testing.T) {
	e := newEnv(t)
	alice := key(t, 1)
	e.join(alice, "Alice")
	const n = 16
	codes := make([]string, n)
	for i := range codes {
		codes[i] = e.invite()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			k := key(t, byte(100+i))
			app := appJSON(k.DID(), codes[i], "M", "m@x.org")
			a, err := e.s.Apply(e.ctx, app, k.Sign(identity.TagMembershipApplication, app))
			if err == nil {
				_, err = e.s.Approve(e.ctx, a.ID, e.admin.DID())
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := e.addDevice(alice.DID(), alice, "primary", "d"+string(rune('a'+i)), key(t, byte(150+i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	devs, _ := e.s.Devices(alice.DID())
	members := e.s.Members()
	if len(devs) != n+1 || len(members) != n+2 {
		t.Fatalf("%d devices, %d members", len(devs), len(members))
	}
	fresh, err := membership.New(e.l, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	fdevs, _ := fresh.Devices(alice.DID())
	if !reflect.DeepEqual(devs, fdevs) || !reflect.DeepEqual(members, fresh.Members()) {
		t.Fatal("cache differs from a fresh load")
	}
	if got := len(e.events(ledger.CoopFeed)); got != 2+n+n { // 2 joins before, n joins, n devices
		t.Fatalf("%d events in the co-op feed", got)
	}
}

// TestSessionEpoch: a DID's session epoch starts at 0 and rises by one with
// each revocation of its membership and each emergency revoke, for members
// and non-members; a repeated revoke, a re-admission, a device revocation and
// a restart leave it where it is. Devices are numbered (Seq) in the order
// they were added, never twice: the implicit primary is 0.
func TestSessionEpoch(t *testing.T) {
	e := newEnv(t)
	alice, erin, phone, laptop := key(t, 1), key(t, 5), key(t, 11), key(t, 12)
	want := func(what string, k *identity.Key, epoch uint64) {
		t.Helper()
		if got := e.s.SessionEpoch(k.DID()); got != epoch {
			t.Fatalf("%s: epoch %d, want %d", what, got, epoch)
		}
	}
	e.join(alice, "Alice")
	want("new member", alice, 0)
	if err := e.s.Revoke(e.ctx, alice.DID(), e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	want("revoked", alice, 1)
	if err := e.s.Revoke(e.ctx, alice.DID(), e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	want("revoked twice", alice, 1)
	e.join(alice, "Alice")
	want("re-admitted", alice, 1)
	if ds, err := e.s.Devices(alice.DID()); err != nil || len(ds) != 1 || ds[0].ID != membership.PrimaryDevice || ds[0].Seq != 0 {
		t.Fatalf("devices after the revocation: %+v %v", ds, err)
	}
	for i, k := range []*identity.Key{phone, laptop} {
		d, err := e.addDevice(alice.DID(), alice, "primary", fmt.Sprintf("d%d", i), k)
		if err != nil || d.Seq != uint64(i+1) {
			t.Fatalf("device %d: %+v %v", i, d, err)
		}
	}
	if err := e.revokeDevice(alice.DID(), alice, "primary", "d0"); err != nil {
		t.Fatal(err)
	}
	want("device revoked", alice, 1)
	if err := e.s.Revoke(e.ctx, alice.DID(), e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	want("revoked again after re-admission", alice, 2)
	req, sig := signedReq(erin, identity.TagEmergencyRevoke, map[string]any{"did": erin.DID(), "keep_device": "primary", "at": e.at(0)})
	if err := e.s.EmergencyRevoke(e.ctx, erin.DID(), req, sig); err != nil {
		t.Fatal(err)
	}
	want("non-member after an emergency revoke", erin, 1)
	e.restart()
	want("after a restart", alice, 2)
	want("non-member after a restart", erin, 1)
	d, err := e.addDevice(alice.DID(), alice, "primary", "d2", key(t, 13))
	if err != nil || d.Seq != 3 {
		t.Fatalf("device added after a restart: %+v %v", d, err)
	}
}
