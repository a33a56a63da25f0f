package hub

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/icn-coop/icn/hub/fsm"
	"slices"
	"time"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// ForwardFunc sends a command to the leader from a node that is not the
// leader, and returns the state machine's result.
type ForwardFunc func(ctx context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error)

// SetForward sets how this node reaches the leader with its own commands
// (report signatures). NewServer sets it to a gRPC call to the leader's
// SettlementService; Config.Forward, if set, wins.
func (n *Node) SetForward(f ForwardFunc) {
	n.fwdMu.Lock()
	defer n.fwdMu.Unlock()
	if n.cfg.Forward == nil {
		n.forward = f
	}
}

// submit runs cmd on the leader: here if this node leads, else through the
// forwarder.
func (n *Node) submit(ctx context.Context, cmd *icnv1.Command) (*icnv1.CommandResult, error) {
	if n.IsLeader() {
		return n.Propose(ctx, cmd)
	}
	n.fwdMu.Lock()
	f := n.forward
	n.fwdMu.Unlock()
	if f == nil {
		return nil, ErrNotLeader
	}
	return f(ctx, cmd)
}

// signatureRequestID names one node's signature of one period.
func signatureRequestID(period uint64, signer identity.DID) string {
	return fmt.Sprintf("settlement/sign/%d/%s", period, signer)
}

// signLoop signs the report of every closed period this node was a voter
// of and has not signed yet. It builds the report from its own state (never
// in Apply), signs its hash with the node key and submits the signature
// through the leader. A node that was down at a close signs when it is back;
// a period whose signature the state machine holds is never submitted again,
// and one refused as divergent is not retried until the process restarts.
func (n *Node) signLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SignEvery)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.stop
		cancel()
	}()
	refused := map[uint64]bool{}
	var seen uint64
	retry := false
	for {
		select {
		case <-t.C:
		case <-n.stop:
			return
		}
		applied := n.fsm.AppliedIndex()
		if applied == seen && !retry {
			continue
		}
		seen, retry = applied, false
		todo, err := n.unsignedPeriods()
		if err != nil {
			n.log.Warn("list periods to sign", "err", err)
			retry = true
			continue
		}
		for _, p := range todo {
			if refused[p] {
				continue
			}
			switch err := n.signPeriod(ctx, p); {
			case errors.Is(err, errDiverged):
				refused[p] = true
			case err != nil:
				n.log.Warn("sign settlement report", "period", p, "err", err)
				retry = true
			}
		}
	}
}

var errDiverged = errors.New("report differs from the signed one")

// unsignedPeriods lists closed periods this node voted in and has not signed.
func (n *Node) unsignedPeriods() ([]uint64, error) {
	recs, err := n.fsm.SettlementPeriods()
	if err != nil {
		return nil, err
	}
	me := string(n.DID())
	var out []uint64
	for _, r := range recs {
		if slices.Contains(r.GetHubNodes(), me) && !fsm.HasSigner(r, me) {
			out = append(out, r.GetNumber())
		}
	}
	return out, nil
}

// signPeriod builds, signs and submits one period's report signature.
func (n *Node) signPeriod(ctx context.Context, p uint64) error {
	b, err := n.reports.get(p)
	if err != nil {
		return err
	}
	sig := n.cfg.Key.Sign(identity.TagReport, b.hash[:])
	cmd := &icnv1.Command{RequestId: signatureRequestID(p, n.DID()), Cmd: &icnv1.Command_AddReportSignature{
		AddReportSignature: &icnv1.AddReportSignature{Period: p, ReportHash: b.hash[:], Signer: string(n.DID()), Signature: sig}}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := n.submit(ctx, cmd)
	if err != nil {
		return err
	}
	switch res.GetErrorCode() {
	case "":
		n.metrics.reportSignatures.Inc()
		n.log.Info("signed settlement report", "period", p, "hash", hex.EncodeToString(b.hash[:]), "repeat", res.GetRepeat())
		return nil
	case fsm.CodeReportMismatch:
		n.metrics.reportMismatches.Inc()
		n.log.Error("SETTLEMENT REPORT MISMATCH: this node's report differs from the one the cluster signed; "+
			"its state has diverged and must be rebuilt (remove its data dir and let it resync from a snapshot)",
			"period", p, "hash", hex.EncodeToString(b.hash[:]), "detail", res.GetErrorMessage())
		return errDiverged
	}
	return fmt.Errorf("%s: %s", res.GetErrorCode(), res.GetErrorMessage())
}
