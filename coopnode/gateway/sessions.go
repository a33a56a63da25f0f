package gateway

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icn-coop/icn/coopnode/store"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Session families and single-use refresh tokens (RFC 9700 §4.14.2).
//
// Every login opens a family: a random id, the sid claim of every access and
// refresh token descended from that login. A refresh token is accepted once:
// exchanging it records its jti as used, in the same ledger write transaction
// that checks it was not used before. A second exchange of the same token is
// reuse (the token leaked, or a client lost track of its newest one): it is
// refused with refresh_reused and the whole family is revoked, so neither the
// thief nor the client keeps a session, and the member logs in again.
//
// Both records live in the ledger file and are kept only as long as they can
// matter: a used jti until its token expires, a revoked family until every
// token it could have issued has expired.
var (
	// expiry (8 bytes, big-endian Unix seconds, the token's exp) ‖ jti → sid.
	// Ordered by expiry, so pruning reads only what it deletes; the key is
	// rebuilt from the signed token, so lookups need no index.
	bktRefreshUsed = []byte("gateway.refresh_used")
	// sid → until (8 bytes, big-endian Unix seconds): revoked families.
	bktSessionsRevoked = []byte("gateway.sessions_revoked")
)

// Buckets lists the bbolt buckets the gateway keeps in the ledger file; pass
// them in ledger.Options.Buckets along with membership.Buckets.
var Buckets = [][]byte{bktRefreshUsed, bktSessionsRevoked, bktPeerAPIs}

const (
	// pruneSlack: a record is pruned this long after its expiry, past any
	// rounding of exp to whole seconds.
	pruneSlack = time.Minute
	// prunePerRefresh bounds the expired used-token records one refresh
	// deletes; each refresh adds one, so the bucket keeps up.
	prunePerRefresh = 64
)

// newSID returns a fresh session family id.
func newSID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return identity.B64(b)
}

// families is the in-memory set of revoked session families, read on every
// authenticated request: a copy-on-write map behind an atomic pointer, so a
// check takes no lock and touches no disk.
type families struct {
	mu      sync.Mutex // serialises writers
	revoked atomic.Pointer[map[string]time.Time]
}

func newFamilies() *families {
	f := &families{}
	f.revoked.Store(&map[string]time.Time{})
	return f
}

// isRevoked reports whether the family sid has been revoked. Tokens without a
// sid belong to no family.
func (f *families) isRevoked(sid string) bool {
	if sid == "" {
		return false
	}
	_, ok := (*f.revoked.Load())[sid]
	return ok
}

// add marks sid revoked until until, dropping entries that ended before now.
func (f *families) add(sid string, until, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.revoked.Load()
	m := make(map[string]time.Time, len(old)+1)
	for k, u := range old {
		if !u.Add(pruneSlack).Before(now) {
			m[k] = u
		}
	}
	if u, ok := m[sid]; !ok || u.Before(until) {
		m[sid] = until
	}
	f.revoked.Store(&m)
}

func (f *families) snapshot() map[string]time.Time { return maps.Clone(*f.revoked.Load()) }

func unixKey(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.Unix())) }

func keyTime(b []byte) time.Time { return time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0) }

func usedKey(exp time.Time, jti string) []byte { return append(unixKey(exp), jti...) }

