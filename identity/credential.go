package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Signed is a signed object as it travels: the exact payload bytes, the
// signer's DID and the signature over (tag, payload).
type Signed struct {
	Payload   []byte `json:"-"`
	Signer    DID    `json:"-"`
	Signature []byte `json:"-"`
}

type signedJSON struct {
	Payload   string `json:"payload"`
	Signer    DID    `json:"signer"`
	Signature string `json:"signature"`
}

// MarshalJSON encodes binary fields as base64url without padding.
func (s Signed) MarshalJSON() ([]byte, error) {
	return json.Marshal(signedJSON{B64(s.Payload), s.Signer, B64(s.Signature)})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (s *Signed) UnmarshalJSON(b []byte) error {
	var j signedJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	p, err := DecodeB64(j.Payload)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	sig, err := DecodeB64(j.Signature)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	*s = Signed{Payload: p, Signer: j.Signer, Signature: sig}
	return nil
}

// SignPayload signs payload for tag with k.
func SignPayload(k *Key, tag Tag, payload []byte) Signed {
	return Signed{Payload: payload, Signer: k.DID(), Signature: k.Sign(tag, payload)}
}

// Verify checks the signature with the signer's own DID key.
func (s Signed) Verify(tag Tag) error { return VerifyDID(s.Signer, tag, s.Payload, s.Signature) }

// CredentialType is the type of every membership credential.
const CredentialType = "ICNMembershipCredential"

// Credential says that Subject is a member of CoopID with Roles, from IssuedAt
// to ExpiresAt, signed by the co-op's key (Issuer).
type Credential struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Issuer    DID       `json:"issuer"`
	Subject   DID       `json:"subject"`
	CoopID    string    `json:"coop_id"`
	Roles     []string  `json:"roles"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Credential errors.
var (
	ErrCredentialExpired = errors.New("credential expired")
	ErrCredentialCoop    = errors.New("credential is for another co-op")
	ErrCredentialIssuer  = errors.New("credential issuer is not the co-op")
	ErrCredentialInvalid = errors.New("credential malformed")
)

// IssueCredential signs c with the co-op key; c.Issuer and c.Type are set here.
func IssueCredential(coop *Key, c Credential) (Signed, error) {
	c.Issuer = coop.DID()
	c.Type = CredentialType
	if c.ID == "" || c.Subject == "" || c.CoopID == "" || !c.ExpiresAt.After(c.IssuedAt) {
		return Signed{}, fmt.Errorf("issue credential: %w", ErrCredentialInvalid)
	}
	c.IssuedAt, c.ExpiresAt = c.IssuedAt.UTC(), c.ExpiresAt.UTC()
	if c.Roles == nil {
		c.Roles = []string{} // DecodeJSON refuses null
	}
	b, err := json.Marshal(c)
	if err != nil {
		return Signed{}, fmt.Errorf("issue credential: %w", err)
	}
	return SignPayload(coop, TagCredential, b), nil
}

// VerifyCredential checks that s is a credential signed by issuer for coopID,
// valid at now, and returns it.
func VerifyCredential(s Signed, issuer DID, coopID string, now time.Time) (Credential, error) {
	if s.Signer != issuer {
		return Credential{}, ErrCredentialIssuer
	}
	if err := s.Verify(TagCredential); err != nil {
		return Credential{}, err
	}
	var c Credential
	if err := DecodeJSON(s.Payload, &c, "id", "type", "issuer", "subject", "coop_id", "roles", "issued_at", "expires_at"); err != nil || c.Type != CredentialType {
		return Credential{}, ErrCredentialInvalid
	}
	if c.Issuer != issuer {
		return Credential{}, ErrCredentialIssuer
	}
	if c.CoopID != coopID {
		return Credential{}, ErrCredentialCoop
	}
	if !now.Before(c.ExpiresAt) || now.Before(c.IssuedAt.Add(-5*time.Minute)) {
		return Credential{}, ErrCredentialExpired
	}
	return c, nil
}

// HasRole reports whether the credential grants role.
func (c Credential) HasRole(role string) bool { return slices.Contains(c.Roles, role) }
