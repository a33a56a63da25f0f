package tzdb

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     time.Time // an instant whose offset in name is known
		offset int       // seconds east of UTC
		ok     bool
	}{
		{"UTC", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), 0, true},
		{"Europe/Berlin", time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), 3600, true},
		{"Europe/Berlin", time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC), 7200, true},
		{"America/Sao_Paulo", time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), -3 * 3600, true}, // no DST since 2019
		{"Asia/Kolkata", time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), 5*3600 + 1800, true},
		{"Local", time.Time{}, 0, false},
		{"Mars/Olympus_Mons", time.Time{}, 0, false},
		{"../../etc/passwd", time.Time{}, 0, false},
		{"", time.Time{}, 0, false},
	} {
		loc, err := Load(tc.name)
		if (err == nil) != tc.ok {
			t.Fatalf("Load(%q): %v, want ok %v", tc.name, err, tc.ok)
		}
		if !tc.ok {
			continue
		}
		if _, off := tc.at.In(loc).Zone(); off != tc.offset {
			t.Errorf("%s at %s: offset %d, want %d", tc.name, tc.at, off, tc.offset)
		}
		if again, _ := Load(tc.name); again != loc {
			t.Errorf("Load(%q) twice gave two locations", tc.name)
		}
	}
}

// TestIgnoresHostZoneinfo: a host whose zoneinfo says otherwise (here
// ZONEINFO, which the time package reads first, with Karachi's rules under
// Berlin's name) changes time.LoadLocation's answer but not Load's.
func TestIgnoresHostZoneinfo(t *testing.T) {
	if _, err := Load("Asia/Karachi"); err != nil {
		t.Fatal(err)
	}
	karachi := index["Asia/Karachi"]
	rc, err := karachi.Open()
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "zoneinfo.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "Europe/Berlin", Method: zip.Store})
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZONEINFO", path)

	winter := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	host, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if _, off := winter.In(host).Zone(); off != 5*3600 {
		t.Skipf("the time package read zoneinfo before ZONEINFO was set (offset %d): nothing to compare", off)
	}
	pinned, err := Load("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if _, off := winter.In(pinned).Zone(); off != 3600 {
		t.Fatalf("Load followed the host's zoneinfo: Berlin at %d s east of UTC, want 3600", off)
	}
}
