package raftutil

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
)

// TLSStream is raft's stream layer over TLS 1.3 with both ends pinned to
// node DIDs (raft.StreamLayer): a node presents the self-signed certificate
// of its key and admits a peer only if accept admits the peer's DID, in both
// directions.
type TLSStream struct {
	net.Listener
	advertise net.Addr
	cfg       *tls.Config
}

// NewTLSStream serves raft on ln, or on a new listener bound to bind.
// advertise is the address other nodes dial (default: the bound one); accept
// decides which DIDs may connect and be connected to.
func NewTLSStream(ln net.Listener, bind, advertise string, key *identity.Key, accept func(identity.DID) bool) (*TLSStream, error) {
	if accept == nil {
		return nil, fmt.Errorf("raft stream: an accept function is required (peers are pinned)")
	}
	cfg, err := identity.TLSConfig(key, accept)
	if err != nil {
		return nil, err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", bind); err != nil {
			return nil, fmt.Errorf("raft listen %s: %w", bind, err)
		}
	}
	adv := ln.Addr()
	if advertise != "" {
		if adv, err = AdvertiseAddr(advertise); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return &TLSStream{Listener: tls.NewListener(ln, cfg), advertise: adv, cfg: cfg}, nil
}

// AdvertiseAddr checks an advertised raft address and keeps it as written:
// a host name stays a name (peers resolve it when they dial), so a node
// whose IP address changes — a container restarted, a pod rescheduled —
// keeps the address the cluster's configuration holds for it.
func AdvertiseAddr(s string) (net.Addr, error) {
	host, port, err := net.SplitHostPort(s)
	if err == nil && (host == "" || port == "") {
		err = fmt.Errorf("want HOST:PORT")
	}
	if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsUnspecified() {
		err = fmt.Errorf("%s is not an address other nodes can dial", host)
	}
	if err != nil {
		return nil, fmt.Errorf("raft advertise address %q: %w", s, err)
	}
	return namedAddr(s), nil
}

// namedAddr is a TCP address as host:port text.
type namedAddr string

func (a namedAddr) Network() string { return "tcp" }
func (a namedAddr) String() string  { return string(a) }

// Dial opens a pinned TLS connection to another node; the handshake is
// done (and an unadmitted peer refused) before it returns.
func (s *TLSStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(addr), s.cfg)
}

// Addr is the address other nodes reach this one at.
func (s *TLSStream) Addr() net.Addr { return s.advertise }
