package systest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/identity"
)

// gateways is one member's client of a co-op that fails over between the
// co-op's gateway URLs, as a member app of a replicated co-op does: a
// request that finds its gateway down (or answered 503 unavailable while
// the co-op elects a leader) goes to the next one, the same request again.
// A payment is retried with the same id and intent bytes, so the co-op
// decides it once.
type gateways struct {
	urls []string
	coop string
	key  *identity.Key
	mu   sync.Mutex
	cur  int
	sess map[int]*client.Session
}

func newGateways(urls []string, coop string, key *identity.Key) *gateways {
	return &gateways{urls: urls, coop: coop, key: key, sess: map[int]*client.Session{}}
}

// retryElsewhere reports whether err means "try another gateway": no
// answer at all, or the co-op is between leaders.
func retryElsewhere(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	code := client.ErrorCode(err)
	return code == "" || code == "unavailable" || code == "internal"
}

// do runs fn with a session of the current gateway, moving on to the next
// one while fn's error says to, until ctx ends.
func (g *gateways) do(ctx context.Context, fn func(s *client.Session) error) error {
	var err error
	for attempt := 0; ctx.Err() == nil; attempt++ {
		g.mu.Lock()
		i := g.cur
		g.mu.Unlock()
		var s *client.Session
		if s, err = g.session(ctx, i); err == nil {
			err = fn(s)
		}
		if !retryElsewhere(err) {
			return err
		}
		g.mu.Lock()
		if g.cur == i {
			g.cur = (i + 1) % len(g.urls)
		}
		g.mu.Unlock()
		if attempt%len(g.urls) == len(g.urls)-1 {
			select { // every gateway refused: the co-op is electing (pacing only)
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// session is the member's session at gateway i, logging in on first use.
func (g *gateways) session(ctx context.Context, i int) (*client.Session, error) {
	g.mu.Lock()
	s := g.sess[i]
	g.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := client.New(g.urls[i]).Login(ctx, g.key, g.coop)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.sess[i] = s
	g.mu.Unlock()
	return s, nil
}

// pay sends intent (with every field set, so a retry is the same payment).
func (g *gateways) pay(ctx context.Context, in client.PaymentIntent) (*client.PaymentResult, error) {
	now := time.Now().UTC()
	in.From = g.key.DID()
	if in.Currency == "" {
		in.Currency = "hours"
	}
	if in.CreatedAt == "" {
		in.CreatedAt = client.FormatTime(now)
	}
	if in.ExpiresAt == "" {
		in.ExpiresAt = client.FormatTime(now.Add(client.DefaultPaymentTTL))
	}
	var r *client.PaymentResult
	err := g.do(ctx, func(s *client.Session) error {
		var err error
		r, err = s.Pay(ctx, in, g.key)
		return err
	})
	return r, err
}

func (g *gateways) balance(ctx context.Context, did identity.DID) (*client.Balance, error) {
	var b *client.Balance
	err := g.do(ctx, func(s *client.Session) error {
		var err error
		b, err = s.Balance(ctx, g.coop, did, "hours")
		return err
	})
	return b, err
}

func (g *gateways) paymentStatus(ctx context.Context, id string) (*client.PaymentResult, error) {
	var r *client.PaymentResult
	err := g.do(ctx, func(s *client.Session) error {
		var err error
		r, err = s.PaymentStatus(ctx, g.coop, id)
		return err
	})
	return r, err
}

// any is a session at some gateway that answers.
func (g *gateways) any(ctx context.Context) (*client.Session, error) {
	var out *client.Session
	err := g.do(ctx, func(s *client.Session) error { out = s; return nil })
	return out, err
}
