package gateway

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// TestSignatureVerificationsMetric: every key the gateway tries on a
// payment intent counts once in icn_signature_verifications_total on
// /metrics, a failed try included.
func TestSignatureVerificationsMetric(t *testing.T) {
	_, e := newTestGateway(t, nil)
	const series = `icn_signature_verifications_total{component="gateway",kind="intent"}`
	count := func() string { t.Helper(); return e.metric(series) }
	if got := count(); got != "0" {
		t.Errorf("before any payment: %s %s, want 0", series, got)
	}

	adminS := e.login(e.admin)
	dave := newKey(t)
	e.join(adminS, dave, "dave")
	daveS := e.login(dave)
	pay := func(id string, signer *identity.Key, wantStatus int) {
		t.Helper()
		body := intentBody(signer, intent(id, dave.DID(), e.admin.DID(), "1.00"))
		if st, b := e.do("POST", "/ledger/"+testCoop+"/payment", daveS.Token(), body); st != wantStatus {
			t.Fatalf("payment %s: %d %s, want %d", id, st, b, wantStatus)
		}
	}

	// Signed with the session's key: one verification.
	pay("sig-1", dave, http.StatusOK)
	if got := count(); got != "1" {
		t.Errorf("after a payment signed with the session's key: %s, want 1", got)
	}

	// Signed with dave's second device while logged in with his primary
	// key: the primary key fails, then the second device's verifies.
	dev2 := newKey(t)
	add := signedDoc(dave, identity.TagDevice, map[string]string{"did": string(dave.DID()), "action": "add", "device_id": "dev2",
		"name": "phone", "public_key": identity.B64(dev2.Public()), "signed_by": "primary", "at": client.FormatTime(time.Now())})
	if st, body := e.do("POST", "/devices/"+string(dave.DID()), daveS.Token(), add); st != http.StatusCreated {
		t.Fatalf("add device: %d %s", st, body)
	}
	pay("sig-2", dev2, http.StatusOK)
	if got := count(); got != "3" {
		t.Errorf("after a payment signed with another device's key: %s, want 3", got)
	}

	// Signed by a stranger: both keys are tried and fail.
	pay("sig-3", newKey(t), http.StatusUnauthorized)
	if got := count(); got != "5" {
		t.Errorf("after a payment no key of dave's signed: %s, want 5", got)
	}
}

// metric reads one series' value from the gateway's /metrics.
func (e *testEnv) metric(series string) string {
	e.t.Helper()
	st, body := e.do("GET", "/metrics", "", nil)
	if st != http.StatusOK {
		e.t.Fatalf("/metrics: %d", st)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	e.t.Fatalf("/metrics lacks %s", series)
	return ""
}
