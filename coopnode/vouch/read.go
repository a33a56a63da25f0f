package vouch

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/icn-coop/icn/coopnode/govern"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// gate is the ledger's view of member trust (ledger.Gate).
type gate struct{ s *Store }

// Refusal: a DID in recovery mode (or recovered) may not spend.
func (g gate) Refusal(v *store.View, _ time.Time, a ledger.Account) (string, error) {
	if modeOf(v, identity.DID(a)) != nil {
		return ReasonInRecovery, nil
	}
	return "", nil
}

// Limit is the set limit scaled by the member's standing, when the policy
// is enabled.
func (g gate) Limit(v *store.View, now time.Time, a ledger.Account, _ money.Currency, set int64) (int64, error) {
	p, err := policyView(v)
	if err != nil || p == nil {
		return set, err
	}
	st, _, err := standingOf(v, now, identity.DID(a))
	if err != nil {
		return 0, err
	}
	return governance.EffectiveUnits(set, p.Percent(st)), nil
}

// VouchView is a vouch as the trust read shows it.
type VouchView struct {
	Voucher identity.DID
	At      time.Time
	// Counts: the voucher is a member in good standing, not in recovery.
	Counts       bool
	MigratedFrom []identity.DID
}

// standingOf reads did's standing at now from v, with its vouches.
func standingOf(v *store.View, now time.Time, did identity.DID) (governance.Standing, []VouchView, error) {
	st := governance.Standing{Member: did, Suspended: govern.SuspendedView(v, did), InRecovery: modeOf(v, did) != nil}
	m, ok, err := membership.StandingView(v, did, now)
	if err != nil {
		return st, nil, err
	}
	if ok {
		st.Sponsored = m.Sponsor != ""
		st.Exempt = membership.AdminView(v) == did
	}
	vs, err := vouchesFor(v, did)
	if err != nil {
		return st, nil, err
	}
	views := make([]VouchView, 0, len(vs))
	for _, vc := range vs {
		_, stands, err := membership.StandingView(v, vc.Voucher, now)
		if err != nil {
			return st, nil, err
		}
		counts := ok && stands && modeOf(v, vc.Voucher) == nil
		if counts {
			st.Vouchers = append(st.Vouchers, vc.Voucher)
		}
		views = append(views, VouchView{Voucher: vc.Voucher, At: vc.At, Counts: counts, MigratedFrom: vc.MigratedFrom})
	}
	if !ok {
		// Not a member in good standing: nothing counts for it.
		st.Sponsored, st.Vouchers = false, nil
	}
	return st, views, nil
}

// Limit is a member's limits in one currency.
type Limit struct {
	Currency  string
	Set       money.Amount // set for the member (own or default)
	Effective money.Amount // what it spends against
}

// Trust is a member's standing as the trust read shows it.
type Trust struct {
	DID identity.DID
	// Enabled: the co-op gates credit by standing ([credit_policy]).
	Enabled   bool
	Percent   int // the standing, 0-100 (what it would be, when not enabled)
	Sponsor   identity.DID
	Vouches   []VouchView
	VouchedBy int // the vouches that count
	Suspended bool
	// Mode is the DID's recovery mode, or nil.
	Mode   *Mode
	Limits []Limit
	// Vouched lists the members did vouched for.
	Vouched []identity.DID
}

