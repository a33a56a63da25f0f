package membership_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
)

func TestJoinFlow(t *testing.T) {
	e := newEnv(t)
	alice := key(t, 1)
	if _, err := e.s.Authorize(alice.DID(), e.clk.Now()); !errors.Is(err, membership.ErrNotMember) {
		t.Fatalf("before joining: %v", err)
	}
	code := e.invite()
	app := appJSON(alice.DID(), code, "Alice", "alice@example.org")
	a, err := e.s.Apply(e.ctx, app, alice.Sign(identity.TagMembershipApplication, app))
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != membership.AppPending || a.DID != alice.DID() || a.Name != "Alice" || a.ID == "" {
		t.Fatalf("application %+v", a)
	}
	if pending, _ := e.s.Applications(membership.AppPending); len(pending) != 1 || pending[0].ID != a.ID {
		t.Fatalf("pending applications %+v", pending)
	}
	e.clk.Advance(time.Hour)
	m, err := e.s.Approve(e.ctx, a.ID, e.admin.DID())
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != membership.StatusActive || !slices.Equal(m.Roles, []string{membership.RoleMember}) || !m.JoinedAt.Equal(e.clk.Now()) {
		t.Fatalf("member %+v", m)
	}
	c, err := identity.VerifyCredential(m.Credential, e.coop.DID(), coopID, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != m.CredentialID || c.Subject != alice.DID() || !c.ExpiresAt.Equal(e.clk.Now().Add(365*24*time.Hour)) {
		t.Fatalf("credential %+v", c)
	}
	got, err := e.s.Authorize(alice.DID(), e.clk.Now())
	if err != nil || got.CredentialID != m.CredentialID {
		t.Fatalf("authorize: %+v %v", got, err)
	}

	ev := e.lastEvent(string(alice.DID()))
	if ev.Type != membership.EventMemberJoined {
		t.Fatalf("member feed: %+v", ev)
	}
	var p struct {
		DID   identity.DID `json:"did"`
		Name  string       `json:"name"`
		Roles []string     `json:"roles"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil || p.DID != alice.DID() || p.Name != "Alice" || !slices.Equal(p.Roles, []string{"member"}) {
		t.Fatalf("payload %s: %v", ev.Payload, err)
	}
	if e.lastEvent(ledger.CoopFeed).Type != membership.EventMemberJoined {
		t.Fatal("no MemberJoined in the co-op feed")
	}

	_, err = e.s.Approve(e.ctx, a.ID, e.admin.DID())
	wantErr(t, err, membership.ErrNotPending)
	_, err = e.s.Approve(e.ctx, "nope", e.admin.DID())
	wantErr(t, err, membership.ErrNotFound)
	_, err = e.s.Apply(e.ctx, app, alice.Sign(identity.TagMembershipApplication, app))
	wantErr(t, err, membership.ErrAlreadyMember)
	if got, _ := e.s.Application(a.ID); got.Status != membership.AppApproved {
		t.Fatalf("application after approval: %+v", got)
	}
}

func TestBootstrapAndAddMember(t *testing.T) {
	e := newEnv(t)
	adm, err := e.s.Authorize(e.admin.DID(), e.clk.Now())
	if err != nil || !slices.Equal(adm.Roles, []string{"member", "moderator", "treasurer", "proposer", "steward"}) {
		t.Fatalf("admin %+v %v", adm, err)
	}
	again, err := e.s.Bootstrap(e.ctx, e.admin.DID(), "Admin")
	if err != nil || again.CredentialID != adm.CredentialID {
		t.Fatalf("bootstrap is not idempotent: %+v %v", again, err)
	}
	if e.s.Admin() != e.admin.DID() {
		t.Fatal("admin not recorded")
	}
	_, err = e.s.AddMember(e.ctx, e.admin.DID(), "Admin", []string{"member"})
	wantErr(t, err, membership.ErrForbidden)

	bob := key(t, 2)
	m1, err := e.s.AddMember(e.ctx, bob.DID(), "Bob", []string{"treasurer"})
	if err != nil || !slices.Equal(m1.Roles, []string{"member", "treasurer"}) {
		t.Fatalf("add: %+v %v", m1, err)
	}
	m2, err := e.s.AddMember(e.ctx, bob.DID(), "Bob", []string{"member", "treasurer", "treasurer"})
	if err != nil || m2.CredentialID != m1.CredentialID {
		t.Fatalf("add again: %+v %v", m2, err)
	}
	m3, err := e.s.AddMember(e.ctx, bob.DID(), "Bob", []string{"moderator"})
	if err != nil || m3.CredentialID == m1.CredentialID || !m3.HasRole("moderator") || m3.HasRole("treasurer") {
		t.Fatalf("change roles: %+v %v", m3, err)
	}
	if !e.s.CredentialRevoked(m1.CredentialID) || e.s.CredentialRevoked(m3.CredentialID) {
		t.Fatal("a superseded credential must be revoked, the new one not")
	}
	_, err = e.s.AddMember(e.ctx, bob.DID(), "Bob", []string{"king"})
	wantErr(t, err, membership.ErrBadRequest)
	_, err = e.s.AddMember(e.ctx, "did:icn:nope", "X", nil)
	wantErr(t, err, membership.ErrBadRequest)

	// Expiry, and Bootstrap renewing the admin's credential.
	e.clk.Advance(366 * 24 * time.Hour)
	_, err = e.s.Authorize(e.admin.DID(), e.clk.Now())
	wantErr(t, err, membership.ErrCredentialExpired)
	_, err = e.s.CreateInvite(e.ctx, e.admin.DID())
	wantErr(t, err, membership.ErrForbidden)
	renewed, err := e.s.Bootstrap(e.ctx, e.admin.DID(), "Admin")
	if err != nil || renewed.CredentialID == adm.CredentialID || !renewed.JoinedAt.Equal(adm.JoinedAt) {
		t.Fatalf("renew: %+v %v", renewed, err)
	}
	if _, err := e.s.Authorize(e.admin.DID(), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestModeratorRequired(t *testing.T) {
	e := newEnv(t)
	alice, stranger := key(t, 1), key(t, 9)
	e.join(alice, "Alice")
	for _, by := range []identity.DID{alice.DID(), stranger.DID()} {
		_, err := e.s.CreateInvite(e.ctx, by)
		wantErr(t, err, membership.ErrForbidden)
		wantErr(t, e.s.Revoke(e.ctx, e.admin.DID(), by), membership.ErrForbidden)
	}
	bob := key(t, 2)
	app := appJSON(bob.DID(), e.invite(), "Bob", "bob@example.org")
	a, err := e.s.Apply(e.ctx, app, bob.Sign(identity.TagMembershipApplication, app))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Approve(e.ctx, a.ID, alice.DID())
	wantErr(t, err, membership.ErrForbidden)
	_, err = e.s.Approve(e.ctx, a.ID, bob.DID())
	wantErr(t, err, membership.ErrForbidden)
}

func TestApplyRejected(t *testing.T) {
	alice, mallory := key(t, 1), key(t, 66)
	sign := func(b []byte) []byte { return alice.Sign(identity.TagMembershipApplication, b) }
	cases := []struct {
		name string
		// make returns the application and its signature; it may use e to
		// prepare state (invites) first.
		make func(e *env) ([]byte, []byte)
		want error
	}{
		{"signed by another key", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "Alice", "a@x.org")
			return app, mallory.Sign(identity.TagMembershipApplication, app)
		}, identity.ErrBadSignature},
		{"wrong tag", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "Alice", "a@x.org")
			return app, alice.Sign(identity.TagDevice, app)
		}, identity.ErrBadSignature},
		{"signature over other bytes", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "Alice", "a@x.org")
			return append(app, ' '), sign(app)
		}, identity.ErrBadSignature},
		{"short signature", func(e *env) ([]byte, []byte) {
			return appJSON(alice.DID(), e.invite(), "Alice", "a@x.org"), []byte{1, 2, 3}
		}, identity.ErrSigLength},
		{"unknown invite", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), "no-such-code", "Alice", "a@x.org")
			return app, sign(app)
		}, membership.ErrBadInvite},
		{"used invite", func(e *env) ([]byte, []byte) {
			code := e.invite()
			bob := key(e.t, 2)
			first := appJSON(bob.DID(), code, "Bob", "b@x.org")
			if _, err := e.s.Apply(e.ctx, first, bob.Sign(identity.TagMembershipApplication, first)); err != nil {
				e.t.Fatal(err)
			}
			app := appJSON(alice.DID(), code, "Alice", "a@x.org")
			return app, sign(app)
		}, membership.ErrBadInvite},
		{"expired invite", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "Alice", "a@x.org")
			e.clk.Advance(7 * 24 * time.Hour)
			return app, sign(app)
		}, membership.ErrBadInvite},
		{"empty invite", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), "", "Alice", "a@x.org")
			return app, sign(app)
		}, membership.ErrBadInvite},
		{"oversized", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "Alice", "a@x.org")
			app = append(app[:len(app)-1], []byte(`,"pad":"`+strings.Repeat("x", 4096)+`"}`)...)
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"unknown field", func(e *env) ([]byte, []byte) {
			app := []byte(fmt.Sprintf(`{"did":%q,"invite_code":%q,"name":"A","email":"a@x.org","roles":"moderator"}`, alice.DID(), e.invite()))
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"field name in another case", func(e *env) ([]byte, []byte) {
			app := []byte(fmt.Sprintf(`{"DID":%q,"invite_code":%q,"name":"A","email":"a@x.org"}`, alice.DID(), e.invite()))
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"duplicate field", func(e *env) ([]byte, []byte) {
			app := []byte(fmt.Sprintf(`{"did":%q,"invite_code":%q,"name":"A","name":"B","email":"a@x.org"}`, alice.DID(), e.invite()))
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"missing field", func(e *env) ([]byte, []byte) {
			app := []byte(fmt.Sprintf(`{"did":%q,"invite_code":%q,"name":"A"}`, alice.DID(), e.invite()))
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"null field", func(e *env) ([]byte, []byte) {
			app := []byte(fmt.Sprintf(`{"did":%q,"invite_code":%q,"name":null,"email":"a@x.org"}`, alice.DID(), e.invite()))
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"trailing data", func(e *env) ([]byte, []byte) {
			app := append(appJSON(alice.DID(), e.invite(), "Alice", "a@x.org"), []byte(` {}`)...)
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"not an object", func(e *env) ([]byte, []byte) { return []byte(`["did"]`), sign([]byte(`["did"]`)) }, membership.ErrBadRequest},
		{"empty name", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "", "a@x.org")
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"long name", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), strings.Repeat("é", 101), "a@x.org")
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"control character in name", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "A\x00", "a@x.org")
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"email without @", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "Alice", "alice.example.org")
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"email too long", func(e *env) ([]byte, []byte) {
			app := appJSON(alice.DID(), e.invite(), "Alice", strings.Repeat("a", 250)+"@x.org")
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"malformed DID", func(e *env) ([]byte, []byte) {
			app := appJSON(identity.DID(string(alice.DID())+"1"), e.invite(), "Alice", "a@x.org")
			return app, sign(app)
		}, membership.ErrBadRequest},
		{"number for a string", func(e *env) ([]byte, []byte) {
			app := []byte(fmt.Sprintf(`{"did":%q,"invite_code":%q,"name":5,"email":"a@x.org"}`, alice.DID(), e.invite()))
			return app, sign(app)
		}, membership.ErrBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			app, sig := tc.make(e)
			before := e.snapshot()
			_, err := e.s.Apply(e.ctx, app, sig)
			wantErr(t, err, tc.want)
			if e.snapshot() != before {
				t.Fatal("a rejected application wrote to the file")
			}
			if _, code := membership.Code(err); code == "" {
				t.Fatalf("no wire code for %v", err)
			}
		})
	}
}

func TestApplyPendingRepeat(t *testing.T) {
	e := newEnv(t)
	alice := key(t, 1)
	app := appJSON(alice.DID(), e.invite(), "Alice", "a@x.org")
	sig := alice.Sign(identity.TagMembershipApplication, app)
	a1, err := e.s.Apply(e.ctx, app, sig)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	a2, err := e.s.Apply(e.ctx, app, sig)
	if err != nil || a2 != a1 {
		t.Fatalf("identical repeat: %+v %v, want %+v", a2, err, a1)
	}
	code := e.invite()
	other := appJSON(alice.DID(), code, "Alice B.", "a@x.org")
	_, err = e.s.Apply(e.ctx, other, alice.Sign(identity.TagMembershipApplication, other))
	wantErr(t, err, membership.ErrConflict)
	// The refused application did not consume its invite.
	bob := key(t, 2)
	bapp := appJSON(bob.DID(), code, "Bob", "b@x.org")
	if _, err := e.s.Apply(e.ctx, bapp, bob.Sign(identity.TagMembershipApplication, bapp)); err != nil {
		t.Fatalf("invite consumed by a refused application: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	alice, bob := key(t, 1), key(t, 2)
	m := e.join(alice, "Alice")
	if _, err := e.s.AddMember(e.ctx, bob.DID(), "Bob", []string{"moderator"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Revoke(e.ctx, alice.DID(), bob.DID()); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Authorize(alice.DID(), e.clk.Now())
	wantErr(t, err, membership.ErrRevoked)
	if st, code := membership.Code(err); st != http.StatusForbidden || code != "credential_revoked" {
		t.Fatalf("code %d %s", st, code)
	}
	if !e.s.CredentialRevoked(m.CredentialID) {
		t.Fatal("credential id not in the revoked set")
	}
	if got, err := e.s.Member(alice.DID()); err != nil || got.Status != membership.StatusRevoked {
		t.Fatalf("member after revoke: %+v %v", got, err)
	}
	for _, feed := range []string{string(alice.DID()), ledger.CoopFeed} {
		ev := e.lastEvent(feed)
		var p struct {
			DID          identity.DID `json:"did"`
			CredentialID string       `json:"credential_id"`
		}
		if ev.Type != membership.EventMemberRevoked || json.Unmarshal(ev.Payload, &p) != nil || p.DID != alice.DID() || p.CredentialID != m.CredentialID {
			t.Fatalf("feed %q: %+v", feed, ev)
		}
	}
	n := len(e.events(ledger.CoopFeed))
	if err := e.s.Revoke(e.ctx, alice.DID(), bob.DID()); err != nil {
		t.Fatalf("revoke again: %v", err)
	}
	if len(e.events(ledger.CoopFeed)) != n {
		t.Fatal("revoking twice appended an event")
	}

	wantErr(t, e.s.Revoke(e.ctx, e.admin.DID(), e.admin.DID()), membership.ErrForbidden)
	wantErr(t, e.s.Revoke(e.ctx, e.admin.DID(), bob.DID()), membership.ErrForbidden)
	wantErr(t, e.s.Revoke(e.ctx, key(t, 9).DID(), bob.DID()), membership.ErrNotMember)

	// A revoked member may apply again with a new invite and be re-admitted.
	m2 := e.join(alice, "Alice")
	if m2.CredentialID == m.CredentialID || !e.s.CredentialRevoked(m.CredentialID) {
		t.Fatal("re-admission must issue a new credential and keep the old one revoked")
	}
	if _, err := e.s.Authorize(alice.DID(), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestCode(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{membership.ErrNotMember, 403, "not_member"},
		{membership.ErrRevoked, 403, "credential_revoked"},
		{membership.ErrCredentialExpired, 403, "credential_expired"},
		{membership.ErrCredentialInvalid, 403, "credential_invalid"},
		{membership.ErrForbidden, 403, "forbidden"},
		{membership.ErrDeviceInactive, 403, "device_not_active"},
		{membership.ErrBadInvite, 400, "invalid_invite"},
		{membership.ErrBadRequest, 400, "invalid_request"},
		{membership.ErrExpired, 400, "request_expired"},
		{identity.ErrBadSignature, 401, "invalid_signature"},
		{identity.ErrSigLength, 401, "invalid_signature"},
		{fmt.Errorf("%w: did: %w", membership.ErrBadRequest, identity.ErrBase58), 400, "invalid_did"},
		{membership.ErrReplay, 409, "replayed_request"},
		{membership.ErrConflict, 409, "conflict"},
		{membership.ErrAlreadyMember, 409, "already_member"},
		{membership.ErrNotPending, 409, "not_pending"},
		{membership.ErrLastDevice, 409, "last_device"},
		{membership.ErrNotFound, 404, "not_found"},
		{membership.ErrNoDevice, 404, "device_not_found"},
		{ledger.ErrClosed, 503, "unavailable"},
		{errors.New("disk on fire"), 500, ""},
	}
	for _, tc := range cases {
		st, code := membership.Code(fmt.Errorf("context: %w", tc.err))
		if st != tc.status || code != tc.code {
			t.Errorf("Code(%v) = %d %q, want %d %q", tc.err, st, code, tc.status, tc.code)
		}
	}
}
