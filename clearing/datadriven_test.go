package clearing_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/trust"
)

// TestScripts runs the clearing scripts in testdata/*.txt (the format of
// github.com/cockroachdb/datadriven, as etcd-io/raft's interaction tests use
// it): each directive is `command arg=value ...`, then `----`, then the
// output the book gives today. `go test ./clearing -run TestScripts -rewrite`
// regenerates the expected output; review the diff before committing it.
//
// Every file starts from an empty book (period 1, opened at 0) and an empty
// environment: no participant is known, no trust edge exists (trust 0),
// min trust is 0.1 (the hub's default) and no cap is set (a zero cap).
// Participants are short aliases (A, B, ...) whose DIDs come from keys with
// fixed seeds; outputs name them by alias. Times are plain integers (the
// book's unix nanoseconds): `at=` sets the script's clock, which a command
// without `at=` reuses.
//
// Commands (amounts are decimals in the currency, default hours (scale 2);
// kwh (scale 3) is known too, and scale= defines or overrides a currency's
// scale for one command):
//
//	participant did=A [status=active|suspended|unknown] [cap=500.00] [currency=hours]
//	cap did=A [currency=hours] [scale=N] (amount=500.00 | none)
//	trust from=(B, C) to=A weight=0.8   every from×to pair but from == to
//	min-trust weight=0.5
//	prepare id=t1 from=A to=B amount=10.00 [currency=hours] [scale=N] [expires=100] [intent=x] [at=N]
//	commit id=t1 [at=N]
//	abort id=t1 [reason=receiver_rejected] [at=N]
//	expire [at=N]                       ExpireDue
//	close-period [number=N] [at=N]      OpenPeriod(number, default current+1)
//	settle from=A to=B amount=1.00 [currency=hours]
//	show id=t1 | positions | bilateral | pending | book
//	restart                             the book through State, JSON and Restore
//
// An empty id is written id="" and an id of n bytes id-len=n. prepare's intent
// defaults to the id and expires to at+100.
//
// prepare, commit and abort print the Outcome (new, repeat, conflict=CODE or
// both), the record it holds (state, reason, period, times), the positions
// of its sender and receiver in its currency (cap_debit is what the cap
// counts besides reserved: carried + sent - received) and, once committed,
// their bilateral sum. Positions and bilateral sums are listed in the book's
// order, by DID, not by alias. Every command ends with a "stored ID STATE"
// line for each Records.Put it caused, so a command that stores nothing
// shows none.
//
// After every command the runner checks that Restore accepts the book's
// State and gives back the same State, and that positions net to zero per
// currency in the current period.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			t.Parallel()
			s := newScript()
			datadriven.RunTest(t, path, s.run)
		})
	}
}

// script is the state of one file: the environment, the records and the book.
type script struct {
	env     *fakeEnv
	rec     *putLog
	book    *clearing.Book
	now     int64
	curs    map[string]money.Currency
	dids    map[string]identity.DID // alias → DID
	names   map[identity.DID]string // DID → alias
	intents map[[32]byte]string     // intent hash → the name it was made from
}

func newScript() *script {
	rec := &putLog{MemRecords: clearing.NewMemRecords()}
	return &script{
		env: &fakeEnv{
			known: map[identity.DID]bool{}, active: map[identity.DID]bool{},
			trust: map[[2]identity.DID]uint32{}, min: 100_000, caps: map[capKey]money.Amount{},
		},
		rec:     rec,
		book:    clearing.NewBook(rec),
		curs:    map[string]money.Currency{hours.Code: hours, kwh.Code: kwh},
		dids:    map[string]identity.DID{},
		names:   map[identity.DID]string{},
		intents: map[[32]byte]string{},
	}
}

// putLog is MemRecords that remembers the ids of the Puts of one command.
type putLog struct {
	*clearing.MemRecords
	puts []string
}

func (r *putLog) Put(t clearing.Transfer) error {
	r.puts = append(r.puts, idText(t.ID)+" "+t.State.String())
	return r.MemRecords.Put(t)
}

