package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/coopnode/store"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Entries    uint64   // entries walked
	HeadHash   string   // hex hash of the last entry
	Accounts   int      // account-currency balances checked
	Payments   int      // payment records checked
	Open       int      // two-phase payments still pending (holds and pending credits)
	Mismatches []string // every inconsistency found; empty means the ledger is sound
}

// OK reports whether no mismatch was found.
func (r *VerifyReport) OK() bool { return len(r.Mismatches) == 0 }

// Verify re-walks the chain from the first entry: each entry's seq follows the
// one before, its prev_hash is that entry's hash, and its postings sum to zero
// per currency. It recomputes every balance from the postings, every held
// amount from the pending holds and every pending-in amount from the pending
// credits, and compares them with what is stored; it checks that the index of
// open transfers lists exactly the pending two-phase payments.
func (s *Store) Verify() (*VerifyReport, error) {
	r := &VerifyReport{}
	err := s.st.View(func(tx *store.View) error {
		bad := func(format string, args ...any) { r.Mismatches = append(r.Mismatches, fmt.Sprintf(format, args...)) }
		type key struct{ account, currency string }
		want := map[key]balanceRec{}
		prev := make([]byte, 32)
		c := tx.Bucket(bktEntries).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			var e icnv1.LedgerEntry
			if err := proto.Unmarshal(v, &e); err != nil {
				bad("entry %d: undecodable: %v", seq, err)
				prev = hashEntry(v)
				r.Entries++
				continue
			}
			if seq != r.Entries+1 || e.Seq != seq {
				bad("entry %d: expected seq %d (stored as %d)", seq, r.Entries+1, e.Seq)
			}
			if !bytes.Equal(e.PrevHash, prev) {
				bad("entry %d: prev_hash %x does not match the hash of entry %d (%x)", seq, e.PrevHash, seq-1, prev)
			}
			sums := map[string]int64{}
			for _, p := range e.Postings {
				sums[p.Currency] += p.Units
				b := want[key{p.Account, p.Currency}]
				b.Balance += p.Units
				want[key{p.Account, p.Currency}] = b
			}
			for cur, sum := range sums {
				if sum != 0 {
					bad("entry %d: postings in %s sum to %d, not zero", seq, cur, sum)
				}
			}
			prev = hashEntry(v)
			r.Entries++
		}
		r.HeadHash = hex.EncodeToString(prev)
		meta := tx.Bucket(bktMeta)
		if v := meta.Get(keyHeadSeq); (v == nil && r.Entries != 0) || (v != nil && binary.BigEndian.Uint64(v) != r.Entries) {
			bad("head seq in meta does not match the %d entries walked", r.Entries)
		}
		if h := meta.Get(keyHeadHash); r.Entries > 0 && !bytes.Equal(h, prev) {
			bad("head hash in meta %x does not match the chain's %x", h, prev)
		}

		// Held amounts come from pending holds, pending-in amounts from
		// pending credits; both are the open transfers.
		openIDs := tx.Bucket(bktOpenIDs)
		pending := map[string]bool{}
		err := tx.Bucket(bktPayments).ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(v)
			if err != nil {
				bad("payment %s: %v", k, err)
				return nil
			}
			r.Payments++
			if rec.Hold && rec.PendingCredit {
				bad("payment %s: both a hold and a pending credit", k)
			}
			if rec.Status == icnv1.PaymentStatus_PAYMENT_STATUS_PENDING {
				var kk key
				switch {
				case rec.Hold:
					kk = key{rec.From, rec.Currency}
				case rec.PendingCredit:
					kk = key{rec.To, rec.Currency}
				default:
					bad("payment %s: pending but neither a hold nor a pending credit", k)
				}
				if kk.account != "" {
					b := want[kk]
					if rec.Hold {
						b.Held += rec.Units
					} else {
						b.PendingIn += rec.Units
					}
					want[kk] = b
				}
				pending[string(k)] = true
				if openIDs.Get(k) == nil {
					bad("payment %s: pending but not in the open-transfer index", k)
				}
			}
			if rec.Status == icnv1.PaymentStatus_PAYMENT_STATUS_COMMITTED && rec.EntrySeq == 0 {
				bad("payment %s: committed without an entry", k)
			}
			return nil
		})
		if err != nil {
			return err
		}

		r.Open = len(pending)
		byN := tx.Bucket(bktOpen)
		err = byN.ForEach(func(n, id []byte) error {
			if !pending[string(id)] {
				bad("open-transfer index lists %s, which is not a pending payment", id)
			}
			if got := openIDs.Get(id); !bytes.Equal(got, n) {
				bad("open-transfer index: %s at %x, its reverse entry says %x", id, n, got)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = openIDs.ForEach(func(id, n []byte) error {
			if !bytes.Equal(byN.Get(n), id) {
				bad("open-transfer index: reverse entry of %s points at %x, which does not list it", id, n)
			}
			return nil
		})
		if err != nil {
			return err
		}

		stored := map[key]balanceRec{}
		err = tx.Bucket(bktBalances).ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				bad("balance key %q malformed", k)
				return nil
			}
			b, err := decodeBalance(v)
			if err != nil {
				bad("balance %q: %v", k, err)
				return nil
			}
			stored[key{string(k[:i]), string(k[i+1:])}] = b
			return nil
		})
		if err != nil {
			return err
		}
		keys := make([]key, 0, len(want)+len(stored))
		seen := map[key]bool{}
		for k := range want {
			keys, seen[k] = append(keys, k), true
		}
		for k := range stored {
			if !seen[k] {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].account != keys[j].account {
				return keys[i].account < keys[j].account
			}
			return keys[i].currency < keys[j].currency
		})
		totals := map[string]int64{}
		for _, k := range keys {
			w, st := want[k], stored[k]
			if w.Balance != st.Balance {
				bad("%s %s: stored balance %d, entries give %d", k.account, k.currency, st.Balance, w.Balance)
			}
			if w.Held != st.Held {
				bad("%s %s: stored held %d, pending holds give %d", k.account, k.currency, st.Held, w.Held)
			}
			if w.PendingIn != st.PendingIn {
				bad("%s %s: stored pending-in %d, pending credits give %d", k.account, k.currency, st.PendingIn, w.PendingIn)
			}
			totals[k.currency] += w.Balance
			r.Accounts++
		}
		for cur, t := range totals {
			if t != 0 {
				bad("balances in %s sum to %d, not zero", cur, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify ledger: %w", err)
	}
	return r, nil
}
