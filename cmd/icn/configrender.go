package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/internal/keyfile"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Configuration tools for deployments",
	}
	cmd.AddCommand(newConfigRenderCmd())
	return cmd
}

func newConfigRenderCmd() *cobra.Command {
	var keysDir, outDir, tmplDir string
	cmd := &cobra.Command{
		Use:   "render --templates DIR --keys DIR --out DIR",
		Short: "Generate missing keys and write configuration files from templates (a one-shot init step)",
		Long: `Write every DIR/…/NAME.tmpl of --templates to --out/…/NAME (Go text/template;
files whose name starts with _ are only shared {{define}} blocks), giving the
templates these functions:

  did "NAME"          the DID of --keys/NAME.key, an Ed25519 key made (0600) if missing
  keyfile "NAME"      the path of that key file (made if missing)
  tlscert "NAME" H…   the path of --keys/NAME.tls.crt, a TLS server certificate for
                      the hosts H… (DNS names or IPs) signed by a development CA
                      (--keys/ca.crt, made if missing); tlskey "NAME" is its key

Keys and certificates that exist are kept, so running it again re-renders the
files with the same identities. What compose's init service and a Kubernetes
init container run; the CA is for trying things out: give co-op gateways an
ordinary certificate in production.`,
		Example: `  icn config render --templates deploy/compose/templates --keys /etc/icn/keys --out /etc/icn`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keysDir == "" || outDir == "" || tmplDir == "" {
				return errors.New("--templates, --keys and --out are required")
			}
			r := &renderer{keys: keysDir, dids: map[string]identity.DID{}}
			written, err := r.render(tmplDir, outDir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, w := range written {
				fmt.Fprintln(out, "wrote", w)
			}
			names := make([]string, 0, len(r.dids))
			for n := range r.dids {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(out, "key %-24s %s\n", n, r.dids[n])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tmplDir, "templates", "", "directory of *.tmpl files")
	cmd.Flags().StringVar(&keysDir, "keys", "", "directory of the keys (made and kept)")
	cmd.Flags().StringVar(&outDir, "out", "", "directory to write the rendered files to")
	return cmd
}

type renderer struct {
	keys string
	dids map[string]identity.DID
}

// keyName is what a template may name: no absolute paths, no "..".
var keyName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*(/[a-zA-Z0-9][a-zA-Z0-9._-]*)*$`)

func (r *renderer) path(name, suffix string) (string, error) {
	if !keyName.MatchString(name) || strings.Contains(name, "..") {
		return "", fmt.Errorf("key name %q: use letters, digits, . _ - and / (no ..)", name)
	}
	return filepath.Join(r.keys, filepath.FromSlash(name)+suffix), nil
}

func (r *renderer) keyfile(name string) (string, error) {
	p, err := r.path(name, ".key")
	if err != nil {
		return "", err
	}
	k, err := keyfile.LoadOrCreate(p, func() (*identity.Key, error) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		return identity.GenerateKey(rand.Reader)
	})
	if err != nil {
		return "", fmt.Errorf("key %s: %w", name, err)
	}
	r.dids[name] = k.DID()
	return p, nil
}

func (r *renderer) did(name string) (string, error) {
	if _, err := r.keyfile(name); err != nil {
		return "", err
	}
	return string(r.dids[name]), nil
}

func (r *renderer) tlskey(name string) (string, error) { return r.path(name, ".tls.key") }

func (r *renderer) tlscert(name string, hosts ...string) (string, error) {
	crt, err := r.path(name, ".tls.crt")
	if err != nil {
		return "", err
	}
	if len(hosts) == 0 {
		return "", fmt.Errorf("tlscert %s: name at least one host", name)
	}
	key, _ := r.tlskey(name)
	if _, err := tls.LoadX509KeyPair(crt, key); err == nil {
		return crt, nil
	}
	ca, caKey, err := r.devCA()
	if err != nil {
		return "", err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(397 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return "", fmt.Errorf("tlscert %s: %w", name, err)
	}
	if err := writePEM(crt, "CERTIFICATE", der); err != nil {
		return "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		return "", err
	}
	return crt, writePEM(key, "PRIVATE KEY", kder)
}

// devCA loads or makes keys/ca.crt and keys/ca.tls.key.
func (r *renderer) devCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	crt, key := filepath.Join(r.keys, "ca.crt"), filepath.Join(r.keys, "ca.tls.key")
	if pair, err := tls.LoadX509KeyPair(crt, key); err == nil {
		c, err := x509.ParseCertificate(pair.Certificate[0])
		if k, ok := pair.PrivateKey.(*ecdsa.PrivateKey); ok && err == nil {
			return c, k, nil
		}
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "ICN development CA (icn config render)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(key, "PRIVATE KEY", kder); err != nil {
		return nil, nil, err
	}
	if err := writePEM(crt, "CERTIFICATE", der); err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, k, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func writePEM(path, typ string, der []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if typ == "CERTIFICATE" {
		mode = 0o644
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// render writes every template under dir to out and returns the paths written.
func (r *renderer) render(dir, out string) ([]string, error) {
	root := template.New("").Option("missingkey=error").Funcs(template.FuncMap{
		"did": r.did, "keyfile": r.keyfile, "tlscert": r.tlscert, "tlskey": r.tlskey,
	})
	var pages []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tmpl") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, err := root.New(filepath.ToSlash(rel)).Parse(string(b)); err != nil {
			return fmt.Errorf("template %s: %w", rel, err)
		}
		if !strings.HasPrefix(d.Name(), "_") {
			pages = append(pages, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("--templates %s holds no *.tmpl files", dir)
	}
	var written []string
	for _, name := range pages {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, nil); err != nil {
			return written, fmt.Errorf("template %s: %w", name, err)
		}
		dst := filepath.Join(out, filepath.FromSlash(strings.TrimSuffix(name, ".tmpl")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(dst+".new", buf.Bytes(), 0o644); err != nil {
			return written, err
		}
		if err := os.Rename(dst+".new", dst); err != nil {
			return written, err
		}
		written = append(written, dst)
	}
	return written, nil
}
