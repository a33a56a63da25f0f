package raftutil

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/icn-coop/icn/identity"
)

// TestAdvertiseAddr: an advertised raft address is kept as written (a host
// name is not resolved into the IP address it has today), and one other
// nodes cannot dial is refused.
func TestAdvertiseAddr(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"hub-1:7100", ""},
		{"icn-hub-0.icn-hub:7100", ""},
		{"10.0.0.1:7100", ""},
		{"[fd00::1]:7100", ""},
		{"0.0.0.0:7100", "not an address other nodes can dial"},
		{"[::]:7100", "not an address other nodes can dial"},
		{":7100", "HOST:PORT"},
		{"hub-1", "missing port"},
		{"hub-1:", "HOST:PORT"},
	} {
		a, err := AdvertiseAddr(tc.in)
		switch {
		case tc.err == "" && (err != nil || a.String() != tc.in || a.Network() != "tcp"):
			t.Errorf("%q: %v, %v; want it kept as written", tc.in, a, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want an error saying %q", tc.in, err, tc.err)
		}
	}
}

// TestTLSStreamPins: two pinned nodes talk; a third, unpinned, is refused
// both when it dials and when it is dialled.
func TestTLSStreamPins(t *testing.T) {
	a, b, rogue := key(t, 1), key(t, 2), key(t, 3)
	pin := func(ds ...identity.DID) func(identity.DID) bool {
		return func(d identity.DID) bool { return slices.Contains(ds, d) }
	}
	sa := stream(t, a, pin(b.DID()))
	sb := stream(t, b, pin(a.DID()))
	sr := stream(t, rogue, func(identity.DID) bool { return true })
	for _, s := range []*TLSStream{sa, sb, sr} {
		go serveEcho(s)
	}

	if got, err := roundTrip(sb, sa.Addr()); err != nil || got != "ping" {
		t.Fatalf("a pinned peer: %q, %v", got, err)
	}
	if _, err := sa.Dial(raft.ServerAddress(sr.Addr().String()), 5*time.Second); !errors.Is(err, identity.ErrPeer) {
		t.Errorf("dialling an unpinned node: %v, want identity.ErrPeer", err)
	}
	if got, err := roundTrip(sr, sa.Addr()); err == nil {
		t.Errorf("an unpinned node was answered %q", got)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("an unpinned node was not refused: %v", err)
	}
}

// key derives a test key from a one-byte seed.
func key(t *testing.T, b byte) *identity.Key {
	t.Helper()
	k, err := identity.KeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func stream(t *testing.T, k *identity.Key, accept func(identity.DID) bool) *TLSStream {
	t.Helper()
	s, err := NewTLSStream(nil, "127.0.0.1:0", "", k, accept)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serveEcho echoes a line on each connection until s closes.
func serveEcho(s *TLSStream) {
	for {
		c, err := s.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err == nil {
				c.Write(buf)
			}
		}()
	}
}

// roundTrip dials addr from s, sends "ping" and reads the echo.
func roundTrip(s *TLSStream, addr net.Addr) (string, error) {
	c, err := s.Dial(raft.ServerAddress(addr.String()), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return "", err
	}
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return string(buf), err
}
