package membership

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/icn-coop/icn/identity"
)

// Limits on outside input.
const (
	MaxRequestBytes = 4 << 10 // a signed application or device request
	MaxNameRunes    = 100     // member and device names
	MaxEmailBytes   = 254
	MaxDeviceIDLen  = 64
	MaxInviteCode   = 64
	// MaxClockSkew bounds how far a signed request's "at" may be from the clock.
	MaxClockSkew = 5 * time.Minute
	// ReplayWindow is how long an accepted request's hash is remembered; it
	// exceeds 2×MaxClockSkew so a pruned request is always stale.
	ReplayWindow = 10 * time.Minute
)

// decodeStrict decodes data, a signed request exactly as received, into v:
// one JSON object whose fields are exactly keys, each present once, with the
// strictness of identity.DecodeJSON (the bytes must mean one thing to every
// reader of them).
func decodeStrict(data []byte, v any, keys ...string) error {
	if len(data) > MaxRequestBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadRequest, len(data), MaxRequestBytes)
	}
	if err := identity.DecodeJSON(data, v, keys...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

// parseDIDField parses a DID carried in a request body.
func parseDIDField(field, s string) (identity.DID, ed25519.PublicKey, error) {
	did, pub, err := identity.ParseDID(s)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrBadRequest, field, err)
	}
	return did, pub, nil
}

// checkName accepts 1..MaxNameRunes characters without control characters.
func checkName(field, s string) error {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > MaxNameRunes || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s must be 1 to %d characters", ErrBadRequest, field, MaxNameRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s holds a control character", ErrBadRequest, field)
		}
	}
	return nil
}

func checkEmail(s string) error {
	if len(s) > MaxEmailBytes || !utf8.ValidString(s) || !bytes.ContainsRune([]byte(s), '@') {
		return fmt.Errorf("%w: email must hold '@' and be at most %d bytes", ErrBadRequest, MaxEmailBytes)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: email holds a space or control character", ErrBadRequest)
		}
	}
	return nil
}

// checkDeviceID accepts 1..64 characters of [A-Za-z0-9_-].
func checkDeviceID(field, s string) error {
	if len(s) == 0 || len(s) > MaxDeviceIDLen {
		return fmt.Errorf("%w: %s must be 1 to %d characters", ErrBadRequest, field, MaxDeviceIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %s may hold only A-Z a-z 0-9 _ -", ErrBadRequest, field)
		}
	}
	return nil
}

func parsePublicKey(field, s string) (ed25519.PublicKey, error) {
	b, err := identity.DecodeB64(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadRequest, field, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %s: %d bytes, want %d", ErrBadRequest, field, len(b), ed25519.PublicKeySize)
	}
	return checkedPublicKey(field, b)
}

// parseAt parses a request's "at" and checks it against now.
func parseAt(s string, now time.Time) (time.Time, error) {
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: at: not an RFC 3339 time", ErrBadRequest)
	}
	if d := now.Sub(at); d > MaxClockSkew || d < -MaxClockSkew {
		return time.Time{}, fmt.Errorf("%w: at %s is %s from the node's clock (limit %s)", ErrExpired, at.UTC().Format(time.RFC3339), d.Round(time.Second), MaxClockSkew)
	}
	return at.UTC(), nil
}

// randomID returns 16 random bytes, base64url: invite codes, application and
// credential ids. It never starts with '-', which a command line would take
// for a flag (icn wallet approve -3Iw… fails); 1 draw in 64 is redrawn.
func randomID() (string, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("random id: %w", err)
		}
		if id := identity.B64(b); id[0] != '-' {
			return id, nil
		}
	}
}

// ApplicantOf returns the DID an application is for, decoded exactly as
// Apply decodes it, for a caller that must check who applies before Apply.
func ApplicantOf(application []byte) (identity.DID, error) {
	var aj applicationJSON
	if err := decodeStrict(application, &aj, "did", "invite_code", "name", "email"); err != nil {
		return "", fmt.Errorf("application: %w", err)
	}
	return identity.DID(aj.DID), nil
}

// KeptDeviceOf returns the keep_device of an emergency revocation request,
// decoded exactly as EmergencyRevoke decodes it.
func KeptDeviceOf(request []byte) (string, error) {
	var r emergencyJSON
	if err := decodeStrict(request, &r, "did", "keep_device", "at"); err != nil {
		return "", fmt.Errorf("emergency revoke: %w", err)
	}
	return r.KeepDevice, nil
}
