package routing

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/payment"
	"github.com/icn-coop/icn/proto/icnv1"
)

// Receipt errors.
var (
	// ErrReceipt: a receipt that does not decode, or answers another
	// transfer or intent.
	ErrReceipt = errors.New("routing: bad receipt")
	// ErrReceiptSigner: a receipt signed by someone other than the co-op
	// that had to answer.
	ErrReceiptSigner = errors.New("routing: receipt signed by the wrong node")
)

// SignReceipt encodes r deterministically and signs it with key.
func SignReceipt(key *identity.Key, r *icnv1.TransferReceipt) (*icnv1.SignedMessage, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("sign receipt %s: %w", r.GetTransferId(), err)
	}
	return &icnv1.SignedMessage{Payload: b, Signer: string(key.DID()), Signature: key.Sign(identity.TagTransferReceipt, b)}, nil
}

// VerifyReceipt checks that sm is a receipt signed by coop for transfer id
// and the intent with hash intentHash, and returns it.
func VerifyReceipt(sm *icnv1.SignedMessage, coop identity.DID, id string, intentHash [32]byte) (*icnv1.TransferReceipt, error) {
	if sm == nil {
		return nil, fmt.Errorf("%w: missing", ErrReceipt)
	}
	if identity.DID(sm.GetSigner()) != coop {
		return nil, fmt.Errorf("%w: signed by %.80s, want %s", ErrReceiptSigner, sm.GetSigner(), coop)
	}
	if err := identity.VerifyDID(coop, identity.TagTransferReceipt, sm.GetPayload(), sm.GetSignature()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReceiptSigner, err)
	}
	r := &icnv1.TransferReceipt{}
	if err := proto.Unmarshal(sm.GetPayload(), r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	if r.GetTransferId() != id || !bytes.Equal(r.GetIntentHash(), intentHash[:]) || identity.DID(r.GetCoop()) != coop {
		return nil, fmt.Errorf("%w: it answers transfer %.80q of %.80s", ErrReceipt, r.GetTransferId(), r.GetCoop())
	}
	return r, nil
}

// Answer is the signed reply of the node of key to a prepare: an accept
// when reason is empty, else a reject with reason, both carrying a receipt
// bound to the transfer and its intent.
func Answer(key *identity.Key, p *icnv1.TransferPrepare, reason string) (*icnv1.Envelope, error) {
	h := payment.Hash(p.GetIntent().GetPayload())
	r, err := SignReceipt(key, &icnv1.TransferReceipt{TransferId: p.GetTransferId(), IntentHash: h[:],
		Accept: reason == "", Reason: reason, Coop: string(key.DID())})
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return &icnv1.Envelope{Body: &icnv1.Envelope_Reject{Reject: &icnv1.TransferReject{TransferId: p.GetTransferId(), Reason: reason, Receipt: r}}}, nil
	}
	return &icnv1.Envelope{Body: &icnv1.Envelope_Accept{Accept: &icnv1.TransferAccept{TransferId: p.GetTransferId(), Receipt: r}}}, nil
}
