package cluster

import (
	"context"
	"sync"

	"github.com/icn-coop/icn/internal/raftutil"
)

// leadership is whether this node leads with its state current (it has
// applied an entry of its term), and a channel closed at the next change.
type leadership struct {
	mu      sync.Mutex
	leading bool
	changed chan struct{}
}

func (l *leadership) get() (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.leading, l.changed
}

func (l *leadership) set(leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.change(leading)
}

// setUnless marks the node leading unless ctx (this term's) has ended: the
// check and the change are one step, so a leadership already lost is never
// announced.
func (l *leadership) setUnless(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	l.change(true)
	return true
}

func (l *leadership) change(leading bool) {
	if l.leading == leading {
		return
	}
	l.leading = leading
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// Leading reports whether this node leads, with its state current (what
// the leader's duties need), and returns a channel closed at the next
// change of that.
func (c *Cluster) Leading() (bool, <-chan struct{}) { return c.lead.get() }

// WhileLeader runs fn each time this node becomes the leader, with a
// context cancelled when it stops leading, and waits for fn to return
// before it runs it again: the hub peer and the reconciler run this way, on
// one node at a time, and move on failover. It returns when ctx ends or the
// node closes (after fn has returned).
func (c *Cluster) WhileLeader(ctx context.Context, fn func(ctx context.Context)) {
	for ctx.Err() == nil && !c.closed() {
		leading, changed := c.lead.get()
		if leading {
			c.runLed(ctx, changed, fn)
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-c.stop:
			return
		}
	}
}

func (c *Cluster) closed() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// runLed runs fn until this leadership ends (changed is closed), ctx ends
// or the node closes.
func (c *Cluster) runLed(ctx context.Context, changed <-chan struct{}, fn func(ctx context.Context)) {
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(lctx) }()
	select {
	case <-changed:
	case <-ctx.Done():
	case <-c.stop:
	}
	cancel()
	<-done
}

// leaderLoop follows raft's leadership notifications.
func (c *Cluster) leaderLoop() {
	defer c.wg.Done()
	raftutil.LeaderLoop(c.notifyC, c.stop, c.leadTerm)
}

// leadTerm marks this node leading, from the moment an entry of its term
// is applied until ctx (the term's leadership) ends.
func (c *Cluster) leadTerm(ctx context.Context) {
	defer c.lead.set(false)
	if !c.batch.AwaitTermEntry(ctx, c.log) {
		<-ctx.Done() // lost or shutting down: the loop cancels ctx
		return
	}
	if c.lead.setUnless(ctx) {
		c.log.Info("leading the co-op cluster", "term", c.raft.Load().CurrentTerm())
	}
	<-ctx.Done()
}
