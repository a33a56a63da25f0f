package clearing_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/money"
)

// busyBook has two periods of history, positions in two currencies (one with
// only a carried credit), pending transfers and bilateral sums.
func busyBook(t *testing.T) (*clearing.Book, *clearing.MemRecords) {
	env, rec := newEnv(), clearing.NewMemRecords()
	b := clearing.NewBook(rec)
	must(t)(b.Prepare(env, req("a1", A, B, h(100), at0+100), at0))
	must(t)(b.Commit("a1", at0+1))
	must(t)(b.Prepare(env, req("a2", A, C, h(10), at0+100), at0))
	must(t)(b.Commit("a2", at0+1))
	if _, err := b.OpenPeriod(2, at0+2); err != nil {
		t.Fatal(err)
	}
	must(t)(b.Prepare(env, req("b1", A, B, h(100), at0+100), at0+3))
	must(t)(b.Prepare(env, req("b2", B, C, h(40), at0+100), at0+3))
	must(t)(b.Prepare(env, req("b3", C, A, money.FromUnits(7, kwh), at0+50), at0+3))
	must(t)(b.Prepare(env, req("b4", C, B, money.FromUnits(9, kwh), at0+60), at0+3))
	must(t)(b.Prepare(env, req("b5", A, C, h(1), at0+70), at0+3))
	must(t)(b.Commit("b1", at0+4))
	must(t)(b.Commit("b3", at0+4))
	return b, rec
}

func TestSnapshotJSON(t *testing.T) {
	b, rec := busyBook(t)
	st := b.State()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"period":2`, `"units":9,`, `"carried":110}`, `"carried":-100}`, `"carried":-10}`, `"currency":"kwh"`, `"scale":3`, `"state":"prepared"`, `"intent_hash":"6234`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON lacks %s: %s", want, data)
		}
	}
	var back clearing.Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip\n%+v\n%+v", back, st)
	}
	r, err := clearing.Restore(back, rec)
	if err != nil {
		t.Fatal(err)
	}
	data2, _ := json.Marshal(r.State())
	if string(data2) != string(data) {
		t.Fatalf("restored state marshals differently:\n%s\n%s", data2, data)
	}
	// Same commands, same outcomes.
	for _, id := range []string{"b2", "b4", "b1", "zz"} {
		o1 := must(t)(b.Commit(id, at0+10))
		o2 := must(t)(r.Commit(id, at0+10))
		if o1 != o2 {
			t.Fatalf("commit %s: %+v vs %+v", id, o1, o2)
		}
	}
	x1, _ := b.ExpireDue(at0 + 1000)
	x2, _ := r.ExpireDue(at0 + 1000)
	if !reflect.DeepEqual(x1, x2) || len(x1) != 1 || x1[0].ID != "b5" {
		t.Fatalf("expire %v vs %v", x1, x2)
	}
	// An empty book marshals with empty lists, not nulls.
	data, _ = json.Marshal(clearing.NewBook(clearing.NewMemRecords()).State())
	if want := `{"period":1,"period_opened_at":0,"positions":[],"bilateral":[],"pending":[],"committed":0}`; string(data) != want {
		t.Fatalf("empty state %s", data)
	}
}

