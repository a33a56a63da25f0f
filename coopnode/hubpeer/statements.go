package hubpeer

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/store"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// EventSettlementReport is the co-op feed event of a new statement.
const EventSettlementReport = "SettlementReport"

// bktStatements holds the co-op's settlement statements, by period, in the
// ledger's file (so they share its backups and its durability).
var bktStatements = []byte("settlement_statements")

// Statement is the co-op's part of one closed period's settlement report,
// as the hub's signed report gives it; the gateway serves it to treasurers.
type Statement struct {
	Period       uint64                 `json:"period"`
	State        string                 `json:"state"` // final or settled
	OpenedAt     string                 `json:"opened_at"`
	ClosedAt     string                 `json:"closed_at"`
	Deadline     string                 `json:"deadline,omitempty"`
	ReportHash   string                 `json:"report_hash"` // hex SHA-256 of the canonical report
	MerkleRoot   string                 `json:"merkle_root"`
	Signatures   int                    `json:"signatures"`
	Quorum       int                    `json:"quorum"`
	Figures      []StatementFigures     `json:"figures"`
	Instructions []StatementInstruction `json:"instructions"`
}

// StatementFigures are the co-op's gross and net figures in one currency.
type StatementFigures struct {
	Currency      string `json:"currency"`
	Sent          string `json:"sent"`
	Received      string `json:"received"`
	Net           string `json:"net"`
	SentCount     int    `json:"sent_count"`
	ReceivedCount int    `json:"received_count"`
}

// StatementInstruction is an instruction the co-op pays or receives.
type StatementInstruction struct {
	Index     int    `json:"index"`
	Currency  string `json:"currency"`
	From      string `json:"from"`
	To        string `json:"to"`
	Amount    string `json:"amount"`
	Paid      bool   `json:"paid"`
	Confirmed bool   `json:"confirmed"`
	Overdue   bool   `json:"overdue"`
	Method    string `json:"method,omitempty"`
	Reference string `json:"reference,omitempty"`
}

func rfc3339(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}

func statementFrom(s *icnv1.Statement) Statement {
	st := Statement{Period: s.GetPeriod(), State: s.GetState(), OpenedAt: rfc3339(s.GetOpenedAtUnixNano()),
		ClosedAt: rfc3339(s.GetClosedAtUnixNano()), Deadline: rfc3339(s.GetDeadlineUnixNano()),
		ReportHash: hex.EncodeToString(s.GetReportHash()), MerkleRoot: hex.EncodeToString(s.GetMerkleRoot()),
		Signatures: int(s.GetSignatures()), Quorum: int(s.GetQuorum()),
		Figures: []StatementFigures{}, Instructions: []StatementInstruction{}}
	for _, f := range s.GetFigures() {
		st.Figures = append(st.Figures, StatementFigures{Currency: f.GetCurrency(), Sent: f.GetSent(), Received: f.GetReceived(),
			Net: f.GetNet(), SentCount: int(f.GetSentCount()), ReceivedCount: int(f.GetReceivedCount())})
	}
	for _, in := range s.GetInstructions() {
		st.Instructions = append(st.Instructions, StatementInstruction{Index: int(in.GetIndex()), Currency: in.GetCurrency(),
			From: in.GetFrom(), To: in.GetTo(), Amount: in.GetAmount(), Paid: in.GetPaid(), Confirmed: in.GetConfirmed(),
			Overdue: in.GetOverdue(), Method: in.GetMethod(), Reference: in.GetReference()})
	}
	return st
}

func periodKey(p uint64) []byte { return binary.BigEndian.AppendUint64(nil, p) }

// Statements returns the stored statements, oldest period first.
func (c *Client) Statements() ([]Statement, error) { return ReadStatements(c.cfg.Ledger) }

// ReadStatements returns the statements stored in l, oldest period first
// (on any node of a replicated co-op, the hub peer running or not).
func ReadStatements(l *ledger.Store) ([]Statement, error) {
	var out []Statement
	err := l.State().View(func(tx *store.View) error {
		b := tx.Bucket(bktStatements)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var s Statement
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}

// ErrNoStatement: no statement for that period (yet).
var ErrNoStatement = errors.New("no settlement statement for that period")

// Statement returns the statement of period p.
func (c *Client) Statement(p uint64) (Statement, error) { return ReadStatement(c.cfg.Ledger, p) }

// ReadStatement returns the statement of period p stored in l.
func ReadStatement(l *ledger.Store, p uint64) (Statement, error) {
	var s Statement
	err := l.State().View(func(tx *store.View) error {
		var v []byte
		if b := tx.Bucket(bktStatements); b != nil {
			v = b.Get(periodKey(p))
		}
		if v == nil {
			return fmt.Errorf("period %d: %w", p, ErrNoStatement)
		}
		return json.Unmarshal(v, &s)
	})
	return s, err
}

// settledUpTo is the last period up to which every stored statement is
// settled: later ones may still change (payments confirmed).
func (c *Client) settledUpTo() (uint64, error) {
	sts, err := c.Statements()
	if err != nil {
		return 0, err
	}
	var upTo uint64
	for _, s := range sts {
		if s.State != "settled" {
			break
		}
		upTo = s.Period
	}
	return upTo, nil
}

// SyncStatements fetches the statements of periods not yet settled here,
// stores new and changed ones, and appends a SettlementReport event to the
// co-op feed for each period seen for the first time.
func (c *Client) SyncStatements(ctx context.Context) error {
	after, err := c.settledUpTo()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.call(ctx, &icnv1.Envelope{Body: &icnv1.Envelope_StatementQuery{StatementQuery: &icnv1.StatementQuery{AfterPeriod: after}}})
	if err != nil {
		return err
	}
	if e := resp.GetError(); e != nil {
		return fmt.Errorf("statements: %s: %s", e.GetCode(), e.GetMessage())
	}
	for _, s := range resp.GetStatements().GetStatements() {
		st := statementFrom(s)
		v, err := json.Marshal(st)
		if err != nil {
			return err
		}
		_, err = c.cfg.Ledger.State().Submit(ctx, &icnv1.CoopCommand{AtUnixNano: c.cfg.Clock().UnixNano(),
			Kind: &icnv1.CoopCommand_PutStatement{PutStatement: &icnv1.PutStatement{Period: st.Period, StatementJson: v}}})
		if err != nil {
			return fmt.Errorf("store statement %d: %w", st.Period, err)
		}
	}
	return nil
}

// RegisterHandlers registers the hub peer's commands with l's state. Start
// does it; a replicated node, which starts the hub peer on its leader only,
// calls it at open so that every node applies them.
func RegisterHandlers(l *ledger.Store) {
	l.State().Handle((*icnv1.CoopCommand_PutStatement)(nil), func(stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
		return applyPutStatement(l, stx, cmd)
	})
}

// applyPutStatement stores a period's statement if it changed, with a
// SettlementReport event the first time the period is seen.
func applyPutStatement(l *ledger.Store, stx *store.Tx, cmd *icnv1.CoopCommand) (any, error) {
	p := cmd.GetPutStatement()
	b, err := stx.CreateBucketIfNotExists(bktStatements)
	if err != nil {
		return nil, err
	}
	old := b.Get(periodKey(p.Period))
	if string(old) == string(p.StatementJson) {
		return nil, nil
	}
	if err := b.Put(periodKey(p.Period), p.StatementJson); err != nil {
		return nil, err
	}
	if old != nil {
		return nil, nil
	}
	return nil, l.Tx(stx).AppendEvent(ledger.EventSpec{Type: EventSettlementReport, Payload: json.RawMessage(p.StatementJson)})
}
