package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrPeer reports a TLS peer whose key is not a DID we accept.
var ErrPeer = errors.New("tls peer not accepted")

// Certificate returns a self-signed X.509 certificate over k, valid from
// now-1h to now+validFor. Peers check the key (the DID), never a CA chain,
// so the certificate is regenerated at every start.
func Certificate(k *Key, now time.Time, validFor time.Duration) (tls.Certificate, error) {
	return certificate(k, now.Add(-time.Hour), now.Add(validFor))
}

func certificate(k *Key, notBefore, notAfter time.Time) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(k.DID())},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"icn-node"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.PrivateKey())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k.PrivateKey(), Leaf: leaf}, nil
}

// CertDID returns the DID of a peer's leaf certificate key, checking that
// the certificate is self-signed by that key.
func CertDID(rawCerts [][]byte) (DID, error) {
	if len(rawCerts) == 0 {
		return "", fmt.Errorf("%w: no certificate", ErrPeer)
	}
	c, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPeer, err)
	}
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: key is not Ed25519", ErrPeer)
	}
	// Before the signature: under a small-order key a fixed signature
	// verifies for every certificate (and every handshake).
	if err := CheckPublicKey(pub); err != nil {
		return "", fmt.Errorf("%w: %w", ErrPeer, err)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		return "", fmt.Errorf("%w: certificate not self-signed: %v", ErrPeer, err)
	}
	return DIDFromKey(pub), nil
}

// PeerDID returns the DID of the peer of an established TLS connection.
func PeerDID(cs tls.ConnectionState) (DID, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: no certificate", ErrPeer)
	}
	return CertDID([][]byte{cs.PeerCertificates[0].Raw})
}

// The validity of the certificates TLSConfig presents. Peers pin the key
// (the DID) and never check the dates, so they are fixed rather than read
// from a clock: this package reads none.
var (
	pinnedFrom  = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	pinnedUntil = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// TLSConfig returns a TLS 1.3 configuration presenting k's certificate and
// accepting only peers whose DID accept approves (nil accepts any DID, for
// servers that authorise per request). As a server it asks for a client
// certificate and, when accept is set, requires one.
func TLSConfig(k *Key, accept func(DID) bool) (*tls.Config, error) {
	cert, err := certificate(k, pinnedFrom, pinnedUntil)
	if err != nil {
		return nil, err
	}
	clientAuth := tls.RequestClientCert
	if accept != nil {
		clientAuth = tls.RequireAnyClientCert
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		ClientAuth:         clientAuth,
		InsecureSkipVerify: true, // pinned by DID in VerifyPeerCertificate, not by a CA
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 && accept == nil {
				return nil
			}
			did, err := CertDID(raw)
			if err != nil {
				return err
			}
			if accept != nil && !accept(did) {
				return fmt.Errorf("%w: %s", ErrPeer, did)
			}
			return nil
		},
	}, nil
}

// Pin returns an accept function for exactly one DID.
func Pin(want DID) func(DID) bool { return func(d DID) bool { return d == want } }