func TestTransferJSONStrict(t *testing.T) {
	good := clearing.Transfer{ID: "x", From: A, To: B, Amount: h(5), IntentHash: hash("x"), State: clearing.StateCommitted, Period: 3}
	data, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	var back clearing.Transfer
	if err := json.Unmarshal(data, &back); err != nil || back != good {
		t.Fatalf("%+v %v", back, err)
	}
	for name, bad := range map[string]string{
		"unknown field": strings.Replace(string(data), `"id"`, `"idx":1,"id"`, 1),
		"bad state":     strings.Replace(string(data), `"committed"`, `"done"`, 1),
		"short hash":    strings.Replace(string(data), `"intent_hash":"78`, `"intent_hash":"`, 1),
		"long hash":     strings.Replace(string(data), `"intent_hash":"78`, `"intent_hash":"7878`, 1),
		"non-hex hash":  strings.Replace(string(data), `"intent_hash":"78`, `"intent_hash":"zz`, 1),
	} {
		if bad == string(data) {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

// TestRestoreRejects: every snapshot a book could not have produced is refused.
func TestRestoreRejects(t *testing.T) {
	b, rec := busyBook(t)
	base := b.State()
	if len(base.Positions) < 3 || len(base.Pending) < 3 || len(base.Bilateral) < 2 {
		t.Fatalf("busy book too small: %+v", base)
	}
	cases := map[string]func(s *clearing.Snapshot){
		"period 0":            func(s *clearing.Snapshot) { s.Period = 0 },
		"committed off":       func(s *clearing.Snapshot) { s.Committed++ },
		"negative committed":  func(s *clearing.Snapshot) { s.Committed = -1 },
		"positions unsorted":  func(s *clearing.Snapshot) { s.Positions[0], s.Positions[1] = s.Positions[1], s.Positions[0] },
		"position duplicated": func(s *clearing.Snapshot) { s.Positions = append(s.Positions[:1], s.Positions...) },
		"empty position": func(s *clearing.Snapshot) {
			s.Positions = append(s.Positions, clearing.Position{DID: "did:icn:zz", Currency: "hours"})
		},
		"negative sent":            func(s *clearing.Snapshot) { s.Positions[0].Sent = -1 },
		"sent off":                 func(s *clearing.Snapshot) { s.Positions[0].Sent++ },
		"received off":             func(s *clearing.Snapshot) { s.Positions[0].Received++ },
		"reserved off":             func(s *clearing.Snapshot) { s.Positions[0].Reserved++ },
		"reservation dropped":      func(s *clearing.Snapshot) { s.Pending = s.Pending[1:] },
		"pending unsorted":         func(s *clearing.Snapshot) { s.Pending[0], s.Pending[1] = s.Pending[1], s.Pending[0] },
		"pending decided":          func(s *clearing.Snapshot) { s.Pending[0].State = clearing.StateCommitted },
		"pending with reason":      func(s *clearing.Snapshot) { s.Pending[0].Reason = clearing.ReasonExpired },
		"pending with period":      func(s *clearing.Snapshot) { s.Pending[0].Period = 1 },
		"pending decided at":       func(s *clearing.Snapshot) { s.Pending[0].DecidedAt = 1 },
		"pending to self":          func(s *clearing.Snapshot) { s.Pending[0].To = s.Pending[0].From },
		"pending bad currency":     func(s *clearing.Snapshot) { s.Pending[0].Amount = money.FromUnits(40, money.Currency{}) },
		"pending expiry not after": func(s *clearing.Snapshot) { s.Pending[0].ExpiresAt = s.Pending[0].PreparedAt },
		"pending empty id":         func(s *clearing.Snapshot) { s.Pending[0].ID = "" },
		"bilateral unsorted":       func(s *clearing.Snapshot) { s.Bilateral[0], s.Bilateral[1] = s.Bilateral[1], s.Bilateral[0] },
		"bilateral amount off":     func(s *clearing.Snapshot) { s.Bilateral[0].Amount++ },
		"bilateral count zero":     func(s *clearing.Snapshot) { s.Committed -= s.Bilateral[0].Count; s.Bilateral[0].Count = 0 },
		"bilateral to self":        func(s *clearing.Snapshot) { s.Bilateral[0].To = s.Bilateral[0].From },
		"carried-only position zeroed": func(s *clearing.Snapshot) {
			for i, p := range s.Positions {
				if p.Sent == 0 && p.Received == 0 && p.Reserved == 0 {
					s.Positions[i].Carried = 0
					return
				}
			}
			panic("no carried-only position")
		},
		"bilateral without position": func(s *clearing.Snapshot) {
			s.Bilateral = append(s.Bilateral, clearing.Bilateral{Currency: "zz", From: A, To: B, Amount: 1, Count: 1})
			s.Committed++
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			// A deep copy of base.
			data, _ := json.Marshal(base)
			var s clearing.Snapshot
			if err := json.Unmarshal(data, &s); err != nil {
				t.Fatal(err)
			}
			f(&s)
			if _, err := clearing.Restore(s, rec); !errors.Is(err, clearing.ErrCorrupt) {
				t.Fatalf("Restore: %v", err)
			}
		})
	}
	if _, err := clearing.Restore(base, rec); err != nil {
		t.Fatalf("base: %v", err)
	}
}

// TestRestoreAnyCarried: Restore accepts any carried value, and the restored
// book checks the cap against it.
func TestRestoreAnyCarried(t *testing.T) {
	b, rec := busyBook(t)
	for _, c := range []int64{math.MinInt64, -1, 1, 900, math.MaxInt64} {
		st := b.State()
		for i := range st.Positions {
			st.Positions[i].Carried = c
		}
		r, err := clearing.Restore(st, rec.Clone())
		if err != nil {
			t.Fatalf("carried %d: %v", c, err)
		}
		if !reflect.DeepEqual(r.State(), st) {
			t.Fatalf("carried %d: state\n%+v\nwant %+v", c, r.State(), st)
		}
		// A (hours): sent 100, reserved 1, cap 1000.
		o := must(t)(r.Prepare(newEnv(), req("n", A, B, h(1), at0+100), at0+5))
		if fits := c+100+1+1 <= 1000 && c != math.MaxInt64; fits != (o.Transfer.State == clearing.StatePrepared) {
			t.Fatalf("carried %d: %+v", c, o.Transfer)
		}
	}
}
