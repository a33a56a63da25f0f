package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

// Environment variables that stand in for the connection flags.
const (
	envHub    = "ICN_HUB"
	envHubDID = "ICN_HUB_DID"
	envKey    = "ICN_KEY"
)

// Retry policy for Unavailable (no leader yet, leadership moving, a node
// down): every address is tried in order, then again after a backoff, at
// most hubRetryRounds times, and never past --timeout.
const (
	hubRetryRounds  = 5
	hubRetryBackoff = 100 * time.Millisecond
	hubRetryMax     = time.Second
)

// hubOpts holds the connection flags every operator command group shares.
type hubOpts struct {
	hubs    string
	hubDIDs string
	keyFile string
	timeout time.Duration
	output  string
	csv     bool // the group also prints csv
}

// addFlags registers the shared flags as persistent flags of a command group.
func (o *hubOpts) addFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.hubs, "hub", "", "gRPC address of a hub node, HOST:PORT; several comma-separated are tried in order (env "+envHub+")")
	pf.StringVar(&o.hubDIDs, "hub-did", "", "DID of the hub nodes' keys (comma-separated for several): the server must present one of them (env "+envHubDID+")")
	pf.StringVar(&o.keyFile, "key", "", "operator key file (icn keygen), presented as the TLS client certificate (env "+envKey+")")
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "time limit for the command, retries included")
	formats := "table or json"
	if o.csv {
		formats = "table, json or csv"
	}
	pf.StringVarP(&o.output, "output", "o", "table", "output format: "+formats)
}

// hubClient is a connection to a hub cluster's control plane.
type hubClient struct {
	key   *identity.Key
	pins  []identity.DID
	nodes []*hubAddr
	json  bool
}

// hubAddr is one --hub address and its (lazily connecting) channel.
type hubAddr struct {
	addr string
	cc   *grpc.ClientConn

	mu       sync.Mutex
	rejected identity.DID // the DID the server presented, if the pin refused it
}

func (a *hubAddr) accept(pins []identity.DID) func(identity.DID) bool {
	return func(d identity.DID) bool {
		for _, p := range pins {
			if d == p {
				return true
			}
		}
		a.mu.Lock()
		a.rejected = d
		a.mu.Unlock()
		return false
	}
}

func (a *hubAddr) rejectedDID() identity.DID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rejected
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func orEnv(v, env string) string {
	if v == "" {
		return os.Getenv(env)
	}
	return v
}

// checkOutput validates --output; called before anything is sent.
func (o *hubOpts) checkOutput() error {
	if o.csv && o.output == "csv" {
		return nil
	}
	if o.output != "table" && o.output != "json" {
		if o.csv {
			return fmt.Errorf("--output must be table, json or csv, not %q", o.output)
		}
		return fmt.Errorf("--output must be table or json, not %q", o.output)
	}
	return nil
}

// connect checks the connection flags, loads the operator key and prepares
// a channel per address (nothing is dialled until the first call).
func (o *hubOpts) connect() (*hubClient, error) {
	if err := o.checkOutput(); err != nil {
		return nil, err
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, e.g. --timeout 10s")
	}
	addrs := splitList(orEnv(o.hubs, envHub))
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--hub is required: pass the gRPC address of a hub node, e.g. --hub 127.0.0.1:7200 "+
			"(several: --hub 10.0.0.1:7200,10.0.0.2:7200), or set %s", envHub)
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return nil, fmt.Errorf("--hub %q: want HOST:PORT, e.g. 127.0.0.1:7200", a)
		}
	}
	didList := splitList(orEnv(o.hubDIDs, envHubDID))
	if len(didList) == 0 {
		return nil, fmt.Errorf("--hub-did is required: pass the DID of the hub nodes' keys so that the connection is pinned to them, "+
			"e.g. --hub-did did:icn:6Mk...,did:icn:9Qa... (icn dev prints them and lists them in dev.json under hub.nodes; "+
			"each hub node logs its DID when it starts), or set %s", envHubDID)
	}
	var pins []identity.DID
	for _, s := range didList {
		d, _, err := identity.ParseDID(s)
		if err != nil {
			return nil, fmt.Errorf("--hub-did: %w", err)
		}
		pins = append(pins, d)
	}
	keyFile := orEnv(o.keyFile, envKey)
	if keyFile == "" {
		return nil, fmt.Errorf("--key is required: pass your operator key file (icn keygen --out operator.key; "+
			"the hub must list its DID among its operators), or set %s", envKey)
	}
	key, err := keyfile.Read(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	c := &hubClient{key: key, pins: pins, json: o.output == "json"}
	for _, addr := range addrs {
		a := &hubAddr{addr: addr}
		tlsCfg, err := identity.TLSConfig(key, a.accept(pins))
		if err != nil {
			c.Close()
			return nil, err
		}
		if a.cc, err = grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg))); err != nil {
			c.Close()
			return nil, fmt.Errorf("--hub %s: %w", addr, err)
		}
		c.nodes = append(c.nodes, a)
	}
	return c, nil
}

