package dataplane

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/hub/fsm"
	"github.com/icn-coop/icn/hub/internal/hubtest"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/settlement"
)

var (
	newKey      = hubtest.NewKey
	cmdRegister = hubtest.Register
	cmdTrust    = hubtest.Trust
)

// fakeCluster is a one-node "cluster" without raft: a real state machine
// that applies each proposed command at once, always led by this node.
// It is what the data plane's Cluster interface lets tests use.
type fakeCluster struct {
	key, fed *identity.Key
	fsm      *fsm.FSM
	mu       sync.Mutex
	idx      uint64
}

func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	f, err := fsm.OpenFSM(filepath.Join(t.TempDir(), "fsm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c := &fakeCluster{key: newKey(t), fed: newKey(t), fsm: f}
	mustPropose(t, context.Background(), c, &icnv1.Command{Cmd: &icnv1.Command_InitFederation{InitFederation: &icnv1.InitFederation{
		FederationDid: string(c.fed.DID()), Name: "test federation",
		Currencies: []*icnv1.CurrencySpec{{Code: "hours", Scale: 2}}}}})
	return c
}

func (c *fakeCluster) Key() *identity.Key { return c.key }
func (c *fakeCluster) IsLeader() bool     { return true }
func (c *fakeCluster) State() *fsm.FSM    { return c.fsm }

func (c *fakeCluster) Leader() (identity.DID, string, bool) { return c.key.DID(), "", true }

func (c *fakeCluster) Propose(_ context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd.AtUnixNano == 0 {
		cmd.AtUnixNano = time.Now().UnixNano()
	}
	b, err := proto.Marshal(&icnv1.CommandBatch{Commands: []*icnv1.Command{cmd}})
	if err != nil {
		return nil, err
	}
	c.idx++
	res := c.fsm.ApplyBatch([]*raft.Log{{Type: raft.LogCommand, Index: c.idx, Term: 1, Data: b}})[0]
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res.([]*icnv1.CommandResult)[0], nil
}

func (c *fakeCluster) FinalPeriods(context.Context, uint64, int, time.Time) ([]settlement.View, error) {
	return nil, nil
}

func mustPropose(t testing.TB, ctx context.Context, c Cluster, cmd *icnv1.Command) *icnv1.CommandResult {
	t.Helper()
	res, err := c.Propose(ctx, cmd)
	if err != nil || res.GetErrorCode() != "" {
		t.Fatalf("propose %T: %v %s %s", cmd.Cmd, err, res.GetErrorCode(), res.GetErrorMessage())
	}
	return res
}
