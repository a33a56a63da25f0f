package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/trust"
)

// protoJSON prints the response as the operator commands' --output json:
// protojson of the response message, one object, field names as in the
// .proto (snake_case), every field present.
var protoJSON = protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true, EmitUnpopulated: true}

// show prints m as JSON, or calls table to print it for people.
func (c *hubClient) show(w io.Writer, m proto.Message, table func(io.Writer) error) error {
	if c.json {
		b, err := protoJSON.Marshal(m)
		if err != nil {
			return err
		}
		// protojson varies its whitespace on purpose; print it stably.
		var compact, out bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			return err
		}
		if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err = w.Write(out.Bytes())
		return err
	}
	return table(w)
}

// printTable prints a header and rows aligned in columns.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fmtTime prints a unix-nanosecond time in UTC, or "-" for none.
func fmtTime(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}

// enumWord turns PARTICIPANT_STATUS_ACTIVE into "active".
func enumWord(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

func kindWord(k icnv1.ParticipantKind) string { return enumWord(k.String(), "PARTICIPANT_KIND_") }

func statusWord(s icnv1.ParticipantStatus) string { return enumWord(s.String(), "PARTICIPANT_STATUS_") }

// classOfWeight names the trust class of a decimal weight the hub sent.
func classOfWeight(w string) string {
	v, err := trust.ParseWeight(w)
	if err != nil {
		return "?"
	}
	return trust.ClassOf(v).String()
}

func participantRows(p *icnv1.Participant) [][2]string {
	rows := [][2]string{
		{"did", p.GetDid()}, {"name", p.GetName()}, {"kind", kindWord(p.GetKind())},
		{"status", statusWord(p.GetStatus())},
	}
	if p.GetStatusReason() != "" {
		rows = append(rows, [2]string{"reason", p.GetStatusReason()})
	}
	return append(rows, [2]string{"registered", fmtTime(p.GetRegisteredAtUnixNano())},
		[2]string{"updated", fmtTime(p.GetUpdatedAtUnixNano())})
}

func printParticipant(w io.Writer, p *icnv1.Participant) error { return kv(w, participantRows(p)...) }

func printTrustEdge(w io.Writer, e *icnv1.TrustEdge) error {
	return kv(w, [2]string{"from", e.GetFrom()}, [2]string{"to", e.GetTo()}, [2]string{"weight", e.GetWeight()},
		[2]string{"class", classOfWeight(e.GetWeight())}, [2]string{"issued", fmtTime(e.GetIssuedAtUnixNano())})
}

func printCreditPolicy(w io.Writer, p *icnv1.CreditPolicy) error {
	return kv(w, [2]string{"did", p.GetDid()}, [2]string{"currency", p.GetCurrency()},
		[2]string{"debit cap", p.GetDebitCap()}, [2]string{"effective cap", p.GetEffectiveCap()},
		[2]string{"trust class", p.GetTrustClass()}, [2]string{"net", p.GetNet()}, [2]string{"sent", p.GetSent()},
		[2]string{"received", p.GetReceived()}, [2]string{"reserved", p.GetReserved()})
}

func printClusterStatus(w io.Writer, st *icnv1.ClusterStatus) error {
	leader := st.GetLeaderDid()
	if leader == "" {
		leader = "(none: election in progress)"
	}
	if err := kv(w, [2]string{"node", st.GetNodeDid()}, [2]string{"state", st.GetState()}, [2]string{"leader", leader},
		[2]string{"term", fmt.Sprint(st.GetTerm())}, [2]string{"commit index", fmt.Sprint(st.GetCommitIndex())},
		[2]string{"applied index", fmt.Sprint(st.GetAppliedIndex())},
		[2]string{"last snapshot", fmt.Sprint(st.GetLastSnapshotIndex())}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(st.GetNodes()))
	for _, n := range st.GetNodes() {
		mark := ""
		if n.GetLeader() {
			mark = "*"
		}
		rows = append(rows, []string{identity.DID(n.GetDid()).Short(), orDash(n.GetRaftAddress()), orDash(n.GetGrpcAddress()),
			n.GetSuffrage(), mark})
	}
	return printTable(w, []string{"NODE", "RAFT", "GRPC", "SUFFRAGE", "LEADER"}, rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
