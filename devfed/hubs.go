package devfed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/icn-coop/icn/routing/directory"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/hub"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// hubNodes is the size of the dev hub cluster.
const hubNodes = 3

// devCap is each dev co-op's net debit cap at the hub.
const devCap = 100_000 // 1000.00 hours

// ManifestHub describes the dev hub cluster in dev.json.
type ManifestHub struct {
	// Name is the cluster's role in the dev tree: "region-1", "region-2"
	// or "parent" (or "hub" for a single federation).
	Name              string            `json:"name"`
	FederationDID     identity.DID      `json:"federation_did"`
	FederationKeyFile string            `json:"federation_key_file"`
	OperatorDID       identity.DID      `json:"operator_did"`
	OperatorKeyFile   string            `json:"operator_key_file"`
	Nodes             []ManifestHubNode `json:"nodes"`
}

// ManifestHubNode is one hub node: its DID (pin it) and addresses.
type ManifestHubNode struct {
	DID  identity.DID `json:"did"`
	Raft string       `json:"raft"`
	GRPC string       `json:"grpc"`
	Data string       `json:"data"` // the QUIC data plane (UDP)
	HTTP string       `json:"http"` // /metrics, /healthz and /readyz (the treasurer pages: icn settlement ui)
	// Directory is the node's federation directory member (libp2p TCP), if
	// the dev federation runs one.
	Directory string `json:"directory,omitempty"`
}

type hubCluster struct {
	svcs     []*hub.Service
	fed, op  *identity.Key
	manifest *ManifestHub
}

// clusterSpec says which hub cluster to start.
type clusterSpec struct {
	name     string          // manifest name
	sub      string          // directory under the data dir
	fedName  string          // the federation's name
	portBase int             // BasePort offset for its listeners (when BasePort is set)
	parent   *hub.ParentLink // nil: a top-level federation
	dir      *devDirectory   // the federation directory, if the dev federation runs one
}

// devDirectory is what the dev federation's directory nodes share: the
// private network key, the root federation, and the nodes started so far
// (each joins through them).
type devDirectory struct {
	psk    []byte
	anchor identity.DID
	peers  []directory.Peer
}

// config is the directory node of the next hub node, with key.
func (d *devDirectory) config(key *identity.Key) *directory.Config {
	if d == nil {
		return nil
	}
	return &directory.Config{Key: key, Listen: "127.0.0.1:0", PSK: d.psk, Anchors: []identity.DID{d.anchor},
		Bootstrap: append([]directory.Peer(nil), d.peers...)}
}

func (s clusterSpec) parents() []hub.ParentLink {
	if s.parent == nil {
		return nil
	}
	return []hub.ParentLink{*s.parent}
}

