package membership_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
)

func TestSetRoleGrantRevoke(t *testing.T) {
	e := newEnv(t)
	alice := key(t, 1)
	joined := e.join(alice, "Alice")
	e.clk.Advance(time.Hour)

	m, changed, err := e.s.SetRole(e.ctx, alice.DID(), membership.RoleProposer, true, e.admin.DID())
	if err != nil || !changed {
		t.Fatalf("grant: changed %v, err %v", changed, err)
	}
	if want := []string{membership.RoleMember, membership.RoleProposer}; !slices.Equal(m.Roles, want) {
		t.Fatalf("roles %v, want %v", m.Roles, want)
	}
	got, err := e.s.Authorize(alice.DID(), e.clk.Now())
	if err != nil || got.CredentialID == joined.CredentialID || !slices.Equal(got.Roles, m.Roles) {
		t.Fatalf("after grant: %+v %v", got, err)
	}
	c, err := identity.VerifyCredential(got.Credential, e.coop.DID(), coopID, e.clk.Now())
	if err != nil || !slices.Equal(c.Roles, m.Roles) || !c.ExpiresAt.Equal(joined.CredentialExpiresAt) || !c.IssuedAt.Equal(e.clk.Now()) {
		t.Fatalf("credential %+v %v (the expiry stays %s)", c, err, joined.CredentialExpiresAt)
	}
	if !e.s.CredentialRevoked(joined.CredentialID) {
		t.Fatal("the replaced credential is not revoked")
	}
	ev := e.lastEvent(string(alice.DID()))
	var p struct {
		DID          identity.DID `json:"did"`
		Role         string       `json:"role"`
		Grant        bool         `json:"grant"`
		Roles        []string     `json:"roles"`
		By           identity.DID `json:"by"`
		CredentialID string       `json:"credential_id"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil || ev.Type != membership.EventRolesChanged ||
		p.DID != alice.DID() || p.Role != membership.RoleProposer || !p.Grant || p.By != e.admin.DID() ||
		p.CredentialID != got.CredentialID || !slices.Equal(p.Roles, m.Roles) {
		t.Fatalf("event %+v %+v %v", ev, p, err)
	}
	if e.lastEvent("").Type != membership.EventRolesChanged {
		t.Fatal("RolesChanged is not in the co-op feed")
	}

	// A grant of a role held changes nothing: no write, no event.
	before := e.snapshot()
	if _, changed, err := e.s.SetRole(e.ctx, alice.DID(), membership.RoleProposer, true, e.admin.DID()); err != nil || changed {
		t.Fatalf("repeat grant: changed %v err %v", changed, err)
	}
	if e.snapshot() != before {
		t.Fatal("a repeated grant wrote")
	}
	if _, changed, err := e.s.SetRole(e.ctx, alice.DID(), membership.RoleTreasurer, false, e.admin.DID()); err != nil || changed {
		t.Fatalf("revoke of a role not held: changed %v err %v", changed, err)
	}

	m, changed, err = e.s.SetRole(e.ctx, alice.DID(), membership.RoleProposer, false, e.admin.DID())
	if err != nil || !changed || !slices.Equal(m.Roles, []string{membership.RoleMember}) {
		t.Fatalf("revoke: %v %v %v", m.Roles, changed, err)
	}
	// The records survive a restart (every credential re-verified).
	e.restart()
	if got, err := e.s.Authorize(alice.DID(), e.clk.Now()); err != nil || !slices.Equal(got.Roles, []string{membership.RoleMember}) {
		t.Fatalf("after restart: %+v %v", got, err)
	}
}

func TestSetRoleRefusals(t *testing.T) {
	e := newEnv(t)
	alice, bob, stranger, gone := key(t, 1), key(t, 2), key(t, 3), key(t, 4)
	e.join(alice, "Alice")
	e.join(bob, "Bob")
	e.join(gone, "Gone")
	if err := e.s.Revoke(e.ctx, gone.DID(), e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		did   identity.DID
		role  string
		grant bool
		by    identity.DID
		want  error
		code  string
	}{
		{"member role", alice.DID(), membership.RoleMember, true, e.admin.DID(), membership.ErrMemberRole, "member_role"},
		{"member role revoked", alice.DID(), membership.RoleMember, false, e.admin.DID(), membership.ErrMemberRole, "member_role"},
		{"unknown role", alice.DID(), "king", true, e.admin.DID(), membership.ErrUnknownRole, "unknown_role"},
		{"not a member", stranger.DID(), membership.RoleProposer, true, e.admin.DID(), membership.ErrNoSuchMember, "member_not_found"},
		{"removed member", gone.DID(), membership.RoleProposer, true, e.admin.DID(), membership.ErrNoSuchMember, "member_not_found"},
		{"caller not a moderator", alice.DID(), membership.RoleModerator, true, bob.DID(), membership.ErrForbidden, "forbidden"},
		{"caller grants itself", bob.DID(), membership.RoleModerator, true, bob.DID(), membership.ErrForbidden, "forbidden"},
		{"the admin keeps every role", e.admin.DID(), membership.RoleTreasurer, false, e.admin.DID(), membership.ErrForbidden, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			_, _, err := e.s.SetRole(e.ctx, tc.did, tc.role, tc.grant, tc.by)
			wantErr(t, err, tc.want)
			if _, code := membership.Code(err); code != tc.code {
				t.Fatalf("code %q, want %q", code, tc.code)
			}
			if e.snapshot() != before {
				t.Fatal("a refused change wrote")
			}
		})
	}
}

func TestSetRoleLastModerator(t *testing.T) {
	e := newEnv(t)
	mod, other := key(t, 1), key(t, 2)
	// The admin's credential lapses (no renewal runs here), so the
	// moderators standing are those added after.
	e.clk.Advance(366 * 24 * time.Hour)
	if _, err := e.s.AddMember(e.ctx, mod.DID(), "Mod", []string{membership.RoleModerator}); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.s.SetRole(e.ctx, mod.DID(), membership.RoleModerator, false, mod.DID())
	wantErr(t, err, membership.ErrLastModerator)
	if status, code := membership.Code(err); status != 409 || code != "last_moderator" {
		t.Fatalf("%d %s", status, code)
	}
	// With a second moderator, the first may step down.
	if _, err := e.s.AddMember(e.ctx, other.DID(), "Other", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.SetRole(e.ctx, other.DID(), membership.RoleModerator, true, mod.DID()); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := e.s.SetRole(e.ctx, mod.DID(), membership.RoleModerator, false, mod.DID()); err != nil || !changed {
		t.Fatalf("step down: %v %v", changed, err)
	}
	_, _, err = e.s.SetRole(e.ctx, other.DID(), membership.RoleModerator, false, other.DID())
	wantErr(t, err, membership.ErrLastModerator)
}

func renewedEvents(t *testing.T, e *env, feed string) int {
	t.Helper()
	n := 0
	for _, typ := range e.events(feed) {
		if typ == membership.EventCredentialRenewed {
			n++
		}
	}
	return n
}

func TestRenewCredentials(t *testing.T) {
	e := newEnv(t) // the admin joins at t0
	alice, bob, carol := key(t, 1), key(t, 2), key(t, 3)
	e.join(alice, "Alice")
	e.join(bob, "Bob")
	if err := e.s.Revoke(e.ctx, bob.DID(), e.admin.DID()); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(200 * 24 * time.Hour)
	e.join(carol, "Carol") // expires at t0+565d: not due

	// Outside renew_before (30 days) nothing is due, and nothing is written.
	e.clk.Advance(134 * 24 * time.Hour) // t0+334d: 31 days left
	before := e.snapshot()
	if rs, err := e.s.RenewDue(e.ctx); err != nil || len(rs) != 0 {
		t.Fatalf("early renewal: %+v %v", rs, err)
	}
	if e.snapshot() != before {
		t.Fatal("a run with nothing due wrote")
	}

	e.clk.Advance(2 * 24 * time.Hour) // t0+336d: 29 days left
	oldAlice, _ := e.s.Member(alice.DID())
	rs, err := e.s.RenewDue(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dids []identity.DID
	for _, r := range rs {
		dids = append(dids, r.DID)
		if !r.ExpiresAt.Equal(e.clk.Now().Add(365 * 24 * time.Hour)) {
			t.Fatalf("renewal %+v: expires at now + 365 days", r)
		}
	}
	want := []identity.DID{alice.DID(), e.admin.DID()}
	slices.Sort(want)
	if !slices.Equal(dids, want) {
		t.Fatalf("renewed %v, want the admin and alice (not bob, removed, nor carol, not due)", dids)
	}
	got, err := e.s.Authorize(alice.DID(), e.clk.Now().Add(100*24*time.Hour))
	if err != nil || !slices.Equal(got.Roles, oldAlice.Roles) || got.Name != "Alice" || !got.JoinedAt.Equal(oldAlice.JoinedAt) {
		t.Fatalf("alice after renewal, past her old expiry: %+v %v", got, err)
	}
	if _, err := identity.VerifyCredential(got.Credential, e.coop.DID(), coopID, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if !e.s.CredentialRevoked(oldAlice.CredentialID) {
		t.Fatal("the renewed credential's predecessor is not revoked")
	}
	ev := e.lastEvent(string(alice.DID()))
	var p struct {
		DID          identity.DID `json:"did"`
		CredentialID string       `json:"credential_id"`
		Previous     string       `json:"previous"`
		ExpiresAt    time.Time    `json:"expires_at"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil || ev.Type != membership.EventCredentialRenewed ||
		p.DID != alice.DID() || p.CredentialID != got.CredentialID || p.Previous != oldAlice.CredentialID || !p.ExpiresAt.Equal(got.CredentialExpiresAt) {
		t.Fatalf("event %+v %+v %v", ev, p, err)
	}

	// Exactly once: later runs within the window renew nothing more.
	for range 3 {
		e.clk.Advance(24 * time.Hour)
		if rs, err := e.s.RenewDue(e.ctx); err != nil || len(rs) != 0 {
			t.Fatalf("second renewal: %+v %v", rs, err)
		}
	}
	if n := renewedEvents(t, e, string(alice.DID())); n != 1 {
		t.Fatalf("%d CredentialRenewed events for alice", n)
	}
	if n := renewedEvents(t, e, string(bob.DID())); n != 0 {
		t.Fatalf("the removed member was renewed %d times", n)
	}
	if m, _ := e.s.Member(bob.DID()); m.Status != membership.StatusRevoked {
		t.Fatalf("bob %+v", m)
	}
	// Renewed credentials verify after a restart.
	e.restart()
	if _, err := e.s.Authorize(alice.DID(), e.clk.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestRenewSkipsExpired(t *testing.T) {
	e := newEnv(t)
	alice := key(t, 1)
	e.join(alice, "Alice")
	e.clk.Advance(366 * 24 * time.Hour) // no renewal ran: both lapsed
	if rs, err := e.s.RenewDue(e.ctx); err != nil || len(rs) != 0 {
		t.Fatalf("an expired credential was renewed: %+v %v", rs, err)
	}
	_, err := e.s.Authorize(alice.DID(), e.clk.Now())
	wantErr(t, err, membership.ErrCredentialExpired)
}

// Runs that race (a node's scheduler and another's after a failover) renew
// each credential once: the second command names a credential replaced.
func TestRenewConcurrentOnce(t *testing.T) {
	e := newEnv(t)
	var ks []*identity.Key
	for i := range 20 {
		k := key(t, byte(10+i))
		e.join(k, "M")
		ks = append(ks, k)
	}
	e.clk.Advance(350 * 24 * time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, err := e.s.RenewDue(e.ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += len(rs)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != len(ks)+1 {
		t.Fatalf("%d renewals, want %d (every member and the admin once)", total, len(ks)+1)
	}
	for _, k := range ks {
		if n := renewedEvents(t, e, string(k.DID())); n != 1 {
			t.Fatalf("%s renewed %d times", k.DID().Short(), n)
		}
	}
}

func TestRenewBeforeMustBeShorterThanTTL(t *testing.T) {
	e := newEnv(t)
	opts := e.opts()
	opts.CredentialTTL, opts.RenewBefore = 24*time.Hour, 24*time.Hour
	if _, err := membership.New(e.l, opts); err == nil {
		t.Fatal("renew_before >= credential_ttl accepted")
	}
}

// TestPropertyRoleChanges: random grants and revocations by random callers
// (moderators or not, of any role, the member role and unknown ones
// included) keep the invariants: a refused change writes nothing and
// comes with one of SetRole's errors; changed says whether the roles
// moved; every member keeps the member role, its roles in canonical order
// and a credential that verifies and says them; and the co-op never loses
// its last moderator.
func TestPropertyRoleChanges(t *testing.T) {
	for seed := range int64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			e := newEnv(t)
			// The admin lapses, so that only the members below moderate
			// and the last-moderator rule can bite.
			e.clk.Advance(366 * 24 * time.Hour)
			var ks []*identity.Key
			for i := range 6 {
				k := key(t, byte(50+i))
				var roles []string
				if i < 2 {
					roles = []string{membership.RoleModerator}
				}
				if _, err := e.s.AddMember(e.ctx, k.DID(), fmt.Sprint("m", i), roles); err != nil {
					t.Fatal(err)
				}
				ks = append(ks, k)
			}
			roles := []string{membership.RoleMember, membership.RoleModerator, membership.RoleTreasurer, membership.RoleProposer, membership.RoleSteward, "king"}
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			var changes, lastMod int
			for step := range 200 {
				// Lean towards moderators acting on moderators, where the
				// rules bite; any caller, target and role may come.
				var mods []*identity.Key
				for _, k := range ks {
					if m, _ := e.s.Member(k.DID()); m.HasRole(membership.RoleModerator) {
						mods = append(mods, k)
					}
				}
				pick := func(p float64) *identity.Key {
					if rng.Float64() < p {
						return mods[rng.IntN(len(mods))]
					}
					return ks[rng.IntN(len(ks))]
				}
				target, by := pick(0.5), pick(0.8)
				role, grant := roles[rng.IntN(len(roles))], rng.IntN(2) == 0
				if rng.Float64() < 0.4 {
					role = membership.RoleModerator
				}
				before, _ := e.s.Member(target.DID())
				snap := e.snapshot()
				m, changed, err := e.s.SetRole(e.ctx, target.DID(), role, grant, by.DID())
				if err != nil {
					if !errors.Is(err, membership.ErrForbidden) && !errors.Is(err, membership.ErrMemberRole) &&
						!errors.Is(err, membership.ErrUnknownRole) && !errors.Is(err, membership.ErrLastModerator) {
						t.Fatalf("step %d: unexpected error %v", step, err)
					}
					if e.snapshot() != snap {
						t.Fatalf("step %d: refused (%v) but wrote", step, err)
					}
					if errors.Is(err, membership.ErrLastModerator) {
						lastMod++
					}
				} else if changed {
					changes++
				}
				if err == nil && changed == slices.Equal(m.Roles, before.Roles) {
					t.Fatalf("step %d: changed %v, roles %v → %v", step, changed, before.Roles, m.Roles)
				}
				moderators := 0
				for _, k := range ks {
					got, err := e.s.Authorize(k.DID(), e.clk.Now())
					if err != nil {
						t.Fatalf("step %d: %s: %v", step, k.DID().Short(), err)
					}
					c, err := identity.VerifyCredential(got.Credential, e.coop.DID(), coopID, e.clk.Now())
					if err != nil || !slices.Equal(c.Roles, got.Roles) || len(got.Roles) == 0 || got.Roles[0] != membership.RoleMember {
						t.Fatalf("step %d: %s holds %v, credential %+v %v", step, k.DID().Short(), got.Roles, c.Roles, err)
					}
					if got.HasRole(membership.RoleModerator) {
						moderators++
					}
				}
				if moderators == 0 {
					t.Fatalf("step %d: no moderator left", step)
				}
			}
			t.Logf("%d changes, %d last-moderator refusals", changes, lastMod)
			if changes < 10 || lastMod == 0 {
				t.Fatalf("the run tried too little: %d changes, %d last-moderator refusals", changes, lastMod)
			}
		})
	}
}
