package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/icn-coop/icn/identity"
)

// TestDirectory lists the co-op's members in good standing to a member: DID
// and name only, ordered by DID, paged by ?limit and ?after; a revoked
// member and a pending applicant are not in it.
func TestDirectory(t *testing.T) {
	_, e := newTestGateway(t, func(c *Config) { c.Limits = RateLimits{PerIP: 1e6, PerDID: 1e6} })
	adminS := e.login(e.admin)
	names := map[identity.DID]string{e.admin.DID(): "admin"}
	var keys []*identity.Key
	for _, n := range []string{"ann", "bea", "cat", "dan"} {
		k := newKey(t)
		e.join(adminS, k, n)
		names[k.DID()] = n
		keys = append(keys, k)
	}
	// dan is revoked; eve has only applied.
	if err := adminS.RevokeMember(t.Context(), testCoop, keys[3].DID()); err != nil {
		t.Fatal(err)
	}
	delete(names, keys[3].DID())
	eve := newKey(t)
	code, err := adminS.CreateInvite(t.Context(), testCoop)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := e.do("POST", "/membership/"+testCoop+"/applications", e.login(eve).Token(), appBody(eve, code)); st != http.StatusCreated {
		t.Fatalf("eve applies: %d %s", st, body)
	}

	annTok := e.login(keys[0]).Token()
	type page struct {
		Members []map[string]string `json:"members"`
		Next    string              `json:"next"`
	}
	get := func(query string) page {
		t.Helper()
		st, body := e.do("GET", "/membership/"+testCoop+"/members"+query, annTok, nil)
		if st != http.StatusOK {
			t.Fatalf("directory%s: %d %s", query, st, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	var want []string
	for d := range names {
		want = append(want, string(d))
	}
	slices.Sort(want)
	all := get("")
	if all.Next != "" || len(all.Members) != len(want) {
		t.Fatalf("one page: %+v, want %d members and no next", all, len(want))
	}
	for i, m := range all.Members {
		if m["did"] != want[i] || m["name"] != names[identity.DID(m["did"])] || len(m) != 2 {
			t.Errorf("member %d: %v, want did %s named %q and nothing else", i, m, want[i], names[identity.DID(want[i])])
		}
	}

	// The Go client reads the same page.
	if d, err := e.login(keys[0]).Directory(t.Context(), testCoop, 0, ""); err != nil || len(d.Members) != len(want) || string(d.Members[0].DID) != want[0] {
		t.Errorf("client.Directory: %+v %v", d, err)
	}

	// Pages of two: 4 members in good standing make two full pages, the
	// second without a next.
	var paged []string
	q := "?limit=2"
	for range 3 {
		p := get(q)
		for _, m := range p.Members {
			paged = append(paged, m["did"])
		}
		if p.Next == "" {
			break
		}
		if p.Next != p.Members[len(p.Members)-1]["did"] {
			t.Errorf("next %s is not the page's last DID", p.Next)
		}
		q = "?limit=2&after=" + p.Next
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged directory %v, want %v", paged, want)
	}

	for _, tc := range []struct{ query, code string }{
		{"?limit=0", "invalid_request"}, {"?limit=501", "invalid_request"}, {"?limit=x", "invalid_request"},
		{"?after=nope", "invalid_cursor"},
	} {
		st, body := e.do("GET", "/membership/"+testCoop+"/members"+tc.query, annTok, nil)
		if st != http.StatusBadRequest || errCode(body) != tc.code {
			t.Errorf("directory%s: %d %s, want 400 %s", tc.query, st, body, tc.code)
		}
		checkErrorShape(t, body)
	}
}

// appBody is a signed membership application of k with an invite code.
func appBody(k *identity.Key, code string) map[string]string {
	b, _ := json.Marshal(map[string]string{"did": string(k.DID()), "invite_code": code, "name": "Eve", "email": "eve@example.org"})
	return map[string]string{"application": identity.B64(b), "signature": identity.B64(k.Sign(identity.TagMembershipApplication, b))}
}

// TestDeviceList shows a member's devices: the implicit primary at first,
// then an added one, then that one revoked with the time of its revocation.
func TestDeviceList(t *testing.T) {
	_, e := newTestGateway(t, nil)
	adminS := e.login(e.admin)
	ann := newKey(t)
	e.join(adminS, ann, "ann")
	tok := e.login(ann).Token()
	path := "/devices/" + string(ann.DID())
	list := func() []map[string]string {
		t.Helper()
		st, body := e.do("GET", path, tok, nil)
		if st != http.StatusOK {
			t.Fatalf("devices: %d %s", st, body)
		}
		var out struct {
			Devices []map[string]string `json:"devices"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Devices
	}
	if ds := list(); len(ds) != 1 || ds[0]["id"] != "primary" || ds[0]["status"] != "active" || ds[0]["public_key"] != identity.B64(ann.Public()) {
		t.Fatalf("devices at first: %v", ds)
	}
	phone := newKey(t)
	now := rfc3339(e.clock.Now())
	add := signedDoc(ann, identity.TagDevice, map[string]string{"did": string(ann.DID()), "action": "add", "device_id": "phone",
		"name": "Ann's phone", "public_key": identity.B64(phone.Public()), "signed_by": "primary", "at": now})
	if st, body := e.do("POST", path, tok, add); st != http.StatusCreated {
		t.Fatalf("add: %d %s", st, body)
	}
	if ds := list(); len(ds) != 2 || ds[1]["id"] != "phone" || ds[1]["name"] != "Ann's phone" || ds[1]["status"] != "active" {
		t.Fatalf("devices after add: %v", ds)
	}
	rev := signedDoc(ann, identity.TagDevice, map[string]string{"did": string(ann.DID()), "action": "revoke", "device_id": "phone",
		"signed_by": "primary", "at": now})
	if st, body := e.do("DELETE", path+"/phone", tok, rev); st != http.StatusOK {
		t.Fatalf("revoke: %d %s", st, body)
	}
	if ds := list(); len(ds) != 2 || ds[1]["status"] != "revoked" || ds[1]["revoked_at"] == "" || ds[0]["status"] != "active" {
		t.Fatalf("devices after revoke: %v", ds)
	}
	if ds, err := e.login(ann).Devices(t.Context()); err != nil || len(ds) != 2 || ds[1].ID != "phone" || ds[1].Status != "revoked" {
		t.Errorf("client.Devices: %+v %v", ds, err)
	}
}