// startHubs starts a 3-node hub cluster on 127.0.0.1 with the real TLS
// transport and control plane. Its addresses are kept in the data directory:
// raft remembers its peers by address, so a restart must reuse them.
func startHubs(ctx context.Context, o Options, spec clusterSpec) (*hubCluster, error) {
	dir := filepath.Join(o.DataDir, spec.sub)
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, err
	}
	fed, fedFile, err := loadOrCreate(keys, "federation")
	if err != nil {
		return nil, err
	}
	op, opFile, err := loadOrCreate(keys, "operator")
	if err != nil {
		return nil, err
	}
	m := &ManifestHub{Name: spec.name, FederationDID: fed.DID(), FederationKeyFile: fedFile, OperatorDID: op.DID(), OperatorKeyFile: opFile}
	nodeKeys := make([]*identity.Key, hubNodes)
	for i := range nodeKeys {
		if nodeKeys[i], _, err = loadOrCreate(keys, fmt.Sprintf("node-%d", i+1)); err != nil {
			return nil, err
		}
	}
	base := o.BasePort
	if base > 0 {
		base += spec.portBase
	}
	lns, dataAddrs, err := hubListeners(dir, base)
	if err != nil {
		return nil, err
	}
	var peers []hub.Peer
	for i, k := range nodeKeys {
		n := ManifestHubNode{DID: k.DID(), Raft: lns[i][0].Addr().String(), GRPC: lns[i][1].Addr().String()}
		m.Nodes = append(m.Nodes, n)
		peers = append(peers, hub.Peer{DID: n.DID, RaftAddr: n.Raft, GRPCAddr: n.GRPC})
	}
	h := &hubCluster{fed: fed, op: op, manifest: m}
	for i, k := range nodeKeys {
		cfg := hub.Config{
			DataDir: filepath.Join(dir, fmt.Sprintf("node-%d", i+1)), Key: k, RaftListener: lns[i][0],
			GRPCAddr: m.Nodes[i].GRPC, DataAddr: dataAddrs[i], Peers: peers, Logger: o.Logger.With("hub", spec.name, "node", i+1),
			Federation:    hub.FederationConfig{DID: fed.DID(), Name: spec.fedName, Currencies: []money.Currency{money.Hours}},
			FederationKey: fed, Parents: spec.parents(), TrustPolicies: o.HubPolicies,
			Directory: spec.dir.config(k), NoRouteAnnouncements: spec.dir != nil && o.NoRouteAnnouncements,
			HeartbeatTimeout: 500 * time.Millisecond,
		}
		httpLn := lns[i][2]
		m.Nodes[i].HTTP = httpLn.Addr().String()
		svc, err := hub.StartService(cfg, []identity.DID{op.DID()}, lns[i][1], httpLn)
		if err != nil {
			httpLn.Close()
			h.stop()
			return nil, fmt.Errorf("hub node %d: %w", i+1, err)
		}
		h.svcs = append(h.svcs, svc)
		m.Nodes[i].Data = svc.Data.Addr()
		if spec.dir != nil {
			m.Nodes[i].Directory = svc.Directory.Addr()
			spec.dir.peers = append(spec.dir.peers, directory.Peer{DID: k.DID(), Addr: m.Nodes[i].Directory})
		}
	}
	if err := saveAddresses(dir, m.Nodes); err != nil {
		h.stop()
		return nil, err
	}
	return h, h.waitReady(ctx)
}

// addressesFile records each node's raft, gRPC and data-plane addresses.
func addressesFile(dir string) string { return filepath.Join(dir, "addresses.json") }

func saveAddresses(dir string, nodes []ManifestHubNode) error {
	addrs := make([][]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = []string{n.Raft, n.GRPC, n.Data, n.HTTP}
	}
	b, _ := json.Marshal(addrs)
	return os.WriteFile(addressesFile(dir), b, 0o600)
}

// hubListeners binds each node's raft and gRPC listener, on the ports
// recorded in dir (or BasePort+100.. when given), and returns the data-plane
// addresses to listen on (recorded ones, else port 0: the data plane binds
// and startHubs records what it got).
func hubListeners(dir string, basePort int) ([][3]net.Listener, []string, error) {
	var addrs [][]string
	if b, err := os.ReadFile(addressesFile(dir)); err == nil {
		if err := json.Unmarshal(b, &addrs); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", addressesFile(dir), err)
		}
	}
	for i := 0; i < hubNodes; i++ {
		if i == len(addrs) {
			a := []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}
			if basePort > 0 {
				a = []string{fmt.Sprintf("127.0.0.1:%d", basePort+100+i), fmt.Sprintf("127.0.0.1:%d", basePort+110+i),
					fmt.Sprintf("127.0.0.1:%d", basePort+120+i), fmt.Sprintf("127.0.0.1:%d", basePort+130+i)}
			}
			addrs = append(addrs, a)
		}
		for len(addrs[i]) < 4 { // written before the data plane and HTTP existed
			addrs[i] = append(addrs[i], "127.0.0.1:0")
		}
	}
	out := make([][3]net.Listener, hubNodes)
	data := make([]string, hubNodes)
	for i := range out {
		for j, a := range []string{addrs[i][0], addrs[i][1], addrs[i][3]} {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				closeAll(out)
				return nil, nil, fmt.Errorf("hub listener: %w", err)
			}
			out[i][j] = ln
		}
		data[i] = addrs[i][2]
	}
	return out, data, nil
}

func closeAll(lns [][3]net.Listener) {
	for _, p := range lns {
		for _, ln := range p {
			if ln != nil {
				ln.Close()
			}
		}
	}
}

func (h *hubCluster) leader() *hub.Node {
	for _, s := range h.svcs {
		if s.Node.IsLeader() && s.Node.FSM().Federation().GetDid() != "" {
			return s.Node
		}
	}
	return nil
}

func (h *hubCluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for h.leader() == nil {
		select {
		case <-ctx.Done():
			return errors.New("dev hub cluster: no leader within 30s")
		case <-time.After(10 * time.Millisecond): // polling raft's election
		}
	}
	return nil
}

