package govern

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/governance"
	"github.com/icn-coop/icn/identity"
)

// View is a proposal as a reader sees it at a time: its record, its phase
// on the clock (a proposal in discussion is voting once its voting starts;
// one past its deadline awaits the tick that closes it), and the tally as
// it stands (the outcome's, once closed).
type View struct {
	*Proposal
	Phase string `json:"phase"`
	Tally Tally  `json:"tally"`
}

// Phase "closing": past its deadline, not yet closed by a command.
const PhaseClosing = "closing"

func (s *Store) view(v *store.View, p *Proposal, now time.Time) (View, error) {
	out := View{Proposal: p, Phase: p.Status}
	if p.Outcome != nil {
		if p.Outcome.Tally != nil {
			out.Tally = *p.Outcome.Tally
		} else {
			out.Tally = Tally{Eligible: len(p.Electorate), Counted: []Counted{}}
		}
		return out, nil
	}
	switch {
	case !now.Before(p.VotingEnds):
		out.Phase = PhaseClosing
	case !now.Before(p.VotingStarts):
		out.Phase = string(governance.StatusVoting)
	}
	dp, err := p.domain(s.l.Currencies().Lookup)
	if err != nil {
		return View{}, err
	}
	d, err := readDelegations(v)
	if err != nil {
		return View{}, err
	}
	out.Tally = tallyOf(dp.Tally(d))
	return out, nil
}

func readDelegations(v *store.View) (*governance.Delegations, error) {
	var list []governance.Delegation
	if _, err := v.Bucket(bktMeta).GetJSON(keyDelegations, &list); err != nil {
		return nil, err
	}
	return governance.NewDelegations(list)
}

// Proposal returns proposal id with its tally, or ErrNotFound.
func (s *Store) Proposal(id string) (View, error) {
	var out View
	err := s.l.State().View(func(v *store.View) error {
		var p Proposal
		ok, err := v.Bucket(bktProposals).GetJSON([]byte(id), &p)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		out, err = s.view(v, &p, s.opts.Clock())
		return err
	})
	return out, err
}

// Proposals returns every proposal, newest first; status filters by phase
// or status ("" for all, "open" for those not closed).
func (s *Store) Proposals(status string) ([]View, error) {
	out := []View{}
	now := s.opts.Clock()
	err := s.l.State().View(func(v *store.View) error {
		return v.Bucket(bktProposals).ForEach(func(k, raw []byte) error {
			var p Proposal
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("proposal %.128s: %w", k, err)
			}
			pv, err := s.view(v, &p, now)
			if err != nil {
				return err
			}
			closed := governance.Status(p.Status).Closed()
			if status == "" || status == pv.Phase || status == p.Status || status == "open" && !closed {
				out = append(out, pv)
			}
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b View) int {
		if c := b.OpenedAt.Compare(a.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, err
}

// Delegations returns the standing delegations, sorted by From.
func (s *Store) Delegations() ([]governance.Delegation, error) {
	var out []governance.Delegation
	err := s.l.State().View(func(v *store.View) error {
		d, err := readDelegations(v)
		if err == nil {
			out = d.List()
		}
		return err
	})
	return out, err
}

// Removal returns did's latest removal, and false if it has none.
func (s *Store) Removal(did identity.DID) (Removal, bool, error) {
	var r Removal
	var ok bool
	err := s.l.State().View(func(v *store.View) error {
		var err error
		ok, err = v.Bucket(bktRemovals).GetJSON([]byte(did), &r)
		return err
	})
	return r, ok, err
}

// BalanceFlag returns the flag on did's balance, and false if none stands.
func (s *Store) BalanceFlag(did identity.DID) (Flag, bool, error) {
	var f Flag
	var ok bool
	err := s.l.State().View(func(v *store.View) error {
		var err error
		ok, err = v.Bucket(bktFlags).GetJSON([]byte(did), &f)
		return err
	})
	return f, ok, err
}

// Dues returns the schedule, the last period collected and its run.
func (s *Store) Dues() (Dues, error) {
	var out Dues
	err := s.l.State().View(func(v *store.View) error {
		meta := v.Bucket(bktMeta)
		var sch Schedule
		ok, err := meta.GetJSON(keyDues, &sch)
		if err != nil {
			return err
		}
		if ok {
			out.Schedule = &sch
		}
		out.Last = string(meta.Get(keyDuesLast))
		if out.Last != "" {
			var run DuesRun
			if ok, err := v.Bucket(bktDuesRuns).GetJSON([]byte(out.Last), &run); err != nil {
				return err
			} else if ok {
				out.LastRun = &run
			}
		}
		return nil
	})
	return out, err
}
