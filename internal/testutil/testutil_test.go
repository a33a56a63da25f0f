package testutil

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestTogether(t *testing.T) {
	var ran [8]atomic.Bool
	var running, most atomic.Int32
	Together(8, func(i int) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		ran[i].Store(true)
		WaitFor(t, 5*time.Second, "all eight to start", func() bool { return most.Load() == 8 })
	})
	for i := range ran {
		if !ran[i].Load() {
			t.Errorf("f(%d) did not run", i)
		}
	}
}

func TestWaitForFails(t *testing.T) {
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitFor(ft, 20*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if !ft.failed {
		t.Fatal("WaitFor did not fail on a condition that never holds")
	}
}

// fatalRecorder records Fatalf and ends the goroutine, as testing.T does.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}