// coopConfig is how a dev co-op node reaches the hub cluster.
func (h *hubCluster) coopConfig() coopnode.HubConfig {
	hc := coopnode.HubConfig{Federation: string(h.fed.DID())}
	for _, n := range h.manifest.Nodes {
		hc.Nodes = append(hc.Nodes, coopnode.HubNodeConfig{DID: string(n.DID), Addr: n.Data})
	}
	return hc
}

// parentLink is how a child cluster reaches this one.
func (h *hubCluster) parentLink() *hub.ParentLink {
	pl := &hub.ParentLink{Federation: h.fed.DID()}
	for _, n := range h.manifest.Nodes {
		pl.Hubs = append(pl.Hubs, hub.ParentHub{DID: n.DID, Addr: n.Data})
	}
	return pl
}

// register makes the co-op node a participant, with trust both ways
// between it and the federation and a debit cap. Repeats are harmless.
func (h *hubCluster) register(ctx context.Context, id string, node *identity.Key) error {
	return h.registerKind(ctx, id, node, icnv1.ParticipantKind_PARTICIPANT_KIND_COOP)
}

// registerKind registers a co-op node or another federation (by its key).
func (h *hubCluster) registerKind(ctx context.Context, id string, node *identity.Key, kind icnv1.ParticipantKind) error {
	if err := h.waitReady(ctx); err != nil {
		return err
	}
	l := h.leader()
	if l == nil {
		return errors.New("dev hub cluster has no leader")
	}
	now := time.Now().UnixNano()
	cmds := []*icnv1.Command{{Cmd: &icnv1.Command_RegisterParticipant{RegisterParticipant: &icnv1.RegisterParticipant{
		Did: string(node.DID()), Name: id, Kind: kind}}}}
	if _, ok := l.FSM().Participant(node.DID()); ok {
		cmds = nil
	}
	for _, pair := range [][2]*identity.Key{{h.fed, node}, {node, h.fed}} {
		c, err := trustCommand(pair[0], pair[1].DID(), trust.One, now)
		if err != nil {
			return err
		}
		cmds = append(cmds, c)
	}
	cmds = append(cmds, &icnv1.Command{Cmd: &icnv1.Command_SetCreditPolicy{SetCreditPolicy: &icnv1.SetCreditPolicy{
		Did: string(node.DID()), Currency: money.Hours.Code, DebitCapUnits: devCap}}})
	for i, c := range cmds {
		// A request id makes a retry after a leader change apply once.
		c.RequestId = fmt.Sprintf("devfed/register/%s/%d/%d", node.DID(), now, i)
		res, err := h.propose(ctx, c)
		if err != nil {
			return fmt.Errorf("register %s at the hub: %w", id, err)
		}
		if res.GetErrorCode() != "" {
			return fmt.Errorf("register %s at the hub: %s: %s", id, res.GetErrorCode(), res.GetErrorMessage())
		}
	}
	return nil
}

// propose runs c on the leader, following a leader change (a loaded
// machine can miss a heartbeat) for up to 30 s.
func (h *hubCluster) propose(ctx context.Context, c *icnv1.Command) (*icnv1.CommandResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if l := h.leader(); l != nil {
			res, err := l.Propose(ctx, c)
			if err == nil || !retryable(err) {
				return res, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader took the command within 30s: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// retryable: the command may not have been applied because leadership moved.
func retryable(err error) bool {
	return errors.Is(err, hub.ErrNotLeader) || errors.Is(err, hub.ErrNoLeader) ||
		errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrNotLeader)
}

func (h *hubCluster) stop() {
	for _, s := range h.svcs {
		_ = s.Close()
	}
}

// trustCommand is from's signed attestation of trust w in to, as a command.
func trustCommand(from *identity.Key, to identity.DID, w trust.Weight, at int64) (*icnv1.Command, error) {
	s, err := trust.Sign(from, trust.Attestation{From: from.DID(), To: to, Weight: w, IssuedAt: at})
	if err != nil {
		return nil, err
	}
	return &icnv1.Command{Cmd: &icnv1.Command_SetTrust{SetTrust: &icnv1.SetTrust{Attestation: &icnv1.SignedMessage{
		Payload: s.Payload, Signer: string(s.Signer), Signature: s.Signature}}}}, nil
}
