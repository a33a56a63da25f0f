// Package httpserve builds the project's HTTP servers (the co-op node's
// wallet gateway, the hub's metrics, health and treasurer pages) with
// deadlines and a request-body cap, so that no client holds a connection or
// a handler open by sending slowly, or makes a server read a body it will
// refuse anyway.
//
// Deadlines are server-wide (http.Server's ReadTimeout, WriteTimeout and
// IdleTimeout) rather than set per request with http.ResponseController:
// net/http clears a connection's deadlines when a handler hijacks it, so a
// WebSocket (the gateway's GET /ws/{coop}, whose library hijacks on
// upgrade) outlives them and keeps its own liveness checks, while every
// ordinary request stays bounded without any handler having to remember
// it. A handler that streams a long response over plain HTTP (none does
// today) must extend its write deadline with http.ResponseController.
package httpserve

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of Limits' zero fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxBody           = 16 << 10
)

// Limits bound what a server waits for and reads. A zero field takes its
// default.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers (10 s, and never
	// more than ReadTimeout).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body (30 s):
	// a body that stalls ends the connection when it passes.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its response (60 s), so it must exceed the time to read
	// the body plus the slowest handler. WebSockets are exempt (see the
	// package comment).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request (2 min).
	IdleTimeout time.Duration
	// MaxBody caps request bodies (16 KiB): a declared Content-Length above
	// it gets 413 body_too_large before any of the body is read, and a body
	// of unknown length (chunked) fails its read once it passes the cap.
	MaxBody int64
}

// WithDefaults returns l with its zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	set := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.ReadTimeout, DefaultReadTimeout)
	set(&l.ReadHeaderTimeout, min(DefaultReadHeaderTimeout, l.ReadTimeout))
	l.ReadHeaderTimeout = min(l.ReadHeaderTimeout, l.ReadTimeout)
	set(&l.WriteTimeout, DefaultWriteTimeout)
	set(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	return l
}

// Check refuses negative limits, naming the configuration keys under
// section (e.g. "gateway": gateway.read_timeout).
func (l Limits) Check(section string) error {
	for _, f := range []struct {
		key string
		v   time.Duration
	}{{"read_timeout", l.ReadTimeout}, {"write_timeout", l.WriteTimeout}, {"idle_timeout", l.IdleTimeout}} {
		if f.v < 0 {
			return fmt.Errorf("%s.%s: %v is negative; give a duration like \"30s\" (or leave it out for the default)", section, f.key, f.v)
		}
	}
	return nil
}

// New returns a server for h with l's deadlines, h wrapped in LimitBody.
// log (nil: the process's default logger) receives what net/http itself
// reports, such as a handler's panic, at level warn.
func New(h http.Handler, l Limits, log *slog.Logger) *http.Server {
	l = l.WithDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           LimitBody(l.MaxBody, h),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// LimitBody refuses a request whose declared Content-Length exceeds max
// with 413 and {"error":{"code":"body_too_large",…}} at once, without
// reading the body (and closes the connection after the answer, so the
// unread body is never parsed as a request). Other bodies are wrapped in
// http.MaxBytesReader, so one of unknown length fails its read past max.
func LimitBody(max int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("the request body of %d bytes exceeds this server's limit of %d bytes", r.ContentLength, max))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		h.ServeHTTP(w, r)
	})
}

// WriteError answers with status and the project's error body,
// {"error":{"code":code,"message":message}}.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	b, _ := json.Marshal(body) // two strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