// loadSessions registers the session commands' handlers, fills the
// revoked-family set from the ledger file (and again after a restore) and,
// on a single node, prunes expired records of both buckets. A replicated
// node leaves the prune to its leader (PruneSessions).
func (g *Gateway) loadSessions() error {
	st := g.cfg.Ledger.State()
	st.Handle((*icnv1.CoopCommand_ConsumeRefresh)(nil), g.applyConsumeRefresh)
	st.Handle((*icnv1.CoopCommand_PruneSessions)(nil), applyPruneSessions)
	st.Handle((*icnv1.CoopCommand_RecordClusterPeer)(nil), applyRecordClusterPeer)
	var stale bool
	err := st.View(func(tx *store.View) error {
		var err error
		stale, err = g.readFamilies(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("gateway: load sessions: %w", err)
	}
	st.OnRestore(func(tx *store.View) error {
		_, err := g.readFamilies(tx)
		return err
	})
	if !stale || g.cfg.Cluster != nil {
		return nil
	}
	return g.PruneSessions(context.Background())
}

// readFamilies fills the revoked-family set from tx and reports whether
// either session bucket holds expired records.
func (g *Gateway) readFamilies(tx *store.View) (stale bool, err error) {
	cut := g.cfg.Clock().Add(-pruneSlack)
	m := map[string]time.Time{}
	if err := tx.Require("gateway", Buckets); err != nil {
		return false, err
	}
	if k, _ := tx.Bucket(bktRefreshUsed).Cursor().First(); len(k) >= 8 && keyTime(k).Before(cut) {
		stale = true
	}
	err = tx.Bucket(bktSessionsRevoked).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("revoked session %.40q: malformed record", k)
		}
		if until := keyTime(v); until.Before(cut) {
			stale = true
		} else {
			m[string(k)] = until
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	g.families.revoked.Store(&m)
	return stale, nil
}

// PruneSessions deletes the session records that expired (a replicated
// node's leader runs it when it takes over).
func (g *Gateway) PruneSessions(ctx context.Context) error {
	now := g.cfg.Clock()
	_, err := g.cfg.Ledger.State().Submit(ctx, &icnv1.CoopCommand{AtUnixNano: now.UnixNano(),
		Kind: &icnv1.CoopCommand_PruneSessions{PruneSessions: &icnv1.PruneSessions{CutUnixNano: now.Add(-pruneSlack).UnixNano()}}})
	if err != nil {
		return fmt.Errorf("gateway: prune sessions: %w", err)
	}
	return nil
}

func applyPruneSessions(tx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	cut := time.Unix(0, cmd.GetPruneSessions().CutUnixNano)
	if err := pruneUsed(tx.Bucket(bktRefreshUsed), cut, -1); err != nil {
		return nil, err
	}
	return nil, pruneFamilies(tx.Bucket(bktSessionsRevoked), cut)
}

// pruneUsed deletes up to limit (all if limit < 0) used-token records whose
// token expired before cut.
func pruneUsed(b *store.Bucket, cut time.Time, limit int) error {
	var dead [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && (limit < 0 || len(dead) < limit); k, _ = c.Next() {
		if len(k) >= 8 && !keyTime(k).Before(cut) {
			break
		}
		dead = append(dead, k) // valid until the transaction ends; nothing is deleted yet
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// pruneFamilies deletes the revoked-family records that ended before cut.
// The bucket holds only families revoked for reuse, so it is small.
func pruneFamilies(b *store.Bucket, cut time.Time) error {
	var dead [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if len(v) != 8 || keyTime(v).Before(cut) {
			dead = append(dead, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// refreshOutcome is what the ledger said about a refresh token.
type refreshOutcome int

const (
	refreshFresh   refreshOutcome = iota // never used before: now recorded as used
	refreshReused                        // used before: its family is now revoked
	refreshRevoked                       // its family was revoked already
)

// consumeRefresh records c's jti as used, or finds it was used already and
// revokes its family, in one ledger write transaction, so two concurrent
// exchanges of one token cannot both succeed. It returns once durable.
func (g *Gateway) consumeRefresh(ctx context.Context, c *claims) error {
	now := g.cfg.Clock()
	key := usedKey(c.ExpiresAt.Time, c.ID)
	// Every token of the family was issued by now, so none outlives this.
	until := now.Add(max(g.cfg.TokenTTL, g.cfg.RefreshTTL))
	res, err := g.cfg.Ledger.State().Submit(ctx, &icnv1.CoopCommand{AtUnixNano: now.UnixNano(),
		Kind: &icnv1.CoopCommand_ConsumeRefresh{ConsumeRefresh: &icnv1.ConsumeRefresh{UsedKey: key, Sid: c.Sid, UntilUnix: until.Unix()}}})
	if err != nil {
		return err
	}
	out := res.(refreshOutcome)
	switch out {
	case refreshReused:
		g.metrics.refreshReused.Inc()
		g.cfg.Logger.Warn("refresh token reused: session family revoked", "did", c.Subject, "device", c.Dev, "sid", c.Sid)
		return errf(http.StatusUnauthorized, "refresh_reused", "this refresh token was already used; the session it belongs to is now closed: log in again")
	case refreshRevoked:
		return errSessionFamilyRevoked
	}
	return nil
}

// applyConsumeRefresh records a refresh token's jti as used, or revokes its
// family (here and in the in-memory set, once durable) if it was used before.
func (g *Gateway) applyConsumeRefresh(tx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c, now := cmd.GetConsumeRefresh(), tx.Now()
	sid, until := []byte(c.Sid), time.Unix(c.UntilUnix, 0)
	used, fams := tx.Bucket(bktRefreshUsed), tx.Bucket(bktSessionsRevoked)
	if fams.Get(sid) != nil {
		return refreshRevoked, nil
	}
	if used.Get(c.UsedKey) != nil {
		if err := pruneFamilies(fams, now.Add(-pruneSlack)); err != nil {
			return nil, err
		}
		tx.AfterCommit(func() { g.families.add(c.Sid, until, now) })
		return refreshReused, fams.Put(sid, unixKey(until))
	}
	if err := used.Put(c.UsedKey, sid); err != nil {
		return nil, err
	}
	return refreshFresh, pruneUsed(used, now.Add(-pruneSlack), prunePerRefresh)
}

var errSessionFamilyRevoked = errf(http.StatusUnauthorized, "session_revoked", "this session was closed after its refresh token was used twice; log in again")
