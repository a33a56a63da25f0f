package coopnode

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/icn-coop/icn/coopnode/cluster"
	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/replica"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

// Converted is what ConvertToCluster did.
type Converted struct {
	Ledger string       // the state file
	Index  uint64       // its applied index: the commands the single node applied
	Node   identity.DID // this node's cluster DID, the group's one server
}

// ConvertToCluster makes a stopped single node's data directory the first
// node of a replicated co-op. cfg is the node's configuration with the
// [cluster] section it will run with, listing this node (its node key's
// DID) and the nodes to add. The state becomes a raft
// snapshot of a group of one, this node (cluster.Seed): started with cfg,
// the node leads that group, and `icn coop cluster add` brings in each of
// the others, which copy the snapshot. The state file is left as a
// cleanly stopped replica's (docs/coop-node.md, "Moving a single node onto
// a cluster").
func ConvertToCluster(cfg Config, log *slog.Logger) (Converted, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Converted{}, err
	}
	if log == nil {
		log = slog.Default()
	}
	if !cfg.Cluster.Enabled() {
		return Converted{}, errors.New("convert: the configuration has no [cluster] section: add one that lists this node (icn coop cluster id) and the nodes to add")
	}
	out := Converted{Ledger: cfg.LedgerPath()}
	if _, err := os.Stat(out.Ledger); err != nil {
		return Converted{}, fmt.Errorf("convert: %w: nothing to convert (a new replicated co-op starts from empty data directories)", err)
	}
	if cfg.hasRaftLog() {
		return Converted{}, fmt.Errorf("convert: %s holds a raft log: this node is a cluster node already", cfg.raftDir())
	}
	coopKey, err := keyfile.Read(cfg.KeyFile)
	if err != nil {
		return Converted{}, fmt.Errorf("convert: the co-op key: %w", err)
	}
	nodeKey, err := keyfile.Read(cfg.Cluster.NodeKeyFile)
	if err != nil {
		return Converted{}, fmt.Errorf("convert: cluster node key (make it with icn coop cluster id --node-key %s, and list its DID in cluster.peers): %w",
			cfg.Cluster.NodeKeyFile, err)
	}
	out.Node = nodeKey.DID()
	if err := cfg.checkNodeKey(out.Node, coopKey.DID()); err != nil {
		return Converted{}, fmt.Errorf("convert: %w", err)
	}
	i := slices.IndexFunc(cfg.Cluster.Peers, func(p ClusterPeerConfig) bool { return identity.DID(p.DID) == out.Node })
	if i < 0 {
		return Converted{}, fmt.Errorf("convert: cluster.peers does not list this node (%s): list it with the raft address the others dial", out.Node)
	}
	opts, err := cfg.LedgerOptions()
	if err != nil {
		return Converted{}, err
	}
	// Opened as a replica, the file is marked cleanly stopped when it closes.
	opts.Path, opts.Logger, opts.Replica = out.Ledger, log, true
	led, err := ledger.Open(opts)
	if err != nil {
		return Converted{}, fmt.Errorf("convert: %w (stop the node first)", err)
	}
	_, statErr := os.Stat(cfg.raftDir())
	out.Index, err = led.State().AppliedIndex()
	if err == nil {
		err = cluster.Seed(cfg.raftDir(), out.Node, cfg.Cluster.Peers[i].Raft, out.Index, replica.New(led.State()), log)
		if err != nil && errors.Is(statErr, os.ErrNotExist) {
			err = errors.Join(err, os.RemoveAll(cfg.raftDir())) // leave no half-made raft directory behind
		}
	}
	if cerr := led.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Converted{}, fmt.Errorf("convert: %w", err)
	}
	return out, nil
}
