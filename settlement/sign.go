package settlement

import (
	"encoding/json"
	"fmt"

	"github.com/icn-coop/icn/identity"
)

// Signature is a hub node's signature over a report: Ed25519 by Signer's key
// over identity.SigningInput(identity.TagReport, hash), where hash is the
// 32-byte Report.Hash.
type Signature struct {
	Signer identity.DID
	Sig    []byte
}

// Sign signs the report's hash with a hub node's key.
func (r Report) Sign(k *identity.Key) Signature {
	h := r.Hash()
	return Signature{Signer: k.DID(), Sig: k.Sign(identity.TagReport, h[:])}
}

// VerifySignature checks one signature over the report; the error is
// identity's (wrapping identity.ErrBadSignature, ErrSigLength or an invalid
// DID error).
func (r Report) VerifySignature(s Signature) error {
	h := r.Hash()
	return verifyHash(h, s)
}

func verifyHash(h [32]byte, s Signature) error {
	return identity.VerifyDID(s.Signer, identity.TagReport, h[:], s.Sig)
}

// VerifySignatures checks sigs over the report against the hub nodes listed
// in nodes. valid holds, in the order of nodes, each listed node with at
// least one valid signature among sigs; signatures by unlisted signers,
// repeats and signatures that do not verify are ignored (VerifySignature
// says why one fails). final is true once at least quorum distinct listed
// nodes signed validly. err (wrapping ErrInvalidArgument) is only for a
// malformed or repeated node DID, or a quorum outside 1..len(nodes).
func VerifySignatures(r Report, sigs []Signature, nodes []identity.DID, quorum int) (valid []identity.DID, final bool, err error) {
	listed := make(map[identity.DID]bool, len(nodes))
	for _, n := range nodes {
		if _, _, err := identity.ParseDID(string(n)); err != nil {
			return nil, false, fmt.Errorf("%w: node: %w", ErrInvalidArgument, err)
		}
		if _, dup := listed[n]; dup {
			return nil, false, fmt.Errorf("%w: node %s listed twice", ErrInvalidArgument, n)
		}
		listed[n] = false
	}
	if quorum < 1 || quorum > len(nodes) {
		return nil, false, fmt.Errorf("%w: quorum %d of %d nodes", ErrInvalidArgument, quorum, len(nodes))
	}
	h := r.Hash()
	for _, s := range sigs {
		if ok, isNode := listed[s.Signer]; !isNode || ok {
			continue
		}
		if verifyHash(h, s) == nil {
			listed[s.Signer] = true
		}
	}
	valid = make([]identity.DID, 0, len(nodes))
	for _, n := range nodes {
		if listed[n] {
			valid = append(valid, n)
		}
	}
	return valid, len(valid) >= quorum, nil
}

type signatureJSON struct {
	Signer identity.DID `json:"signer"`
	Sig    string       `json:"sig"`
}

// MarshalJSON writes {"signer":"did:icn:…","sig":"<base64url, no padding>"}.
func (s Signature) MarshalJSON() ([]byte, error) {
	return json.Marshal(signatureJSON{Signer: s.Signer, Sig: identity.B64(s.Sig)})
}

// UnmarshalJSON reads the form MarshalJSON writes (strict base64url).
func (s *Signature) UnmarshalJSON(b []byte) error {
	var j signatureJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("settlement: signature: %w", err)
	}
	sig, err := identity.DecodeB64(j.Sig)
	if err != nil {
		return fmt.Errorf("settlement: signature: %w", err)
	}
	*s = Signature{Signer: j.Signer, Sig: sig}
	return nil
}
