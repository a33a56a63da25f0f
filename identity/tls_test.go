package identity

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"testing"
)

func TestTLSPinning(t *testing.T) {
	srvKey, _ := GenerateKey(rand.Reader)
	cliKey, _ := GenerateKey(rand.Reader)
	other, _ := GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name             string
		srvAccept, cliOK func(DID) bool
		ok               bool
	}{
		{"both pinned", Pin(cliKey.DID()), Pin(srvKey.DID()), true},
		{"client pins wrong server", Pin(cliKey.DID()), Pin(other.DID()), false},
		{"server refuses client", Pin(other.DID()), Pin(srvKey.DID()), false},
		{"server accepts any", nil, Pin(srvKey.DID()), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvCfg, err := TLSConfig(srvKey, tc.srvAccept)
			if err != nil {
				t.Fatal(err)
			}
			cliCfg, err := TLSConfig(cliKey, tc.cliOK)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan DID, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- ""
					return
				}
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() != nil {
					got <- ""
					return
				}
				d, _ := PeerDID(tc.ConnectionState())
				got <- d
			}()
			c, err := tls.Dial("tcp", ln.Addr().String(), cliCfg)
			if err == nil {
				// TLS 1.3: the server's verdict on the client arrives with the first read.
				_, err = c.Read(make([]byte, 1))
				if errors.Is(err, net.ErrClosed) || err == nil {
					err = errors.New("unexpected")
				}
				c.Close()
			}
			d := <-got
			if tc.ok && d != cliKey.DID() {
				t.Fatalf("server saw peer %q, want %s (client err %v)", d, cliKey.DID(), err)
			}
			if !tc.ok && d != "" {
				t.Fatalf("handshake accepted, peer %s", d)
			}
		})
	}
}