// did returns the DID of alias: that of the key whose seed is the SHA-256 of
// "icn clearing testdata: " and the alias.
func (s *script) did(t testing.TB, alias string) identity.DID {
	if d, ok := s.dids[alias]; ok {
		return d
	}
	seed := sha256.Sum256([]byte("icn clearing testdata: " + alias))
	k, err := identity.KeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	s.dids[alias], s.names[k.DID()] = k.DID(), alias
	return k.DID()
}

func (s *script) name(d identity.DID) string {
	if n, ok := s.names[d]; ok {
		return n
	}
	return string(d)
}

func (s *script) intent(name string) [32]byte {
	h := sha256.Sum256([]byte("intent: " + name))
	s.intents[h] = name
	return h
}

// args reads a directive's arguments and fails the test on a missing,
// malformed or unused one.
type args struct {
	t    testing.TB
	td   *datadriven.TestData
	used map[string]bool
}

func (a *args) arg(key string) (datadriven.CmdArg, bool) {
	a.used[key] = true
	return a.td.Arg(key)
}

// str returns the single value of key, or def when key is absent (def == nil: required).
func (a *args) str(key string, def *string) string {
	arg, ok := a.arg(key)
	if !ok {
		if def == nil {
			a.td.Fatalf(a.t, "%s: missing %s=", a.td.Cmd, key)
		}
		return *def
	}
	v := arg.SingleVal(a.t)
	if v == `""` {
		v = ""
	}
	return v
}

func (a *args) has(key string) bool {
	_, ok := a.arg(key)
	return ok
}

func (a *args) list(key string) []string {
	arg, ok := a.arg(key)
	if !ok || len(arg.Vals) == 0 {
		a.td.Fatalf(a.t, "%s: missing %s=", a.td.Cmd, key)
	}
	return arg.Vals
}

