// Package testutil holds the helpers that tests of several packages share:
// bounded waits on a condition, goroutines started at one moment, and raw
// HTTP requests that a well-behaved client would never send.
package testutil

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, and fails the test if it
// still does not after d; what says what was awaited.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Together runs f(0), …, f(n-1) in n goroutines released at the same moment
// (to make them race), and returns once all have returned.
func Together(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// RawHTTP opens a TCP connection to addr, writes req exactly as given (a
// request head and as much of a body as the test chooses to send), and
// reads until the server closes the connection or wait passes. It returns
// what the server sent and whether it closed the connection (EOF or a
// reset) within wait. The read blocks on a deadline; nothing sleeps.
func RawHTTP(t testing.TB, addr, req string, wait time.Duration) (answer []byte, closed bool) {
	t.Helper()
	c := rawSend(t, addr, req, wait)
	defer c.Close()
	answer, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return answer, false
	}
	return answer, true
}

// RawResponse writes req to addr as RawHTTP does and returns the first
// response, its body read in full, failing the test if none arrives within
// wait. It does not wait for the connection to close.
func RawResponse(t testing.TB, addr, req string, wait time.Duration) (*http.Response, []byte) {
	t.Helper()
	c := rawSend(t, addr, req, wait)
	defer c.Close()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", wait, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("response body: %v", err)
	}
	return resp, body
}

// rawSend dials addr, writes req and sets the connection's read deadline
// wait from now.
func rawSend(t testing.TB, addr, req string, wait time.Duration) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		t.Fatalf("write the request: %v", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}
