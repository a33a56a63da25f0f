package payment

import (
	"time"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
)

// Defaults of Rules.
const (
	// DefaultSkew is how far created_at may be ahead of the checker's clock.
	DefaultSkew = 5 * time.Minute
	// DefaultHorizon bounds expires_at: at most this far past the checker's
	// clock. Wallets sign intents for 5 minutes (the client's default); the
	// horizon leaves 5 more for slow clocks, so a signed intent can never
	// become a bearer instrument that pays years later.
	DefaultHorizon = 10 * time.Minute
)

// Currencies finds a currency by code (money.Currencies is one).
type Currencies interface {
	Lookup(code string) (money.Currency, error)
}

// Rules are what Check holds an intent to. Zero durations take the defaults.
type Rules struct {
	Currencies Currencies
	Skew       time.Duration
	Horizon    time.Duration
}

// Checked is an intent that passed Check, with its values parsed.
type Checked struct {
	Intent
	Amount           money.Amount
	Created, Expires time.Time
}

// Expired reports whether the intent's expiry has passed at now.
func (c Checked) Expired(now time.Time) bool { return !now.Before(c.Expires) }

// Check decodes raw strictly and applies the intent's rules at now: an id
// of 1-128 characters of [A-Za-z0-9-_.:], two distinct valid DIDs, a to_coop
// of 1-64 printable characters, a memo of at most 256 bytes without control
// characters, a known currency, a positive amount in its scale, RFC 3339
// times with expires_at after created_at, created_at not ahead of now by
// more than the skew, and expires_at not past now by more than the horizon.
// It does not check the signature or whether the intent has expired (a
// repeat of a decided payment gets its first outcome even then).
func Check(raw []byte, r Rules, now time.Time) (Checked, error) {
	in, err := Decode(raw)
	if err != nil {
		return Checked{}, err
	}
	if err := checkFields(in); err != nil {
		return Checked{}, err
	}
	c := Checked{Intent: in}
	cur, err := r.Currencies.Lookup(in.Currency)
	if err != nil {
		return Checked{}, err
	}
	if c.Amount, err = money.ParsePayment(in.Amount, cur); err != nil {
		return Checked{}, err
	}
	if c.Created, err = parseTime("created_at", in.CreatedAt); err != nil {
		return Checked{}, err
	}
	if c.Expires, err = parseTime("expires_at", in.ExpiresAt); err != nil {
		return Checked{}, err
	}
	return c, r.window(c, now)
}

func checkFields(in Intent) error {
	if !identity.ValidID(in.ID, MaxIDLen) {
		return refuse(CodeInvalid, "id must be 1-%d characters of letters, digits, '-', '_', '.', ':'", MaxIDLen)
	}
	if _, _, err := identity.ParseDID(in.From); err != nil {
		return err
	}
	if _, _, err := identity.ParseDID(in.To); err != nil {
		return err
	}
	if in.From == in.To {
		return refuse(CodeInvalid, "from and to are the same DID")
	}
	if in.ToCoop == "" || len(in.ToCoop) > MaxCoopLen || !identity.Printable(in.ToCoop) {
		return refuse(CodeInvalid, "to_coop must be 1-%d printable characters", MaxCoopLen)
	}
	if len(in.Memo) > MaxMemoBytes {
		return refuse(CodeInvalid, "memo is longer than %d bytes", MaxMemoBytes)
	}
	if !identity.Printable(in.Memo) {
		return refuse(CodeInvalid, "memo holds a control character")
	}
	return nil
}

func (r Rules) window(c Checked, now time.Time) error {
	skew, horizon := r.Skew, r.Horizon
	if skew <= 0 {
		skew = DefaultSkew
	}
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	switch {
	case !c.Expires.After(c.Created):
		return refuse(CodeTimeWindow, "expires_at %s is not after created_at %s", c.ExpiresAt, c.CreatedAt)
	case c.Created.After(now.Add(skew)):
		return refuse(CodeInvalid, "created_at is in the future; check the device clock")
	case c.Expires.After(now.Add(horizon)):
		return refuse(CodeTooFar, "expires_at is more than %s ahead; sign intents that expire sooner", horizon)
	}
	return nil
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, refuse(CodeInvalid, "%s must be an RFC 3339 time", field)
	}
	return t, nil
}
