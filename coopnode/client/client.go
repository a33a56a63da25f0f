// Package client is a Go client for the co-op node's wallet gateway API
// (API.md): DID challenge/response login, payments signed over the exact
// intent bytes sent, balances, history, membership and the live event feed.
//
// A Client holds the gateway address and a connection pool; Login returns a
// Session, and every authorised call is a Session method. Both are safe for
// concurrent use. Every method takes a context first; a failed call returns
// an *APIError when the gateway answered with an error body.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultRequestTimeout bounds each unary call whose context has no deadline.
const DefaultRequestTimeout = 30 * time.Second

// maxBody bounds a response body read into memory.
const maxBody = 8 << 20

// Client talks to one co-op node's wallet gateway.
type Client struct {
	base      string
	hc        *http.Client
	userAgent string
	timeout   time.Duration
	now       func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the default pooled *http.Client. Leave its Timeout
// zero: deadlines come from contexts (and WithRequestTimeout), and a Timeout
// would also cut long-lived event feeds.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRequestTimeout bounds each unary call whose context has no deadline
// (default DefaultRequestTimeout; 0 disables). The event feed is not bounded.
func WithRequestTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithClock sets the clock used for intent timestamps and token expiry (tests).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client for the gateway at baseURL (e.g. "http://127.0.0.1:8080";
// a path prefix is kept). The default transport keeps many idle connections per
// host so that hundreds of concurrent callers reuse connections.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		hc:        &http.Client{Transport: NewTransport()},
		userAgent: "icn-client/1",
		timeout:   DefaultRequestTimeout,
		now:       time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// NewTransport returns the transport New uses: keep-alive pools sized for
// many concurrent requests to one gateway.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// BaseURL returns the gateway address the client was made with.
func (c *Client) BaseURL() string { return c.base }

// HTTPClient returns the underlying *http.Client.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// APIError is a non-2xx answer from the gateway.
type APIError struct {
	Status     int           // HTTP status code
	Code       string        // error.code from the body, e.g. "invalid_amount"; "" if the body had none
	Message    string        // error.message, or a snippet of a non-JSON body
	RetryAfter time.Duration // from the Retry-After header (429, 503), else 0
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gateway: %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// ErrorCode returns the gateway's error code if err is (or wraps) an *APIError, else "".
func ErrorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeError builds the APIError for a non-2xx response with the given body.
func decodeError(resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && (eb.Error.Code != "" || eb.Error.Message != "") {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	e.Message = msg
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Ready reads the node's readiness (GET /readyz, no login needed). A node
// whose ledger is unreadable answers 503, returned as an *APIError.
func (c *Client) Ready(ctx context.Context) (*Readiness, error) {
	var r Readiness
	if err := c.do(ctx, "GET", "/readyz", "", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// do sends one unary request. in (if not nil) is JSON-encoded as the body;
// a 2xx body is decoded into out (if not nil).
func (c *Client) do(ctx context.Context, method, path, token string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
	}
	return c.doRaw(ctx, method, path, token, body, out)
}

func (c *Client) doRaw(ctx context.Context, method, path, token string, body []byte, out any) error {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp, data, c.now())
	}
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s %s: empty %d response", method, path, resp.StatusCode)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}
