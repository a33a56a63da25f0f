package identity_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/icn-coop/icn/identity"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func baseCredential(subject identity.DID) identity.Credential {
	return identity.Credential{
		ID:        "cred-1",
		Subject:   subject,
		CoopID:    "coop-a",
		Roles:     []string{"member", "treasurer"},
		IssuedAt:  t0,
		ExpiresAt: t0.Add(365 * 24 * time.Hour),
	}
}

func TestCredential(t *testing.T) {
	t.Parallel()
	coop, member, stranger := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	issued, err := identity.IssueCredential(coop, baseCredential(member.DID()))
	if err != nil {
		t.Fatal(err)
	}
	if issued.Signer != coop.DID() {
		t.Errorf("signer %s, want the co-op", issued.Signer)
	}
	tampered := issued
	tampered.Payload = []byte(string(issued.Payload[:len(issued.Payload)-1]) + " }")
	wrongTag := identity.SignPayload(coop, identity.TagReport, issued.Payload)
	byStranger, err := identity.IssueCredential(stranger, baseCredential(member.DID()))
	if err != nil {
		t.Fatal(err)
	}
	// Signed by the co-op key but naming another issuer, or of another type.
	signRaw := func(edit func(map[string]any)) identity.Signed {
		var m map[string]any
		if err := json.Unmarshal(issued.Payload, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return identity.SignPayload(coop, identity.TagCredential, b)
	}
	otherIssuer := signRaw(func(m map[string]any) { m["issuer"] = string(stranger.DID()) })
	otherType := signRaw(func(m map[string]any) { m["type"] = "VerifiableCredential" })
	notJSON := identity.SignPayload(coop, identity.TagCredential, []byte("not json"))

	cases := []struct {
		name   string
		s      identity.Signed
		issuer identity.DID
		coopID string
		now    time.Time
		kind   error // nil: valid
	}{
		{"valid", issued, coop.DID(), "coop-a", t0.Add(time.Hour), nil},
		{"valid at issue", issued, coop.DID(), "coop-a", t0, nil},
		{"clock skew", issued, coop.DID(), "coop-a", t0.Add(-4 * time.Minute), nil},
		{"not yet valid", issued, coop.DID(), "coop-a", t0.Add(-6 * time.Minute), identity.ErrCredentialExpired},
		{"expires exactly", issued, coop.DID(), "coop-a", t0.Add(365 * 24 * time.Hour), identity.ErrCredentialExpired},
		{"expired", issued, coop.DID(), "coop-a", t0.Add(400 * 24 * time.Hour), identity.ErrCredentialExpired},
		{"wrong coop", issued, coop.DID(), "coop-b", t0.Add(time.Hour), identity.ErrCredentialCoop},
		{"wrong issuer expected", issued, stranger.DID(), "coop-a", t0.Add(time.Hour), identity.ErrCredentialIssuer},
		{"issued by stranger", byStranger, coop.DID(), "coop-a", t0.Add(time.Hour), identity.ErrCredentialIssuer},
		{"payload names other issuer", otherIssuer, coop.DID(), "coop-a", t0.Add(time.Hour), identity.ErrCredentialIssuer},
		{"other type", otherType, coop.DID(), "coop-a", t0.Add(time.Hour), identity.ErrCredentialInvalid},
		{"not json", notJSON, coop.DID(), "coop-a", t0.Add(time.Hour), identity.ErrCredentialInvalid},
		{"tampered payload", tampered, coop.DID(), "coop-a", t0.Add(time.Hour), identity.ErrBadSignature},
		{"wrong tag", wrongTag, coop.DID(), "coop-a", t0.Add(time.Hour), identity.ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := identity.VerifyCredential(tc.s, tc.issuer, tc.coopID, tc.now)
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) {
					t.Fatalf("VerifyCredential = %v, want %v", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyCredential: %v", err)
			}
			want := baseCredential(member.DID())
			want.Issuer, want.Type = coop.DID(), identity.CredentialType
			if c.ID != want.ID || c.Type != want.Type || c.Issuer != want.Issuer || c.Subject != want.Subject ||
				c.CoopID != want.CoopID || !slices.Equal(c.Roles, want.Roles) ||
				!c.IssuedAt.Equal(want.IssuedAt) || !c.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("credential = %+v, want %+v", c, want)
			}
		})
	}
}

func TestCredentialSignedJSON(t *testing.T) {
	t.Parallel()
	coop, member := testKey(t, 1), testKey(t, 2)
	issued, err := identity.IssueCredential(coop, baseCredential(member.DID()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(issued)
	if err != nil {
		t.Fatal(err)
	}
	var back identity.Signed
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.VerifyCredential(back, coop.DID(), "coop-a", t0); err != nil {
		t.Errorf("credential after JSON round trip: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(issued.Payload, &fields); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"id", "type", "issuer", "subject", "coop_id", "roles", "issued_at", "expires_at"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("credential JSON lacks %q: %s", name, issued.Payload)
		}
	}
	if fields["issued_at"] != "2025-03-01T12:00:00Z" {
		t.Errorf("issued_at = %v, want RFC 3339 UTC", fields["issued_at"])
	}
}

func TestIssueCredentialInvalid(t *testing.T) {
	t.Parallel()
	coop, member := testKey(t, 1), testKey(t, 2)
	cases := []struct {
		name string
		edit func(*identity.Credential)
	}{
		{"no id", func(c *identity.Credential) { c.ID = "" }},
		{"no subject", func(c *identity.Credential) { c.Subject = "" }},
		{"no coop", func(c *identity.Credential) { c.CoopID = "" }},
		{"expires at issue", func(c *identity.Credential) { c.ExpiresAt = c.IssuedAt }},
		{"expires before issue", func(c *identity.Credential) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := baseCredential(member.DID())
			tc.edit(&c)
			if _, err := identity.IssueCredential(coop, c); !errors.Is(err, identity.ErrCredentialInvalid) {
				t.Errorf("IssueCredential = %v, want ErrCredentialInvalid", err)
			}
		})
	}
	// Issuer and Type are set by IssueCredential, whatever the caller passed.
	c := baseCredential(member.DID())
	c.Issuer, c.Type = member.DID(), "Forged"
	s, err := identity.IssueCredential(coop, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := identity.VerifyCredential(s, coop.DID(), "coop-a", t0)
	if err != nil || got.Issuer != coop.DID() || got.Type != identity.CredentialType {
		t.Errorf("got %+v, %v", got, err)
	}
	// Times are stored in UTC.
	c = baseCredential(member.DID())
	c.IssuedAt = t0.In(time.FixedZone("X", 3600))
	s, _ = identity.IssueCredential(coop, c)
	got, _ = identity.VerifyCredential(s, coop.DID(), "coop-a", t0)
	if got.IssuedAt.Location() != time.UTC {
		t.Errorf("issued_at not UTC: %v", got.IssuedAt)
	}
}

func TestHasRole(t *testing.T) {
	t.Parallel()
	c := identity.Credential{Roles: []string{"member", "moderator"}}
	cases := []struct {
		role string
		want bool
	}{
		{"member", true},
		{"moderator", true},
		{"treasurer", false},
		{"Member", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := c.HasRole(tc.role); got != tc.want {
			t.Errorf("HasRole(%q) = %v, want %v", tc.role, got, tc.want)
		}
	}
	if (identity.Credential{}).HasRole("member") {
		t.Errorf("empty credential has a role")
	}
}
