package dirsim

import (
	"strings"
	"testing"
)

func TestCheckMemory(t *testing.T) {
	const gb = 1_000_000_000
	for _, tc := range []struct {
		n         int
		transport string
		avail     uint64
		refused   bool
	}{
		{300, TransportMem, 24 * gb, false}, // the runs in docs/BENCHMARKS.md that fitted
		{500, TransportMem, 24 * gb, false},
		{1000, TransportMem, 24 * gb, true}, // killed at 23 GB before
		{160, TransportTCP, 24 * gb, false},
		{500, TransportTCP, 24 * gb, true},
		{300, TransportMem, 4 * gb, true},
		{1000, TransportMem, 0, false}, // unknown: not refused
	} {
		err := checkMemory(tc.n, tc.transport, tc.avail)
		if (err != nil) != tc.refused {
			t.Errorf("%d nodes on %s with %d GB: err %v, want refused %v", tc.n, tc.transport, tc.avail/gb, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "--model") {
			t.Errorf("the refusal does not say what to do instead: %v", err)
		}
	}
	if availableMemory() == 0 {
		t.Log("MemAvailable not readable here: the check is skipped at run time")
	}
}