func (a *args) int(key string, def int64) int64 {
	arg, ok := a.arg(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(arg.SingleVal(a.t), 10, 64)
	if err != nil {
		a.td.Fatalf(a.t, "%s: %s: %v", a.td.Cmd, key, err)
	}
	return n
}

// at reads at= and moves the script's clock to it.
func (a *args) at(s *script) int64 {
	s.now = a.int("at", s.now)
	return s.now
}

func (a *args) done() {
	for _, arg := range a.td.CmdArgs {
		if !a.used[arg.Key] {
			a.td.Fatalf(a.t, "%s: unknown argument %q", a.td.Cmd, arg.Key)
		}
	}
}

// currency reads currency= (default hours) and scale=. A code the script
// does not know needs scale=, and is known with that scale from then on.
func (a *args) currency(s *script) money.Currency {
	def := hours.Code
	code := a.str("currency", &def)
	c, ok := s.curs[code]
	c.Code = code
	if a.has("scale") {
		c.Scale = int32(a.int("scale", 0))
		if !ok {
			s.curs[code] = c // the scale the script first used prints its positions
		}
	} else if !ok {
		a.td.Fatalf(a.t, "%s: currency %q needs scale=", a.td.Cmd, code)
	}
	return c
}

func (a *args) amount(key string, c money.Currency) money.Amount {
	v := a.str(key, nil)
	amt, err := money.Parse(v, c)
	if err != nil {
		a.td.Fatalf(a.t, "%s: %s: %v", a.td.Cmd, key, err)
	}
	return amt
}

func (s *script) run(t *testing.T, td *datadriven.TestData) string {
	a := &args{t: t, td: td, used: map[string]bool{}}
	var out strings.Builder
	s.rec.puts = s.rec.puts[:0]
	s.exec(t, a, &out)
	a.done()
	for _, p := range s.rec.puts {
		fmt.Fprintf(&out, "stored %s\n", p)
	}
	s.checkInvariants(t, td)
	if out.Len() == 0 {
		return "ok\n"
	}
	return out.String()
}

func (s *script) exec(t *testing.T, a *args, out *strings.Builder) {
	td := a.td
	switch td.Cmd {
	case "participant":
		d := s.did(t, a.str("did", nil))
		def := "active"
		switch st := a.str("status", &def); st {
		case "active", "suspended":
			s.env.known[d], s.env.active[d] = true, st == "active"
		case "unknown":
			delete(s.env.known, d)
			delete(s.env.active, d)
		default:
			td.Fatalf(t, "participant: status %q", st)
		}
		if a.has("cap") {
			c := a.currency(s)
			s.env.caps[capKey{d, c.Code}] = a.amount("cap", c)
		}
		s.printParticipant(out, d)
	case "cap":
		d := s.did(t, a.str("did", nil))
		c := a.currency(s)
		if a.has("none") {
			delete(s.env.caps, capKey{d, c.Code})
		} else {
			s.env.caps[capKey{d, c.Code}] = a.amount("amount", c)
		}
		s.printParticipant(out, d)
	case "trust":
		w := s.weight(t, a)
		for _, f := range a.list("from") {
			for _, to := range a.list("to") {
				if f == to {
					continue
				}
				s.env.trust[[2]identity.DID{s.did(t, f), s.did(t, to)}] = uint32(w)
				fmt.Fprintf(out, "%s trusts %s %s\n", f, to, w)
			}
		}
	case "min-trust":
		s.env.min = uint32(s.weight(t, a))
		fmt.Fprintf(out, "min trust %s\n", trust.Weight(s.env.min))
	case "prepare":
		s.prepare(t, a, out)
	case "commit":
		id := s.id(a)
		at := a.at(s)
		o, err := s.book.Commit(id, at)
		s.printOutcome(out, o, err)
	case "abort":
		id := s.id(a)
		def := ""
		r := clearing.Reason(a.str("reason", &def))
		at := a.at(s)
		o, err := s.book.Abort(id, r, at)
		s.printOutcome(out, o, err)
	case "expire":
		at := a.at(s)
		ts, err := s.book.ExpireDue(at)
		if len(ts) == 0 {
			out.WriteString("expired none\n")
		}
		for _, x := range ts {
			out.WriteString("expired " + s.transfer(x) + "\n")
		}
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		}
		s.printNextExpiry(out)
	case "close-period":
		cur, _ := s.book.Period()
		n := uint64(a.int("number", int64(cur+1)))
		at := a.at(s)
		sum, err := s.book.OpenPeriod(n, at)
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			return
		}
		fmt.Fprintf(out, "closed period %d opened_at=%d closed_at=%d transfers=%d\n", sum.Number, sum.OpenedAt, sum.ClosedAt, sum.Transfers)
		for _, p := range sum.Positions {
			out.WriteString("  " + s.position(p) + "\n")
		}
		for _, b := range sum.Bilateral {
			out.WriteString("  " + s.bilateral(b) + "\n")
		}
		num, opened := s.book.Period()
		fmt.Fprintf(out, "opened period %d at %d\n", num, opened)
	case "settle":
		from, to := s.did(t, a.str("from", nil)), s.did(t, a.str("to", nil))
		c := a.currency(s)
		amt := a.amount("amount", c)
		if err := s.book.Settle(from, to, c.Code, amt.Units()); err != nil {
			fmt.Fprintf(out, "error: %s\n", s.aliased(err.Error()))
		}
		s.printPositions(out, c.Code, from, to)
	case "show":
		id := s.id(a)
		x, ok, err := s.book.Transfer(id)
		switch {
		case err != nil:
			fmt.Fprintf(out, "error: %v\n", err)
		case !ok:
			fmt.Fprintf(out, "%s: not found\n", idText(id))
		default:
			out.WriteString(s.transfer(x) + "\n")
		}
	case "positions":
		s.printAllPositions(out)
	case "bilateral":
		s.printAllBilateral(out)
	case "pending":
		s.printPending(out)
	case "book":
		n, opened := s.book.Period()
		st := s.book.State()
		fmt.Fprintf(out, "period %d opened_at=%d committed=%d\n", n, opened, st.Committed)
		s.printAllPositions(out)
		s.printAllBilateral(out)
		s.printPending(out)
		s.printNextExpiry(out)
	case "restart":
		b, err := json.Marshal(s.book.State())
		if err != nil {
			t.Fatal(err)
		}
		var st clearing.Snapshot
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		nb, err := clearing.Restore(st, s.rec)
		if err != nil {
			td.Fatalf(t, "restore: %v", err)
		}
		if !reflect.DeepEqual(nb.State(), s.book.State()) {
			td.Fatalf(t, "restored state differs:\n%+v\n%+v", nb.State(), s.book.State())
		}
		s.book = nb
		n, _ := s.book.Period()
		fmt.Fprintf(out, "restored period %d, %d pending\n", n, len(s.book.Pending()))
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
}

