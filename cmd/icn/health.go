package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/coopnode"
	"github.com/icn-coop/icn/hub"
)

// envConfig names the configuration file of icn hub, icn coop and icn health
// when --config is not given: what a container sets once for all three.
const envConfig = "ICN_CONFIG"

func newHealthCmd() *cobra.Command {
	var cfgPath, url string
	var ready bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health [--config FILE | --url URL] [--ready]",
		Short: "Exit 0 if the local hub or co-op node answers its health check (a container HEALTHCHECK)",
		Long: `Ask a running node whether it is alive: GET /healthz (with --ready, /readyz)
on the address its configuration file names — a hub's [http] listen, a co-op
node's [gateway] listen (over HTTPS when the gateway serves TLS). The file is
--config, else $ICN_CONFIG; it may be a hub.toml or a coop.toml. Exits 0 on a
200 answer, 1 otherwise, printing why.

The container image's HEALTHCHECK runs it without --ready: a hub that has lost
its quorum, or a co-op node whose hub link is down, is still alive and must not
be restarted for it. Readiness (/readyz) is what Kubernetes probes and load
balancers ask; see docs/operations.md.`,
		Example: `  icn health --config /etc/icn/hub.toml
  ICN_CONFIG=/etc/icn/coop.toml icn health --ready
  icn health --url http://127.0.0.1:7300/healthz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				if cfgPath == "" {
					cfgPath = os.Getenv(envConfig)
				}
				if cfgPath == "" {
					return fmt.Errorf("pass --config FILE or --url URL (or set %s)", envConfig)
				}
				path := "/healthz"
				if ready {
					path = "/readyz"
				}
				base, err := healthBase(cfgPath)
				if err != nil {
					return err
				}
				url = base + path
			} else if cfgPath != "" {
				return errors.New("pass --config or --url, not both")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			body, err := probe(ctx, url)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", url, body)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "the node's hub.toml or coop.toml (default $"+envConfig+")")
	cmd.Flags().StringVar(&url, "url", "", "ask this URL instead of the one the configuration implies")
	cmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz (ready to serve) instead of /healthz (alive)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "time limit for the answer")
	return cmd
}

// healthBase is the base URL of the node whose configuration is at path: a
// co-op node's gateway or a hub's HTTP listener, asked on 127.0.0.1 when it
// listens on a wildcard address.
func healthBase(path string) (string, error) {
	ccfg, cerr := coopnode.LoadConfig(path)
	if cerr == nil {
		scheme := "http"
		if ccfg.Gateway.ServesTLS() {
			scheme = "https"
		}
		return localURL(scheme, ccfg.Gateway.Listen)
	}
	hcfg, herr := hub.LoadConfig(path)
	if herr == nil {
		if hcfg.HTTP.Listen == "" {
			return "", fmt.Errorf("%s: [http] listen is empty, so the hub serves no /healthz: set it (e.g. listen = \"127.0.0.1:7300\")", path)
		}
		return localURL("http", hcfg.HTTP.Listen)
	}
	return "", fmt.Errorf("%s is neither a co-op node's nor a hub's configuration:\n  as coop.toml: %v\n  as hub.toml: %v", path, cerr, herr)
}

func localURL(scheme, listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// probe GETs url and returns the first line of a 200 answer. The node's own
// certificate is not checked: the probe asks whether the process answers,
// on the machine it runs on, not who it is.
func probe(ctx context.Context, url string) (string, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true} // #nosec G402 -- a local liveness probe
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("health: %w", err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	line := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("health: %s answered %s: %s", url, resp.Status, line)
	}
	return line, nil
}
