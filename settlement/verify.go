package settlement

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/icn-coop/icn/clearing"
	"github.com/icn-coop/icn/identity"
)

// VerifyCoop checks a report against one co-op's own list of the transfers
// it sent or received in the report's period, without trusting the hub:
//
//  1. the report passes Check (its figures add up and its instructions are
//     the ones the figures determine);
//  2. each transfer in own is valid as for Net, unique, committed in the
//     report's period, sent or received by coop, in a currency of the report
//     with the same scale, and included under the report's Merkle root by
//     proofs[id] with Count equal to the report's transfer count;
//  3. the report's figures for coop in every currency (sent, received, net,
//     sent_count, received_count) equal the sums over own; a currency the
//     report lists no figures of coop in must have no transfer in own.
//
// It returns nil when everything holds, else every problem found, joined
// (errors.Join) in order: an ErrInvalidReport error alone if step 1 fails;
// then a *TransferError or *InclusionError per transfer in own (in the
// order given); then a *FigureError per differing figure (by currency, then
// field). Match with errors.Is / errors.As. coop must be a well-formed DID
// (else ErrInvalidArgument).
//
// A co-op that checks a report this way knows that its own transfers are all
// in the set the hub committed to and that the report (its figures and
// therefore its instructions) counts exactly those transfers for it.
func VerifyCoop(r Report, coop identity.DID, own []clearing.Transfer, proofs map[string]Proof) error {
	if _, _, err := identity.ParseDID(string(coop)); err != nil {
		return fmt.Errorf("%w: co-op: %w", ErrInvalidArgument, err)
	}
	if err := r.Check(); err != nil {
		return err
	}
	var errs []error
	type sums struct {
		sent, received int64
		sentN, recvN   int
		overflow       bool
	}
	computed := map[string]*sums{}
	seen := make(map[string]bool, len(own))
	for i := range own {
		t := &own[i]
		if err := checkFields(t); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[t.ID] {
			errs = append(errs, &TransferError{ID: t.ID, Kind: ErrDuplicate, Detail: "id appears twice in the co-op's list"})
			continue
		}
		seen[t.ID] = true
		if t.From != coop && t.To != coop {
			errs = append(errs, &InclusionError{ID: t.ID, Kind: ErrForeignTransfer, Detail: fmt.Sprintf("from %s to %s", t.From, t.To)})
			continue
		}
		if t.Period != r.Period {
			errs = append(errs, &InclusionError{ID: t.ID, Kind: ErrWrongPeriod, Detail: fmt.Sprintf("period %d, the report is for period %d", t.Period, r.Period)})
			continue
		}
		c := t.Amount.Currency()
		if tot, ok := r.Totals(c.Code); ok && tot.Currency != c {
			errs = append(errs, &TransferError{ID: t.ID, Kind: ErrInvalidTransfer,
				Detail: fmt.Sprintf("currency %s with scale %d, the report's has scale %d", c.Code, c.Scale, tot.Currency.Scale)})
			continue
		}
		// Count the transfer in the co-op's sums whatever its proof says: the
		// figures are compared with what the co-op itself recorded.
		s := computed[c.Code]
		if s == nil {
			s = &sums{}
			computed[c.Code] = s
		}
		u := t.Amount.Units()
		if t.From == coop {
			s.overflow = s.overflow || s.sent > math.MaxInt64-u
			s.sent += u
			s.sentN++
		}
		if t.To == coop {
			s.overflow = s.overflow || s.received > math.MaxInt64-u
			s.received += u
			s.recvN++
		}
		p, ok := proofs[t.ID]
		switch {
		case !ok:
			errs = append(errs, &InclusionError{ID: t.ID, Kind: ErrNoProof})
		case p.Count != uint64(r.Transfers):
			errs = append(errs, &InclusionError{ID: t.ID, Kind: ErrNotIncluded,
				Detail: fmt.Sprintf("proof for a tree of %d transfers, the report has %d", p.Count, r.Transfers)})
		case !VerifyProof(r.MerkleRoot, *t, p):
			errs = append(errs, &InclusionError{ID: t.ID, Kind: ErrNotIncluded, Detail: "proof does not lead to the root"})
		}
	}
	// Compare per currency: every currency the co-op has figures in, by either account.
	codes := make([]string, 0, len(computed))
	for code := range computed {
		codes = append(codes, code)
	}
	for _, f := range r.Figures {
		if f.DID == coop && computed[f.Currency] == nil {
			codes = append(codes, f.Currency)
		}
	}
	slices.SortFunc(codes, cmp.Compare[string])
	for _, code := range codes {
		f, _ := r.Participant(code, coop)
		s := computed[code]
		if s == nil {
			s = &sums{}
		}
		if s.overflow {
			errs = append(errs, &TransferError{Kind: ErrOverflow, Detail: "the co-op's own " + code + " sums leave int64"})
			continue
		}
		for _, x := range []struct {
			field              string
			reported, computed int64
		}{
			{"sent", f.Sent, s.sent},
			{"received", f.Received, s.received},
			{"net", f.Net, s.received - s.sent},
			{"sent_count", int64(f.SentCount), int64(s.sentN)},
			{"received_count", int64(f.ReceivedCount), int64(s.recvN)},
		} {
			if x.reported != x.computed {
				errs = append(errs, &FigureError{Currency: code, Field: x.field, Reported: x.reported, Computed: x.computed})
			}
		}
	}
	return errors.Join(errs...)
}
