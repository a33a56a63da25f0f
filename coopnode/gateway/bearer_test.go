package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestAuthorizationHeader: the Authorization header is credentials =
// "Bearer" 1*SP b64token (RFC 6750 §2.1), the scheme in any case (RFC 7235
// §2.1), on plain routes and on the event stream's WebSocket handshake alike.
// Another scheme, no token, no space, a tab, a token with characters no token
// has, or two Authorization headers are refused with 401 (missing_token for a
// header of the wrong form, invalid_token for a bad token); a valid header
// wins over the stream's token parameter.
func TestAuthorizationHeader(t *testing.T) {
	t.Parallel()
	e, alice, _ := sessionEnv(t)
	tok := e.login(alice).Token()
	balance := e.srv.URL + "/ledger/" + testCoop + "/balance/" + string(alice.DID())
	wsURL := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/" + testCoop

	for _, tc := range []struct {
		name   string
		header []string // Authorization values; none: no header
		status int      // 200 for the balance (101 for the stream)
		code   string
	}{
		{"Bearer", []string{"Bearer " + tok}, 200, ""},
		{"bearer", []string{"bearer " + tok}, 200, ""},
		{"BEARER", []string{"BEARER " + tok}, 200, ""},
		{"bEaReR", []string{"bEaReR " + tok}, 200, ""},
		{"two spaces", []string{"Bearer  " + tok}, 200, ""},
		{"no header", nil, 401, "missing_token"},
		{"empty header", []string{""}, 401, "missing_token"},
		{"Basic", []string{"Basic " + tok}, 401, "missing_token"},
		{"scheme only", []string{"Bearer"}, 401, "missing_token"},
		{"scheme and a space", []string{"Bearer "}, 401, "missing_token"},
		{"no space", []string{"Bearer" + tok}, 401, "missing_token"},
		{"tab", []string{"Bearer\t" + tok}, 401, "missing_token"},
		{"scheme as a prefix", []string{"Bearerx " + tok}, 401, "missing_token"},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, 401, "missing_token"},
		{"token with a space", []string{"Bearer " + tok + " x"}, 401, "invalid_token"},
		{"token with a comma", []string{"Bearer " + tok + ","}, 401, "invalid_token"},
		{"padding only", []string{"Bearer ==="}, 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.header {
				h.Add("Authorization", v)
			}
			req, err := http.NewRequest("GET", balance, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = h.Clone()
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.status == 200 {
				if resp.StatusCode != 200 {
					t.Errorf("balance: %d %s, want 200", resp.StatusCode, body)
				}
			} else {
				wantErr(t, "balance", resp.StatusCode, body, tc.status, tc.code)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h, HTTPClient: e.srv.Client()})
			if tc.status == 200 {
				if err != nil {
					t.Fatalf("stream: %v", err)
				}
				conn.Close(websocket.StatusNormalClosure, "")
				return
			}
			if err == nil {
				conn.CloseNow()
				t.Fatal("stream opened, want 401")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("stream: %v (response %v), want %d", err, resp, tc.status)
			}
		})
	}

	// On the stream's route a header, good or bad, is what counts: the token
	// parameter is read only without one.
	for _, tc := range []struct {
		name   string
		header string
		query  string
		ok     bool
	}{
		{"parameter only", "", tok, true},
		{"lower-case header and a bad parameter", "bearer " + tok, "garbage", true},
		{"bad header and a good parameter", "Basic " + tok, tok, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, resp, err := websocket.Dial(ctx, wsURL+"?token="+tc.query, &websocket.DialOptions{HTTPHeader: h, HTTPClient: e.srv.Client()})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("stream: %v", err)
			case tc.ok:
				conn.Close(websocket.StatusNormalClosure, "")
			case err == nil:
				conn.CloseNow()
				t.Fatal("stream opened, want 401")
			case resp == nil || resp.StatusCode != http.StatusUnauthorized:
				t.Fatalf("stream: %v (response %v), want 401", err, resp)
			}
		})
	}
}
