package systest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// register registers a fresh participant through node i, retrying on
// Unavailable with the same request id (through the next node) until it is
// acknowledged. It returns the DID, or "" if it gave up.
func (c *hubCluster) register(start int, stop <-chan struct{}) string {
	k := genKey(c.t)
	req := &icnv1.RegisterParticipantRequest{Did: string(k.DID()), Name: "coop " + k.DID().Short(),
		Kind: icnv1.ParticipantKind_PARTICIPANT_KIND_COOP, RequestId: uuid.NewString()}
	for attempt := 0; attempt < 200; attempt++ {
		select {
		case <-stop:
			return ""
		default:
		}
		i := (start + attempt) % len(c.procs)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := icnv1.NewFederationServiceClient(c.conn(i)).RegisterParticipant(ctx, req)
		cancel()
		if err == nil || status.Code(err) == codes.AlreadyExists {
			return req.Did
		}
		time.Sleep(25 * time.Millisecond) // back off before trying the next node
	}
	return ""
}

// participants reads node i's own state (a stale read: no leader round trip).
func (c *hubCluster) participants(i int) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := icnv1.NewFederationServiceClient(c.conn(i)).ListParticipants(ctx, &icnv1.ListParticipantsRequest{Stale: true})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range resp.GetParticipants() {
		out[p.GetDid()] = true
	}
	return out, nil
}

func (c *hubCluster) waitHasAll(i int, acked []string) {
	c.t.Helper()
	var missing int
	waitFor(c.t, 30*time.Second, fmt.Sprintf("node %d to hold every acknowledged write", i), func() bool {
		have, err := c.participants(i)
		if err != nil {
			return false
		}
		missing = 0
		for _, d := range acked {
			if !have[d] {
				missing++
			}
		}
		return missing == 0
	})
}

// TestHubProcessesSurviveLeaderKill runs three `icn hub` processes, kills
// the leader with SIGKILL while clients write, and checks that a new leader
// takes over, no acknowledged write is lost, and the killed node catches up
// (by snapshot install: the log is compacted while it is down).
func TestHubProcessesSurviveLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := newHubCluster(t, 3, "snapshot_threshold = 40\ntrailing_logs = 10\n")
	li := c.leader([]int{0, 1, 2})

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := c.register(w, stop); d != "" {
					mu.Lock()
					acked = append(acked, d)
					mu.Unlock()
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, 30*time.Second, "writes before the kill", func() bool { return count() >= 40 })
	c.procs[li].kill()
	var alive []int
	for i := range c.procs {
		if i != li {
			alive = append(alive, i)
		}
	}
	nl := c.leader(alive)
	before := count()
	waitFor(t, 30*time.Second, "writes after the kill", func() bool { return count() >= before+120 })
	close(stop)
	wg.Wait()
	if nl == li {
		t.Fatalf("no new leader")
	}
	mu.Lock()
	final := append([]string(nil), acked...)
	mu.Unlock()
	for _, i := range alive {
		c.waitHasAll(i, final)
	}
	st, err := c.status(nl)
	if err != nil {
		t.Fatal(err)
	}
	c.procs[li].start()
	c.waitHasAll(li, final)
	rst, err := c.status(li)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged (%d after the kill); leader %d → %d; leader snapshot at %d, restarted node's at %d",
		len(final), len(final)-before, li, nl, st.GetLastSnapshotIndex(), rst.GetLastSnapshotIndex())
	if rst.GetLastSnapshotIndex() == 0 {
		t.Errorf("restarted node holds no snapshot: it should have installed the leader's")
	}
}
