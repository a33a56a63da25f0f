package raftutil

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
)

func TestRetryTermEntry(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name      string
		errs      []error // what each try returns, then nil
		cancelled bool
		want      bool
		tries     int
	}{
		{name: "applied at once", want: true, tries: 1},
		{name: "enqueue timeouts, then applied", errs: []error{raft.ErrEnqueueTimeout, raft.ErrEnqueueTimeout}, want: true, tries: 3},
		{name: "leadership lost", errs: []error{raft.ErrLeadershipLost}, want: false, tries: 1},
		{name: "not leader after a timeout", errs: []error{raft.ErrEnqueueTimeout, raft.ErrNotLeader}, want: false, tries: 2},
		{name: "shut down", errs: []error{raft.ErrRaftShutdown}, want: false, tries: 1},
		{name: "timeout once the term ended", errs: []error{raft.ErrEnqueueTimeout}, cancelled: true, want: false, tries: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			tries := 0
			try := func() error {
				tries++
				if tries <= len(tc.errs) {
					return tc.errs[tries-1]
				}
				return nil
			}
			if got := retryTermEntry(ctx, try, log); got != tc.want {
				t.Errorf("retryTermEntry = %v, want %v", got, tc.want)
			}
			if tries != tc.tries {
				t.Errorf("%d tries, want %d", tries, tc.tries)
			}
		})
	}
}