// Close closes every channel.
func (c *hubClient) Close() {
	for _, a := range c.nodes {
		if a.cc != nil {
			a.cc.Close()
		}
	}
}

// newRequestID returns a fresh id for a write. A retry reuses it, so the
// hub answers a repeated request with its first result.
func newRequestID() string { return uuid.NewString() }

// rpcError is a refusal from the hub, printed as "<code>: <message>".
type rpcError struct{ st *status.Status }

func (e *rpcError) Error() string { return fmt.Sprintf("%s: %s", e.st.Code(), e.st.Message()) }

// GRPCStatus lets status.FromError see through the wrapper.
func (e *rpcError) GRPCStatus() *status.Status { return e.st }

// invoke calls method with req on the first address that answers. A call
// that finds no node able to serve it (Unavailable) is retried on the next
// address, then after a bounded backoff, with the very same request (so the
// same request id): the hub applies a write at most once.
func (c *hubClient) invoke(ctx context.Context, method string, req, resp proto.Message) error {
	var last error
	var lastAddr string
	pinned := map[*hubAddr]error{}
	backoff := hubRetryBackoff
	for round := 0; round < hubRetryRounds; round++ {
		if round > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return c.unavailable(last, lastAddr, ctx.Err())
			}
			backoff = min(2*backoff, hubRetryMax)
		}
		for _, a := range c.nodes {
			if pinned[a] != nil {
				continue
			}
			proto.Reset(resp)
			err := a.cc.Invoke(ctx, method, req, resp)
			if err == nil {
				return nil
			}
			if d := a.rejectedDID(); d != "" {
				pinned[a] = fmt.Errorf("the hub at %s presented key %s, which is not one of --hub-did (%s); "+
					"pass the DIDs of this cluster's nodes, or check that --hub names the right host", a.addr, d, joinDIDs(c.pins))
				if len(pinned) == len(c.nodes) {
					return pinned[a]
				}
				continue
			}
			st := status.Convert(err)
			if st.Code() != codes.Unavailable {
				return &rpcError{st}
			}
			last, lastAddr = err, a.addr
			if ctx.Err() != nil {
				return c.unavailable(last, lastAddr, ctx.Err())
			}
		}
	}
	for _, a := range c.nodes {
		if e := pinned[a]; e != nil {
			return e
		}
	}
	return c.unavailable(last, lastAddr, nil)
}

// unavailable reports that no address could serve the call.
func (c *hubClient) unavailable(last error, addr string, ctxErr error) error {
	var tried []string
	for _, a := range c.nodes {
		tried = append(tried, a.addr)
	}
	msg := "no hub node answered"
	if last != nil {
		msg = fmt.Sprintf("%s (last, %s: %s)", msg, addr, status.Convert(last).Message())
	}
	msg += "; tried " + strings.Join(tried, ", ")
	code := codes.Unavailable
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
		msg += "; raise --timeout if the cluster is electing a leader"
	}
	return &rpcError{status.New(code, msg)}
}

func joinDIDs(ds []identity.DID) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ",")
}

// run connects with the shared flags and calls fn with a context bounded by --timeout.
func (o *hubOpts) run(cmd *cobra.Command, fn func(ctx context.Context, c *hubClient) error) error {
	c, err := o.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return fn(ctx, c)
}
