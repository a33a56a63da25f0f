package httpserve

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// HSTS is the Strict-Transport-Security value a TLS server sends: browsers
// then refuse plain HTTP to the host for two years (the preload lists'
// minimum is one).
const HSTS = "max-age=63072000"

// DefaultCertCheck is how often a CertFiles watcher looks at its files.
const DefaultCertCheck = 10 * time.Second

// CertFiles serves a certificate and key from PEM files and reloads them on
// Reload (SIGHUP) or, with Watch, when either file changes. A reload affects
// only new handshakes: connections already open keep their session, so none
// is dropped. A reload that fails (a missing file, a key that does not match,
// a half-written file) keeps the certificate in use and reports the error.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]
	mu   sync.Mutex // one reload at a time; guards seen
	seen [sha256.Size]byte
}

// LoadCertFiles reads the pair once; the error names what is wrong.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. It reports whether the certificate changed
// (a byte-identical pair is not swapped).
func (c *CertFiles) Reload() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamps, err := c.stamps()
	if err != nil {
		return false, err
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return false, fmt.Errorf("tls: certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	c.seen = stamps
	if old := c.cert.Load(); old != nil && sameChain(old, &cert) {
		return false, nil
	}
	c.cert.Store(&cert)
	return true, nil
}

func sameChain(a, b *tls.Certificate) bool {
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if string(a.Certificate[i]) != string(b.Certificate[i]) {
			return false
		}
	}
	return true
}

// stamps is a hash of both files' contents. (Times and sizes would not do:
// a renewed certificate often has the size of the old one, and a file
// system's clock may not tick between two writes.)
func (c *CertFiles) stamps() ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	h := sha256.New()
	for _, p := range []string{c.certFile, c.keyFile} {
		b, err := os.ReadFile(p)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		fmt.Fprintf(h, "%d\n", len(b))
		h.Write(b)
	}
	copy(out[:], h.Sum(nil))
	return out, nil
}

// changed reports whether either file's contents differ from the last
// successful reload.
func (c *CertFiles) changed() bool {
	st, err := c.stamps()
	c.mu.Lock()
	defer c.mu.Unlock()
	return err != nil || st != c.seen
}

// Watch reloads the pair whenever a file's contents change, checking every interval (DefaultCertCheck if zero), until ctx
// ends. Failures are logged and retried at the next check.
func (c *CertFiles) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultCertCheck
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.changed() {
			continue
		}
		swapped, err := c.Reload()
		switch {
		case err != nil:
			if err.Error() != lastErr { // a file being replaced: say it once
				c.log.Error("tls certificate not reloaded; still serving the previous one", "err", err)
			}
			lastErr = err.Error()
		case swapped:
			lastErr = ""
			c.log.Info("tls certificate reloaded", "cert", c.certFile, "not_after", c.NotAfter())
		}
	}
}

// NotAfter is the expiry of the certificate in use.
func (c *CertFiles) NotAfter() time.Time {
	if l := c.cert.Load().Leaf; l != nil {
		return l.NotAfter
	}
	return time.Time{}
}

// Config is a TLS 1.3 server configuration that presents the current
// certificate at each handshake. It offers only HTTP/1.1 (WebSocket upgrades
// need it; see ServeTLS).
func (c *CertFiles) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if cert := c.cert.Load(); cert != nil {
				return cert, nil
			}
			return nil, errors.New("no certificate loaded")
		},
	}
}

// WithHSTS adds Strict-Transport-Security to every answer of h.
func WithHSTS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTS)
		h.ServeHTTP(w, r)
	})
}
