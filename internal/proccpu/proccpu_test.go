package proccpu

import (
	"crypto/sha256"
	"runtime"
	"testing"
)

func TestMeterCountsThisProcessesWork(t *testing.T) {
	if _, ok := Used(); !ok {
		t.Skip("this platform does not report process CPU time")
	}
	m := Start()
	sum := sha256.Sum256(nil)
	for range 200_000 { // some milliseconds of one core: more than getrusage resolves
		sum = sha256.Sum256(sum[:])
	}
	runtime.KeepAlive(sum)
	us, ok := m.PerOp(10)
	if !ok || us <= 0 {
		t.Fatalf("PerOp(10) after hashing = %v µs, %v; want > 0", us, ok)
	}
	if _, ok := m.PerOp(0); ok {
		t.Fatal("PerOp(0) reported a figure")
	}
}
