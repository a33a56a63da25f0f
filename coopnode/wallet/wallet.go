// Package wallet serves the co-op node's web wallet at /wallet/: a page for
// members (keys kept in the browser, signing with WebCrypto) and the plain
// ES module client it is built on (icn.js), which other web apps may use as
// a library. The files are embedded in the binary. Every answer carries a
// strict Content-Security-Policy and the other security headers (see
// Headers); the page runs no inline script.
//
// Besides the static files it serves /wallet/config.json (the co-op's id and
// currencies, for the page) and /wallet/qr.png?text=... (a QR code of a
// payment request, rendered by github.com/skip2/go-qrcode).
package wallet

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/icn-coop/icn/money"
)

//go:embed static
var static embed.FS

// Prefix is the path the wallet is served under.
const Prefix = "/wallet/"

// CSP is the Content-Security-Policy of every wallet answer: scripts, styles
// and images from the node itself only (no inline script or style, no
// eval), connections (fetch, WebSocket) only to the node, no plug-ins, no
// framing by other sites, no form posts, and Trusted Types required, so a
// string can never be written into the page as HTML.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
	"manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Headers are the security headers of every wallet answer, the CSP included.
var Headers = map[string]string{
	"Content-Security-Policy":      CSP,
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
}

// MaxQRText bounds the text of a QR code (a payment request is far shorter).
const MaxQRText = 1024

// Config is what the wallet tells the page about its co-op.
type Config struct {
	CoopID string
	// Currencies are the co-op's currencies in force, asked at every
	// request of config.json: a replicated co-op's table follows its leader.
	Currencies func() money.Currencies
}

// types are the content types of the files the wallet ships, fixed here
// rather than read from the system's MIME tables (which name .js
// application/javascript on some systems).
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".png":  "image/png",
	".svg":  "image/svg+xml",
}

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the wallet under Prefix.
type Handler struct {
	cfg   Config
	files map[string]file // by path under Prefix; "" is the page
}

// New returns the wallet's handler for cfg's co-op.
func New(cfg Config) (*Handler, error) {
	if cfg.Currencies == nil {
		return nil, fmt.Errorf("wallet: Config.Currencies is required")
	}
	h := &Handler{cfg: cfg, files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		ctype, ok := types[path.Ext(name)]
		if !ok {
			return fmt.Errorf("%s: no content type for %q", name, path.Ext(name))
		}
		h.files[name] = newFile(b, ctype)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("wallet: embedded files: %w", err)
	}
	idx, ok := h.files["index.html"]
	if !ok {
		return nil, fmt.Errorf("wallet: no index.html embedded")
	}
	h.files[""] = idx
	return h, nil
}

// config is config.json: the co-op's id and its currencies in force.
func (h *Handler) config() (file, error) {
	type currency struct {
		Code  string `json:"code"`
		Scale int32  `json:"scale"`
	}
	conf := struct {
		Coop       string     `json:"coop"`
		Currencies []currency `json:"currencies"`
	}{Coop: h.cfg.CoopID, Currencies: []currency{}}
	for _, c := range h.cfg.Currencies() {
		conf.Currencies = append(conf.Currencies, currency{c.Code, c.Scale})
	}
	slices.SortFunc(conf.Currencies, func(a, b currency) int { return strings.Compare(a.Code, b.Code) })
	cb, err := json.Marshal(conf)
	if err != nil {
		return file{}, fmt.Errorf("wallet: config: %w", err)
	}
	return newFile(cb, "application/json"), nil
}

func newFile(b []byte, ctype string) file {
	sum := sha256.Sum256(b)
	return file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// ServeHTTP serves GET and HEAD under Prefix; /wallet redirects to /wallet/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range Headers {
		w.Header().Set(k, v)
	}
	if r.TLS != nil {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the wallet's files are read with GET")
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such wallet file")
		return
	}
	if name == "qr.png" {
		h.serveQR(w, r)
		return
	}
	f, ok := h.files[name]
	if name == "config.json" {
		var err error
		if f, err = h.config(); err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "the wallet's configuration could not be written")
			return
		}
		ok = true
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such wallet file")
		return
	}
	if name == "icn.js" {
		// The client library is public code without secrets: other sites'
		// apps may import it as a module, which needs CORS.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Cache-Control", "no-cache") // revalidate: a new node version's files apply at once
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// serveQR renders ?text as a QR code (error correction M, 8 pixels a
// module, the standard 4-module quiet zone) in PNG.
func (h *Handler) serveQR(w http.ResponseWriter, r *http.Request) {
	text := r.URL.Query().Get("text")
	if text == "" || len(text) > MaxQRText {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("text must be 1 to %d bytes", MaxQRText))
		return
	}
	png, err := QR(text)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "text cannot be encoded as a QR code")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(png)
}

// QRModulePixels is the size of one QR module in the PNG that QR renders.
const QRModulePixels = 8

// QR renders text as a PNG QR code: error correction level M, with the
// quiet zone, QRModulePixels pixels a module.
func QR(text string) ([]byte, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return q.PNG(-QRModulePixels)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
