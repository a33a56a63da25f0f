package raftutil

import (
	"strings"
	"testing"
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