// Trust reads did's standing, vouches and limits now.
func (s *Store) Trust(did identity.DID) (Trust, error) {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return Trust{}, err
	}
	now := s.opts.Clock()
	var out Trust
	err := s.l.State().View(func(v *store.View) error {
		inForce, err := policyView(v)
		if err != nil {
			return err
		}
		p := inForce
		if p == nil {
			d := governance.DefaultCreditPolicy()
			p = &d
		}
		st, views, err := standingOf(v, now, did)
		if err != nil {
			return err
		}
		m, _, err := membership.StandingView(v, did, now)
		if err != nil {
			return err
		}
		out = Trust{DID: did, Enabled: inForce != nil, Percent: p.Percent(st), Sponsor: m.Sponsor, Vouches: views,
			VouchedBy: len(st.CountedVouchers()), Suspended: st.Suspended, Mode: modeOf(v, did), Vouched: vouchesBy(v, did)}
		return nil
	})
	if err != nil {
		return Trust{}, fmt.Errorf("trust of %s: %w", did.Short(), err)
	}
	for _, c := range sortedCurrencies(s.l.Currencies()) {
		b, err := s.l.Balance(ledger.Account(did), c)
		if err != nil {
			return Trust{}, err
		}
		out.Limits = append(out.Limits, Limit{Currency: c.Code, Set: b.SetLimit, Effective: b.CreditLimit})
	}
	return out, nil
}

func sortedCurrencies(cs money.Currencies) []money.Currency {
	out := make([]money.Currency, 0, len(cs))
	for _, c := range cs {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b money.Currency) int {
		if a.Code < b.Code {
			return -1
		}
		if a.Code > b.Code {
			return 1
		}
		return 0
	})
	return out
}

// InRecovery reports whether did is in recovery mode (or was recovered to
// another DID).
func (s *Store) InRecovery(did identity.DID) (bool, error) {
	var in bool
	err := s.l.State().View(func(v *store.View) error {
		in = modeOf(v, did) != nil
		return nil
	})
	return in, err
}

// Recoveries lists the recoveries whose old or new DID is did, oldest first.
func (s *Store) Recoveries(did identity.DID) ([]Recovery, error) {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return nil, err
	}
	out := []Recovery{}
	err := s.l.State().View(func(v *store.View) error {
		return v.Bucket(bktRecoveries).ForEach(func(k, val []byte) error {
			var r Recovery
			if _, err := v.Bucket(bktRecoveries).GetJSON(k, &r); err != nil {
				return err
			}
			if r.Old == did || r.New == did {
				out = append(out, r)
			}
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b Recovery) int { return a.OpenedAt.Compare(b.OpenedAt) })
	return out, err
}

// Recovery returns recovery id, or ErrNotFound.
func (s *Store) Recovery(id string) (Recovery, error) {
	var r Recovery
	err := s.l.State().View(func(v *store.View) error {
		ok, err := v.Bucket(bktRecoveries).GetJSON([]byte(id), &r)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return r, err
}

// Code maps an error of this package, governance's trust documents or
// membership to an HTTP status and wire code; (0, "") for others.
//
//	governance invalid_vouch, invalid_voucher_revoke, invalid_recovery, self_vouch  400
//	governance bad_signature                                                        401
//	ErrWrongCoop            400 wrong_coop
//	ErrExpired              400 request_expired
//	ErrNotMember            403 not_member
//	ErrNotVoucher           403 not_voucher
//	ErrNotSteward           403 not_steward
//	ErrInRecovery           403 in_recovery
//	ErrNotFound             404 not_found
//	ErrConflict, ErrOpenTransfers  409 conflict
func Code(err error) (int, string) {
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, ErrWrongCoop):
		return http.StatusBadRequest, "wrong_coop"
	case errors.Is(err, ErrExpired):
		return http.StatusBadRequest, "request_expired"
	case errors.Is(err, ErrNotMember):
		return http.StatusForbidden, "not_member"
	case errors.Is(err, ErrNotVoucher):
		return http.StatusForbidden, "not_voucher"
	case errors.Is(err, ErrNotSteward):
		return http.StatusForbidden, "not_steward"
	case errors.Is(err, ErrInRecovery):
		return http.StatusForbidden, ReasonInRecovery
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrConflict), errors.Is(err, ErrOpenTransfers):
		return http.StatusConflict, "conflict"
	}
	switch c := governance.Code(err); c {
	case "invalid_vouch", "invalid_voucher_revoke", "invalid_recovery", "self_vouch":
		return http.StatusBadRequest, c
	case "bad_signature":
		return http.StatusUnauthorized, c
	}
	return 0, ""
}
