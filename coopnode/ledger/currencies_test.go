package ledger

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icn-coop/icn/money"
)

// TestRecordCurrencies: payments and credit limits follow the currency
// table recorded in the state, not the node's configuration, until the
// configuration is recorded; a recorded currency cannot be dropped or
// rescaled.
func TestRecordCurrencies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	tokens := money.Currency{Code: "tokens", Scale: 0}
	members := memberDIDs(t, 7, 2)
	a, b := members[0], members[1]
	open := func(mod func(*Options)) *Store {
		t.Helper()
		opts := testOptions(path)
		if mod != nil {
			mod(&opts)
		}
		return mustOpen(t, opts)
	}
	record := func(s *Store) (bool, error) { return s.RecordCurrencies(bg) }
	limitOfA := func(s *Store) int64 {
		t.Helper()
		bal, err := s.Balance(a, money.Hours)
		if err != nil {
			t.Fatal(err)
		}
		return bal.CreditLimit.Units()
	}

	s := open(nil)
	if changed, err := record(s); err != nil || !changed {
		t.Fatalf("first record: changed %v, err %v; want true, nil", changed, err)
	}
	if changed, err := record(s); err != nil || changed {
		t.Fatalf("same table again: changed %v, err %v; want false, nil", changed, err)
	}
	s.Close()

	// Another configuration, not recorded: the recorded table stays in force.
	wider := func(o *Options) {
		o.Currencies = money.Currencies{money.Hours.Code: money.Hours, tokens.Code: tokens}
		o.DefaultLimits = map[string]money.Amount{money.Hours.Code: hours(2 * defaultLimit), tokens.Code: money.FromUnits(5, tokens)}
	}
	s = open(wider)
	if got := limitOfA(s); got != defaultLimit {
		t.Fatalf("default limit %d in force, want the recorded %d", got, defaultLimit)
	}
	if _, ok := s.Currencies()[tokens.Code]; ok {
		t.Fatal("an unrecorded currency is accepted")
	}
	if p := mustPay(t, s, xfer(a, b, defaultLimit+1)); p.Status != StatusRejected {
		t.Fatalf("a payment over the recorded limit is %s", p.Status)
	}
	tr := xfer(b, a, 1)
	tr.Amount = money.FromUnits(1, tokens)
	if _, err := s.Pay(bg, tr); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a payment in an unrecorded currency: %v, want ErrInvalid", err)
	}

	if changed, err := record(s); err != nil || !changed {
		t.Fatalf("record the wider table: changed %v, err %v", changed, err)
	}
	if got := limitOfA(s); got != 2*defaultLimit {
		t.Fatalf("default limit %d after recording, want %d", got, 2*defaultLimit)
	}
	if p := mustPay(t, s, xfer(a, b, defaultLimit+1)); p.Status != StatusCommitted {
		t.Fatalf("a payment within the recorded limit is %s", p.Status)
	}
	if p := mustPay(t, s, tr); p.Status != StatusCommitted {
		t.Fatalf("a payment in the recorded currency is %s", p.Status)
	}
	s.Close()

	for _, tc := range []struct {
		name, want string
		mod        func(*Options)
	}{
		{"drop a currency", "tokens is in the ledger", nil},
		{"rescale a currency", "scale cannot change", func(o *Options) {
			wider(o)
			o.Currencies[tokens.Code] = money.Currency{Code: tokens.Code, Scale: 2}
			delete(o.DefaultLimits, tokens.Code)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(tc.mod)
			defer s.Close()
			_, err := record(s)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("record: %v, want ErrInvalid saying %q", err, tc.want)
			}
			if _, ok := s.Currencies()[tokens.Code]; !ok {
				t.Fatal("a refused table replaced the recorded one")
			}
		})
	}
}

// TestCurrencyTableCanonical: the configured table encodes the same
// whatever order its maps were built in, so nodes with the same
// configuration never record it again.
func TestCurrencyTableCanonical(t *testing.T) {
	cs := money.Currencies{}
	limits := map[string]money.Amount{}
	var first []byte
	for i, code := range []string{"hours", "a", "zz", "m_1", "b9"} {
		c := money.Currency{Code: code, Scale: int32(i)}
		cs[code], limits[code] = c, money.FromUnits(int64(100*i), c)
	}
	for range 20 {
		tb, err := tableOf(cs, limits)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = tb.raw
		} else if string(tb.raw) != string(first) {
			t.Fatal("the same table encodes two ways")
		}
		back, err := decodeTable(tb.raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(back.byCode) != len(cs) || back.defaults["zz"] != limits["zz"] {
			t.Fatalf("decoded %v %v", back.byCode, back.defaults)
		}
	}
}
