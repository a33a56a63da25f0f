package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// A replica's file is written without fsync (Options.Replica). A process
// that dies leaves its writes in the page cache, but a machine that stops
// may lose some of them in any order, so bbolt's pages can disagree. The
// marker beside the file is written, synced, only by a clean Close and
// removed by Open: a file found without it may be torn, and is not read.

// markerSuffix names the marker beside the state file.
const markerSuffix = ".clean"

// UncleanSuffix names the file DiscardUnclean moves aside.
const UncleanSuffix = ".unclean"

// DiscardUnclean moves a replica's state file that was not closed cleanly
// to path+UncleanSuffix (replacing an earlier one), so that the next Open
// starts empty and the Raft group rebuilds the state from its snapshot
// and log. It reports whether it moved one; a missing file is not one.
func DiscardUnclean(path string) (bool, error) {
	if _, err := os.Stat(path + markerSuffix); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("state marker: %w", err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(path, path+UncleanSuffix); err != nil {
		return false, fmt.Errorf("move aside unclean state file: %w", err)
	}
	return true, syncDir(path)
}

func writeMarker(path string) error {
	f, err := os.OpenFile(path+markerSuffix, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("state marker: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(path)
	}
	if err != nil {
		return fmt.Errorf("state marker: %w", err)
	}
	return nil
}

// removeMarker removes the marker, durably, before the file is written:
// from here until Close the file may be torn by a crash.
func removeMarker(path string) error {
	err := os.Remove(path + markerSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state marker: %w", err)
	}
	return syncDir(path)
}

func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
