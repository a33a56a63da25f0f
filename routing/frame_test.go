package routing_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/proto/icnv1"
	"github.com/icn-coop/icn/routing"
)

func prepareEnvelope(id string, hop uint32) *icnv1.Envelope {
	return &icnv1.Envelope{Body: &icnv1.Envelope_Prepare{Prepare: &icnv1.TransferPrepare{
		TransferId: id,
		Intent: &icnv1.SignedMessage{
			Payload:   []byte(`{"id":"` + id + `","amount":"12.50"}`),
			Signer:    "did:icn:11111111111111111111111111111111",
			Signature: bytes.Repeat([]byte{7}, 64),
		},
		FromCoop: "did:icn:A", ToCoop: "did:icn:B", Currency: "hours",
		AmountUnits: 1250, ExpiresAtUnixNano: 1_700_000_000_000_000_000, Hop: hop,
	}}}
}

func ping(nonce uint64) *icnv1.Envelope {
	return &icnv1.Envelope{Body: &icnv1.Envelope_Ping{Ping: &icnv1.Ping{Nonce: nonce}}}
}

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	msgs := []*icnv1.Envelope{
		prepareEnvelope("01J0000000000000000000000A", 0),
		ping(42),
		{}, // an empty envelope is a zero-length frame
		{Body: &icnv1.Envelope_OutcomeQuery{OutcomeQuery: &icnv1.OutcomeQuery{TransferIds: []string{"a", "b"}}}},
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := routing.WriteMsg(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		var got icnv1.Envelope
		if err := routing.ReadMsg(&buf, &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(&got, want) {
			t.Fatalf("message %d: got %v, want %v", i, &got, want)
		}
	}
	var extra icnv1.Envelope
	if err := routing.ReadMsg(&buf, &extra); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	t.Parallel()
	big := &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Message: strings.Repeat("x", 2000)}}}
	frame := func(m proto.Message) []byte {
		var b bytes.Buffer
		if err := routing.WriteMsg(&b, m); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	good := frame(ping(1))

	t.Run("write over the limit", func(t *testing.T) {
		var b bytes.Buffer
		err := routing.WriteMsgMax(&b, big, 1024)
		if !errors.Is(err, routing.ErrFrameTooLarge) {
			t.Fatalf("got %v, want ErrFrameTooLarge", err)
		}
		if b.Len() != 0 {
			t.Fatalf("wrote %d bytes of a refused frame", b.Len())
		}
	})
	for _, tc := range []struct {
		name  string
		in    []byte
		limit int
		want  error
	}{
		{"declared over the limit", frame(big), 1024, routing.ErrFrameTooLarge},
		{"declared over the default limit", header(routing.DefaultMaxFrameSize + 1), 0, routing.ErrFrameTooLarge},
		{"declared 4 GiB", header(0xffffffff), 0, routing.ErrFrameTooLarge},
		{"truncated length", []byte{0, 0}, 0, routing.ErrTruncated},
		{"truncated body", good[:len(good)-1], 0, routing.ErrTruncated},
		{"truncated large body", append(header(100_000), make([]byte, 70_000)...), 0, routing.ErrTruncated},
		{"length without body", header(10), 0, routing.ErrTruncated},
		{"malformed body", append(header(3), 0xff, 0xff, 0xff), 0, routing.ErrMalformed},
		{"invalid utf-8 string", append(header(5), 0x52, 0x03, 0x0a, 0x01, 0x80), 0, routing.ErrMalformed},
		{"empty", nil, 0, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m icnv1.Envelope
			err := routing.ReadMsgMax(bytes.NewReader(tc.in), &m, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == routing.ErrTruncated && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%v does not wrap io.ErrUnexpectedEOF", err)
			}
		})
	}
	t.Run("a large body that arrives in full", func(t *testing.T) {
		m := &icnv1.Envelope{Body: &icnv1.Envelope_Error{Error: &icnv1.ErrorReply{Message: strings.Repeat("y", 200_000)}}}
		var got icnv1.Envelope
		if err := routing.ReadMsg(bytes.NewReader(frame(m)), &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, m) {
			t.Fatal("large message changed in transit")
		}
	})
}

func TestMessageType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    proto.Message
		want string
	}{
		{prepareEnvelope("x", 1), "prepare"},
		{ping(1), "ping"},
		{&icnv1.Envelope{}, "empty"},
		{&icnv1.Ping{}, "Ping"},
	} {
		if got := routing.MessageType(tc.m); got != tc.want {
			t.Errorf("MessageType(%v) = %q, want %q", tc.m, got, tc.want)
		}
	}
	// A body this version does not know (field 99) is counted as unknown.
	var env icnv1.Envelope
	if err := proto.Unmarshal([]byte{0x9a, 0x06, 0x00}, &env); err != nil {
		t.Fatal(err)
	}
	if got := routing.MessageType(&env); got != "unknown" {
		t.Errorf("MessageType(unknown body) = %q", got)
	}
}
