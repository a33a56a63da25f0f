package dirsim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// peakBytes is what n directory nodes in one process need at their peak,
// fitted to the runs in docs/BENCHMARKS.md: in memory 4.5 GB of RSS at 300
// nodes and 12.8 GB at 500, on TCP 4.6 GB at 160. It grows as the square of
// the nodes, since each node's peerstore comes to know the others.
func peakBytes(n int, transport string) uint64 {
	perPair := uint64(52_000)
	if transport == TransportTCP {
		perPair = 180_000
	}
	return uint64(n) * uint64(n) * perPair
}

// checkMemory refuses a network that would not fit in avail bytes (0:
// unknown, then nothing is refused), so that a run too large for the
// machine fails at once with what to do instead of when the kernel kills it.
func checkMemory(n int, transport string, avail uint64) error {
	need := peakBytes(n, transport)
	if avail == 0 || need <= avail {
		return nil
	}
	return fmt.Errorf("dirsim: %d directory nodes on %s need about %.1f GB at their peak (it grows as the square of the nodes: "+
		"4.5 GB at 300 in memory, 12.8 GB at 500), and this machine has %.1f GB available: use fewer nodes, or the model "+
		"(--model --model-nodes 1000,10000) for larger directories", n, transport, float64(need)/1e9, float64(avail)/1e9)
}

// availableMemory is the kernel's MemAvailable, in bytes (0 if unknown).
func availableMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.ParseUint(string(f[1]), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
