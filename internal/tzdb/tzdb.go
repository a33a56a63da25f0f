// Package tzdb loads time zones from the IANA time zone database pinned in
// the binary (zoneinfo.zip, 2025c, as Go 1.26.8 ships it), never from the
// system's: a state machine that computes in a named zone (dues periods)
// must compute the same on every node, whatever zoneinfo each host has.
//
// Refresh zoneinfo.zip deliberately (make tzdb), as a change of the rules
// every node applies: copy it from a Go release's lib/time.
package tzdb

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"sync"
	"time"
)

//go:embed zoneinfo.zip
var zipData []byte

// Version is the IANA release of the pinned database.
const Version = "2025c"

var (
	indexOnce sync.Once
	index     map[string]*zip.File
	indexErr  error
	cache     sync.Map // name → *time.Location
)

// Load returns the time zone of the IANA name (e.g. "Europe/Berlin",
// "UTC") from the pinned database. "Local" and names the database does not
// hold are errors.
func Load(name string) (*time.Location, error) {
	if loc, ok := cache.Load(name); ok {
		return loc.(*time.Location), nil
	}
	indexOnce.Do(func() {
		r, err := zip.NewReader(bytes.NewReader(zipData), int64(len(zipData)))
		if err != nil {
			indexErr = fmt.Errorf("tzdb: %w", err)
			return
		}
		index = make(map[string]*zip.File, len(r.File))
		for _, f := range r.File {
			index[f.Name] = f
		}
	})
	if indexErr != nil {
		return nil, indexErr
	}
	f := index[name]
	if f == nil {
		return nil, fmt.Errorf("unknown time zone %.40q (IANA %s)", name, Version)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("tzdb %s: %w", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("tzdb %s: %w", name, err)
	}
	loc, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil, fmt.Errorf("tzdb %s: %w", name, err)
	}
	actual, _ := cache.LoadOrStore(name, loc)
	return actual.(*time.Location), nil
}
