package dataplane

import (
	"context"
	"errors"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing/directory"
)

// Directory is the federation directory as the data plane uses it
// (*directory.Node implements it).
type Directory interface {
	Lookup(ctx context.Context, key string) (directory.Record, error)
	Publish(ctx context.Context, key string, value []byte) error
}

// How long records live and how often the leader renews them; how long a
// payment waits for a lookup before it falls back to a parent.
const (
	recordTTL      = time.Hour
	republishEvery = 20 * time.Minute
	lookupTimeout  = 2 * time.Second
	// publishCheck is how often the leader looks for participants and
	// changed links above to publish.
	publishCheck = 5 * time.Second
)

// viaDirectory finds the next hop towards coop from its directory record:
// the member this federation admitted on the co-op's path (a child
// federation), else a parent federation on the path (a common ancestor). It
// reports false without a directory, a record, or such a hop: the caller
// falls back to a parent.
func (d *Plane) viaDirectory(coop string, from identity.DID) (identity.DID, bool) {
	if d.opts.Directory == nil || d.opts.FederationKey == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(d.ctx, lookupTimeout)
	defer cancel()
	rec, err := d.opts.Directory.Lookup(ctx, directory.CoopKey(coop))
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			d.log.Debug("directory lookup", "coop", coop, "err", err)
		}
		return "", false
	}
	parents := make([]identity.DID, len(d.opts.Parents))
	for i, pl := range d.opts.Parents {
		parents[i] = pl.Federation
	}
	st := d.n.State()
	isChild := func(m identity.DID) bool {
		p, ok := st.Participant(m)
		return ok && p.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION
	}
	rank := func(p identity.DID) int { c, _ := st.TrustClass(p); return int(c) }
	return rec.Route(d.opts.FederationKey.DID(), from, parents, isChild, rank)
}

// publisher keeps this federation's participants in the directory while
// this node leads: each co-op under its DID and name, each child
// federation under its key for this parent, every record carrying the
// links that place this federation under its own parents (as they
// published them). Records are renewed before they expire and published at
// once when the participants change.
type publisher struct {
	done  map[identity.DID]time.Time   // participant → when its record was last published
	above []*icnv1.SignedDirectoryLink // this federation's links above, as last published
}

// publishLoop runs the publisher while this node leads (a fresh one at
// each takeover), apart from the leadership loop: a round of puts can take
// a while.
func (d *Plane) publishLoop() {
	defer d.wg.Done()
	if d.opts.Directory == nil || d.opts.FederationKey == nil {
		return
	}
	t := time.NewTicker(publishCheck)
	defer t.Stop()
	var p *publisher
	for {
		select {
		case <-t.C:
		case <-d.ctx.Done():
			return
		}
		if !d.n.IsLeader() {
			p = nil
			continue
		}
		if p == nil {
			p = &publisher{done: map[identity.DID]time.Time{}}
		}
		d.publish(p)
	}
}

func (d *Plane) publish(p *publisher) {
	if d.opts.Directory == nil || d.opts.FederationKey == nil {
		return
	}
	fed := d.opts.FederationKey
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	var above []*icnv1.SignedDirectoryLink
	for _, pl := range d.opts.Parents {
		rec, err := d.opts.Directory.Lookup(ctx, directory.FederationKey(fed.DID(), pl.Federation))
		if err != nil {
			continue // the parent publishes it; it may not have yet
		}
		above = append(above, rec.SignedPath()...)
	}
	// A changed place above (a parent's record came, or was renewed) is
	// carried into every record at once.
	changed := !slices.EqualFunc(above, p.above, func(a, b *icnv1.SignedDirectoryLink) bool { return proto.Equal(a, b) })
	p.above = above
	now := d.opts.Clock()
	expires := now.Add(recordTTL)
	seq := uint64(now.Unix())
	for _, part := range d.n.State().Participants() {
		m := identity.DID(part.GetDid())
		if t, ok := p.done[m]; ok && !changed && now.Sub(t) < republishEvery {
			continue
		}
		isFed := part.GetKind() == icnv1.ParticipantKind_PARTICIPANT_KIND_FEDERATION
		link, err := directory.SignLink(fed, directory.Link{Federation: fed.DID(), Member: m, MemberName: part.GetName(), Seq: seq, Expires: expires})
		if err != nil {
			continue
		}
		v, err := directory.Sign(fed, part.GetName(), isFed, link, above, seq, expires)
		if err != nil {
			d.log.Warn("directory: sign record", "participant", m, "err", err)
			continue
		}
		keys := []string{directory.CoopKey(string(m)), directory.CoopKey(part.GetName())}
		if isFed {
			keys = []string{directory.FederationKey(m, fed.DID())}
		}
		ok := true
		for _, k := range keys {
			if err := d.opts.Directory.Publish(ctx, k, v); err != nil {
				ok = false
				d.log.Debug("directory: publish", "key", k, "err", err)
			}
		}
		if ok {
			p.done[m] = now
		}
	}
}