func (s *script) weight(t testing.TB, a *args) trust.Weight {
	w, err := trust.ParseWeight(a.str("weight", nil))
	if err != nil {
		a.td.Fatalf(t, "%s: %v", a.td.Cmd, err)
	}
	return w
}

// id reads id= or id-len=.
func (s *script) id(a *args) string {
	if a.has("id-len") {
		return strings.Repeat("x", int(a.int("id-len", 0)))
	}
	return a.str("id", nil)
}

func (s *script) prepare(t *testing.T, a *args, out *strings.Builder) {
	id := s.id(a)
	req := clearing.PrepareRequest{ID: id, From: s.did(t, a.str("from", nil)), To: s.did(t, a.str("to", nil))}
	c := a.currency(s)
	req.Amount = a.amount("amount", c)
	intent := a.str("intent", &id)
	req.IntentHash = s.intent(intent)
	at := a.at(s)
	req.ExpiresAt = a.int("expires", at+100)
	o, err := s.book.Prepare(s.env, req, at)
	s.printOutcome(out, o, err)
}

// printOutcome prints what a Prepare, Commit or Abort returned, then the
// positions it could have touched (sender and receiver, in its currency)
// and, for a transfer that is or was committed, their bilateral sum.
func (s *script) printOutcome(out *strings.Builder, o clearing.Outcome, err error) {
	if err != nil {
		fmt.Fprintf(out, "error: %v\n", err)
		return
	}
	var flags []string
	if o.Repeat {
		flags = append(flags, "repeat")
	}
	if o.Conflict != "" {
		flags = append(flags, "conflict="+string(o.Conflict))
	}
	if len(flags) == 0 {
		flags = append(flags, "new")
	}
	out.WriteString(strings.Join(flags, " ") + "\n")
	x := o.Transfer
	if x.State == 0 {
		fmt.Fprintf(out, "%s: no record\n", idText(x.ID))
		return
	}
	out.WriteString(s.transfer(x) + "\n")
	cur := x.Amount.Currency().Code
	s.printPositions(out, cur, x.From, x.To)
	if x.State == clearing.StateCommitted {
		for _, b := range s.book.Bilateral() {
			if b.Currency == cur && b.From == x.From && b.To == x.To {
				out.WriteString(s.bilateral(b) + "\n")
			}
		}
	}
}

func idText(id string) string {
	switch {
	case id == "":
		return `""`
	case len(id) > 16:
		return fmt.Sprintf("%s…(%d bytes)", id[:8], len(id))
	}
	return id
}

// transfer formats a record: id, hop, amount, state and the fields the state has.
func (s *script) transfer(x clearing.Transfer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s->%s %s %s %s", idText(x.ID), s.name(x.From), s.name(x.To), x.Amount, x.Amount.Currency().Code, x.State)
	if x.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", x.Reason)
	}
	if x.Period != 0 {
		fmt.Fprintf(&b, " period=%d", x.Period)
	}
	intent, ok := s.intents[x.IntentHash]
	intent = idText(intent)
	if !ok {
		intent = fmt.Sprintf("%x", x.IntentHash[:4])
	}
	fmt.Fprintf(&b, " intent=%s prepared_at=%d expires_at=%d", intent, x.PreparedAt, x.ExpiresAt)
	if x.DecidedAt != 0 || x.State.Decided() {
		fmt.Fprintf(&b, " decided_at=%d", x.DecidedAt)
	}
	return b.String()
}

