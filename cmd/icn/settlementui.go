package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/hub/ui"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

func (o *hubOpts) settlementUICmd() *cobra.Command {
	listen := "127.0.0.1:0"
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the treasurer pages to your browser on 127.0.0.1, read from the hub with your key",
		Long: `Serves the treasurer pages (the settlement periods with their counts and a
chart of each co-op's net position across periods, each period's report,
instructions, signatures and downloads) on a local address, and prints the
link to open. Every page is read from the hub's control plane with --key,
over TLS pinned to --hub-did, exactly as icn settlement show reads it: a
co-op's treasurer sees what the co-op's key may read, an operator all.

The hub itself serves no pages. The local server answers only on a loopback
address, only to requests for the link's secret path (a random token made
at each start) and only with a Host of that address, so neither another
user of the machine nor a web page open in the browser can read through it.
Stop it with Ctrl-C.`,
		Example: `  icn settlement ui --key riverside-node.key
  icn settlement ui --listen 127.0.0.1:7380`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loopbackAddr(listen); err != nil {
				return err
			}
			if o.output != "table" {
				return errors.New("icn settlement ui prints no data: leave out --output")
			}
			c, err := o.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			// Fail now, not on the first page, if the hub refuses the key.
			cctx, cancel := context.WithTimeout(ctx, o.timeout)
			err = c.invoke(cctx, icnv1.SettlementService_ListPeriods_FullMethodName, &icnv1.ListPeriodsRequest{}, &icnv1.ListPeriodsResponse{})
			cancel()
			if err != nil {
				return fmt.Errorf("the hub refused to list the settlement periods for %s: %w", c.key.DID(), err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			token, err := newUIToken()
			if err != nil {
				ln.Close()
				return err
			}
			src := ui.RemoteSource(icnv1.NewSettlementServiceClient(hubConn{c}))
			srv := &http.Server{
				Handler:           localUI(ui.Handler(src, time.Now), token, ln.Addr().String(), o.timeout),
				ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
				WriteTimeout: o.timeout + 10*time.Second, IdleTimeout: time.Minute,
			}
			url := "http://" + ln.Addr().String() + "/" + token + ui.Prefix
			fmt.Fprintf(cmd.OutOrStdout(), "Treasurer pages for %s: open\n  %s\n(the link holds a secret: do not share it; Ctrl-C stops)\n", c.key.DID(), url)
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
			}
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			<-done
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", listen, "local address to serve on, a loopback IP and port (port 0: any free one)")
	return cmd
}

// loopbackAddr accepts HOST:PORT where HOST is a loopback IP or localhost.
func loopbackAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:7380", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen %q: the pages read the hub with your key, so they are served on a loopback address only "+
			"(127.0.0.1 or ::1); to reach them from elsewhere, forward the port (ssh -L)", addr)
	}
	return nil
}

// newUIToken returns the secret path segment of a run's link.
func newUIToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make the link's secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// localUI lets through to h (with the token's path segment removed) only
// requests whose Host is addr (or localhost with addr's port) and whose path
// starts with /TOKEN/: a different Host is what a DNS-rebinding page sends,
// a missing token what any other client of the port sends. Both get a 403
// JSON error. Each request is bounded by timeout.
func localUI(h http.Handler, token, addr string, timeout time.Duration) http.Handler {
	_, port, _ := net.SplitHostPort(addr)
	hosts := map[string]bool{addr: true, "localhost:" + port: true}
	prefix := "/" + token + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !hosts[r.Host] {
			uiRefuse(w, "bad_host", "this server answers only at "+addr)
			return
		}
		p := r.URL.Path
		if len(p) < len(prefix) || subtle.ConstantTimeCompare([]byte(p[:len(prefix)]), []byte(prefix)) != 1 {
			uiRefuse(w, "forbidden", "open the link that icn settlement ui printed: it holds this run's secret")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r2 := r.Clone(ctx)
		r2.URL.Path = p[len(prefix)-1:]
		r2.URL.RawPath = ""
		h.ServeHTTP(w, r2)
	})
}

func uiRefuse(w http.ResponseWriter, code, msg string) {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message = code, msg
	b, _ := json.Marshal(e) // two strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(b)
}

// hubConn lets generated gRPC clients call through hubClient.invoke, with
// its failover across --hub addresses and retries of Unavailable.
type hubConn struct{ c *hubClient }

func (h hubConn) Invoke(ctx context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	req, ok := args.(proto.Message)
	resp, ok2 := reply.(proto.Message)
	if !ok || !ok2 {
		return status.Errorf(codes.Internal, "%s: %T and %T are not protobuf messages", method, args, reply)
	}
	return h.c.invoke(ctx, method, req, resp)
}

func (hubConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "icn settlement ui makes no streaming calls")
}

var _ grpc.ClientConnInterface = hubConn{}
