package routing

import "time"

// CrashListener drops a listener without telling its peers, as a killed
// process would.
func CrashListener(l *Listener) { l.crash() }

// Backoff exposes the reconnect backoff.
func Backoff(lo, hi time.Duration, n int) time.Duration { return backoff(lo, hi, n) }

// WriteRaw writes b on the stream as is, then ends our side: for sending
// broken frames.
func WriteRaw(s *Stream, b []byte) error {
	if _, err := s.qs.Write(b); err != nil {
		return err
	}
	return s.qs.Close()
}
