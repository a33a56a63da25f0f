package raftutil

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// OpenLogStore opens raft's log and stable store (raft-boltdb/v2) at path.
func OpenLogStore(path string) (*raftboltdb.BoltStore, error) {
	// The freelist is rebuilt at open instead of written at every append
	// (as etcd does): truncating the log after each snapshot leaves it long.
	opts := &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: opts})
	if err != nil {
		return nil, fmt.Errorf("open raft log %s: %w", path, err)
	}
	return s, nil
}

// NewTransport is raft's network transport over s.
func NewTransport(s raft.StreamLayer, logger hclog.Logger) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: s, MaxPool: 4, Timeout: 10 * time.Second, Logger: logger})
}
