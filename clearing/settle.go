package clearing

import (
	"fmt"

	"github.com/icn-coop/icn/identity"
)

// Settle records that from paid amount (minor units of currency, > 0) to
// to, settling an instruction of a closed period: from's carried net debit
// falls by amount and to's carried net credit (a negative carried
// position) by the same amount, saturating at the int64 bounds. Once every
// instruction of a period is settled, the carried positions it added at
// close are gone, and the debit cap stops counting them.
func (b *Book) Settle(from, to identity.DID, currency string, amount int64) error {
	if amount <= 0 || from == to {
		return fmt.Errorf("clearing: settle %d %s from %s to %s: want an amount > 0 between two participants", amount, currency, from, to)
	}
	fk, tk := posKey{from, currency}, posKey{to, currency}
	fp, tp := b.get(fk), b.get(tk)
	fp.carried = satAdd(fp.carried, -amount)
	tp.carried = satAdd(tp.carried, amount)
	b.set(fk, fp)
	b.set(tk, tp)
	return nil
}