// units formats minor units of currency code, exactly when the script knows its scale.
func (s *script) units(code string, u int64) string {
	c, ok := s.curs[code]
	if !ok {
		return strconv.FormatInt(u, 10) + "u"
	}
	return money.FromUnits(u, c).String()
}

func (s *script) position(p clearing.Position) string {
	u := func(v int64) string { return s.units(p.Currency, v) }
	return fmt.Sprintf("%s %s: sent=%s received=%s reserved=%s carried=%s cap_debit=%s",
		s.name(p.DID), p.Currency, u(p.Sent), u(p.Received), u(p.Reserved), u(p.Carried), u(p.CapDebit()))
}

func (s *script) bilateral(b clearing.Bilateral) string {
	return fmt.Sprintf("%s->%s %s: %s in %d", s.name(b.From), s.name(b.To), b.Currency, s.units(b.Currency, b.Amount), b.Count)
}

func (s *script) printPositions(out *strings.Builder, cur string, dids ...identity.DID) {
	for i, d := range dids {
		if slices.Contains(dids[:i], d) {
			continue
		}
		out.WriteString(s.position(s.book.Position(d, cur)) + "\n")
	}
}

func (s *script) printAllPositions(out *strings.Builder) {
	ps := s.book.Positions()
	if len(ps) == 0 {
		out.WriteString("positions: none\n")
	}
	for _, p := range ps {
		out.WriteString(s.position(p) + "\n")
	}
}

func (s *script) printAllBilateral(out *strings.Builder) {
	bs := s.book.Bilateral()
	if len(bs) == 0 {
		out.WriteString("bilateral: none\n")
	}
	for _, b := range bs {
		out.WriteString(s.bilateral(b) + "\n")
	}
}

func (s *script) printPending(out *strings.Builder) {
	ps := s.book.Pending()
	if len(ps) == 0 {
		out.WriteString("pending: none\n")
	}
	for _, p := range ps {
		out.WriteString("pending " + s.transfer(p) + "\n")
	}
}

func (s *script) printNextExpiry(out *strings.Builder) {
	if n, ok := s.book.NextExpiry(); ok {
		fmt.Fprintf(out, "next expiry %d\n", n)
	} else {
		out.WriteString("next expiry none\n")
	}
}

func (s *script) printParticipant(out *strings.Builder, d identity.DID) {
	status := "unknown"
	if s.env.known[d] {
		status = map[bool]string{true: "active", false: "suspended"}[s.env.active[d]]
	}
	fmt.Fprintf(out, "%s %s %s", s.name(d), d, status)
	var codes []string
	for k := range s.env.caps {
		if k.did == d {
			codes = append(codes, k.cur)
		}
	}
	slices.Sort(codes)
	for _, code := range codes {
		c := s.env.caps[capKey{d, code}]
		fmt.Fprintf(out, " cap=%s %s", c, code)
		if known, ok := s.curs[code]; !ok || known != c.Currency() {
			fmt.Fprintf(out, "(scale %d)", c.Currency().Scale)
		}
	}
	out.WriteString("\n")
}

// aliased replaces the DIDs in msg by their aliases.
func (s *script) aliased(msg string) string {
	for d, n := range s.names {
		msg = strings.ReplaceAll(msg, string(d), n)
	}
	return msg
}

// checkInvariants: the book's State survives Restore unchanged, and the
// current period's sent and received balance per currency.
func (s *script) checkInvariants(t *testing.T, td *datadriven.TestData) {
	st := s.book.State()
	r, err := clearing.Restore(st, s.rec)
	if err != nil {
		td.Fatalf(t, "after %s: Restore(State()): %v", td.Cmd, err)
	}
	if !reflect.DeepEqual(r.State(), st) {
		td.Fatalf(t, "after %s: Restore(State()) differs:\n%+v\n%+v", td.Cmd, r.State(), st)
	}
	net := map[string]int64{}
	for _, p := range st.Positions {
		net[p.Currency] += p.Net()
	}
	for cur, n := range net {
		if n != 0 {
			td.Fatalf(t, "after %s: %s positions net to %d", td.Cmd, cur, n)
		}
	}
}
