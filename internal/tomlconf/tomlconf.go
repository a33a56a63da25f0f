// Package tomlconf reads TOML configuration files strictly (unknown keys
// are errors, with their positions) and provides a Duration type for them.
package tomlconf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Duration is a time.Duration written as "90s" or "1h" in TOML, or with
// a leading whole number of days: "365d", "1d12h".
type Duration time.Duration

// UnmarshalText parses a Go duration string, optionally led by a whole
// number of days ("30d", "1d12h").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: use a form like 90s, 15m, 1h or 30d", b)
	}
	*d = Duration(v)
	return nil
}

// maxDays keeps days*24h within a time.Duration (about 292 years).
const maxDays = 100_000

func parseDuration(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i == len(s) || s[i] != 'd' {
		return time.ParseDuration(s)
	}
	days, err := strconv.Atoi(s[:i])
	if err != nil || days > maxDays {
		return 0, errors.New("too many days")
	}
	out := time.Duration(days) * 24 * time.Hour
	if rest := s[i+1:]; rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, errors.New("bad remainder")
		}
		out += r
	}
	return out, nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Load decodes the TOML file at path into v, refusing unknown keys so that
// a typo never silently falls back to a default.
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var sme *toml.StrictMissingError
		if errors.As(err, &sme) {
			return fmt.Errorf("config %s: unknown keys:\n%s", path, sme.String())
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return fmt.Errorf("config %s:%d:%d: %v", path, row, col, de)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}
