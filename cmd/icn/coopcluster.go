package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/coopnode/client"
	"github.com/icn-coop/icn/coopnode/gateway"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

// coopClusterOpts are the flags of icn coop cluster status, add and remove.
type coopClusterOpts struct {
	gateway, coop, keyFile, output string
	timeout                        time.Duration
}

func newCoopClusterCmd() *cobra.Command {
	o := &coopClusterOpts{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show and change a replicated co-op's nodes (its Raft group)",
		Long: `icn coop cluster talks to one node's wallet gateway as a moderator of the co-op
(it logs in with --key): status shows that node's view of the group; add and
remove are carried out by the leader (a follower forwards them). id prints a
node's cluster DID, the one [cluster] peers list, creating its key if missing.
convert turns a stopped single node's data directory into the first node of
a replicated co-op.

See docs/coop-node.md, "Running a replicated co-op".`,
		Example: `  icn coop cluster id --config coop.toml
  icn coop cluster convert --config coop.toml
  icn coop cluster status --gateway https://coop1.example:8443 --coop riverside --key admin.key
  icn coop cluster add --did did:icn:... --raft 10.0.1.4:7500 --gateway ... --coop riverside --key admin.key
  icn coop cluster remove did:icn:... --gateway ... --coop riverside --key admin.key`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.gateway, "gateway", "", "a node's wallet gateway URL, e.g. http://127.0.0.1:8080")
	pf.StringVar(&o.coop, "coop", "", "the co-op's id")
	pf.StringVar(&o.keyFile, "key", "", "a moderator's key file (icn keygen)")
	pf.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
	cmd.AddCommand(coopClusterIDCmd(), coopClusterConvertCmd(), o.statusCmd(), o.addCmd(), o.removeCmd())
	return cmd
}

func coopClusterIDCmd() *cobra.Command {
	var cfgPath, keyPath string
	cmd := &cobra.Command{
		Use:   "id (--config coop.toml | --node-key FILE)",
		Short: "Print this node's cluster DID (creating its node key if missing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case (cfgPath == "") == (keyPath == ""):
				return errors.New("pass --config coop.toml or --node-key FILE (one of them)")
			case cfgPath != "":
				cfg, err := coopnode.LoadConfig(cfgPath)
				if err != nil {
					return err
				}
				if !cfg.Cluster.Enabled() {
					return fmt.Errorf("%s has no [cluster] section: pass --node-key FILE to make the key before writing it", cfgPath)
				}
				keyPath = cfg.Cluster.NodeKeyFile
			}
			k, err := keyfile.LoadOrCreate(keyPath, func() (*identity.Key, error) { return identity.GenerateKey(rand.Reader) })
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), k.DID())
			return err
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the node's coop.toml (its cluster.node_key_file)")
	cmd.Flags().StringVar(&keyPath, "node-key", "", "the node key file (created if missing)")
	return cmd
}

func coopClusterConvertCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "convert --config coop.toml",
		Short: "Make a stopped single node's data directory the first node of a replicated co-op",
		Long: `icn coop cluster convert turns the state of a co-op that has run on one node
into a Raft group of one, this node, so that nodes can be added to it. Stop
the node, add a [cluster] section to its coop.toml that lists this node (icn
coop cluster id) and the nodes to add, run convert, then start the node with
that file: it leads alone until icn coop cluster add brings in each of the
others, which copy its state. Back up the data directory first (icn coop
backup while the node runs, or a copy once it stopped). convert refuses a
node that is still running or already a cluster node, and changes nothing
when it refuses.

See docs/coop-node.md, "Moving a single node onto a cluster".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return errors.New("pass --config coop.toml: the node's configuration, with the [cluster] section it will run with")
			}
			cfg, err := coopnode.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			conv, err := coopnode.ConvertToCluster(cfg, log)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "converted %s (%d commands): this node (%s) is a group of one\n", conv.Ledger, conv.Index, conv.Node)
			fmt.Fprintf(w, "start it with %s; then start each node to add with [cluster] peers that do not list it, and add it:\n", cfgPath)
			for _, p := range cfg.Cluster.Peers {
				if identity.DID(p.DID) != conv.Node {
					fmt.Fprintf(w, "  icn coop cluster add --did %s --raft %s --api %s --gateway GATEWAY --coop %s --key admin.key\n", p.DID, p.Raft, p.API, cfg.CoopID)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the node's coop.toml, with its [cluster] section")
	return cmd
}

func (o *coopClusterOpts) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the answering node's view: its state, the leader, term, indexes and the nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.call(cmd, http.MethodGet, "", nil)
		},
	}
}

func (o *coopClusterOpts) addCmd() *cobra.Command {
	var did, raftAddr, api string
	cmd := &cobra.Command{
		Use:   "add --did DID --raft HOST:PORT --api URL",
		Short: "Add a node (running with [cluster] peers that do not list it) as a voter",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := identity.ParseDID(did); err != nil {
				return fmt.Errorf("--did: the new node's cluster DID (icn coop cluster id): %w", err)
			}
			if err := checkAddr("--raft", raftAddr, "10.0.1.4:7500"); err != nil {
				return err
			}
			if u, err := url.Parse(api); api != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				return fmt.Errorf("--api %q: the new node's gateway base URL, e.g. https://coop4.example:8443", api)
			}
			body, _ := json.Marshal(map[string]string{"did": did, "raft": raftAddr, "api": api})
			return o.call(cmd, http.MethodPost, "/nodes", body)
		},
	}
	cmd.Flags().StringVar(&did, "did", "", "the new node's cluster DID")
	cmd.Flags().StringVar(&raftAddr, "raft", "", "the new node's raft address (its cluster.advertise or bind)")
	cmd.Flags().StringVar(&api, "api", "", "the new node's gateway base URL, recorded so that every follower forwards writes there while it leads")
	return cmd
}

func (o *coopClusterOpts) removeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove DID",
		Short: "Take a node out of the group (the leader may remove itself: it steps down)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := identity.ParseDID(args[0]); err != nil {
				return fmt.Errorf("the node's cluster DID: %w", err)
			}
			return o.call(cmd, http.MethodDelete, "/nodes/"+url.PathEscape(args[0]), nil)
		},
	}
}

// call logs in and sends one request to the cluster routes, printing the
// status it answers.
func (o *coopClusterOpts) call(cmd *cobra.Command, method, sub string, body []byte) error {
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("--output %q: use table or json", o.output)
	}
	if o.gateway == "" || o.coop == "" || o.keyFile == "" {
		return errors.New("pass --gateway URL, --coop ID and --key FILE (a moderator's key)")
	}
	if err := checkGatewayURL(o.gateway); err != nil {
		return err
	}
	key, err := keyfile.Read(o.keyFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	base := strings.TrimRight(o.gateway, "/")
	c := client.New(base)
	s, err := c.Login(ctx, key, o.coop)
	if err != nil {
		return fmt.Errorf("log in to %s as %s: %w", base, key.DID().Short(), err)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/cluster/"+url.PathEscape(o.coop)+sub, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s: %s", e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("%s answered %s", base, resp.Status)
	}
	var st gateway.ClusterStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: malformed cluster status: %w", base, err)
	}
	if o.output == "json" {
		return printJSON(cmd.OutOrStdout(), st)
	}
	return printCoopCluster(cmd.OutOrStdout(), st)
}

func printCoopCluster(w io.Writer, st gateway.ClusterStatus) error {
	leader := st.Leader
	if leader == "" {
		leader = "none known (electing)"
	}
	if err := kv(w, [2]string{"node", st.Node + " (" + st.State + ")"}, [2]string{"leader", leader},
		[2]string{"term", fmt.Sprint(st.Term)},
		[2]string{"indexes", fmt.Sprintf("commit %d, applied %d, last snapshot %d", st.CommitIndex, st.AppliedIndex, st.LastSnapshotIndex)}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRAFT\tSUFFRAGE\tAPI\t")
	for _, s := range st.Servers {
		mark := ""
		if s.DID == st.Leader {
			mark = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.DID, s.Raft, s.Suffrage, s.API, mark)
	}
	return tw.Flush()
}
