package client

import (
	"encoding/json"
	"time"

	"github.com/icn-coop/icn/identity"
)

// Payment statuses (PaymentResult.Status, HistoryEntry.Status).
const (
	StatusCommitted = "committed"
	StatusPending   = "pending"
	StatusRejected  = "rejected"
)

// Roles a session may hold.
const (
	RoleMember    = "member"
	RoleModerator = "moderator"
	RoleTreasurer = "treasurer"
)

// PaymentIntent is the JSON a payer signs (API.md "Payments and balances").
// Amount is a decimal string ("2.50"); times are RFC 3339 UTC (see FormatTime).
type PaymentIntent struct {
	ID        string       `json:"id"`
	From      identity.DID `json:"from"`
	To        identity.DID `json:"to"`
	ToCoop    string       `json:"to_coop"`
	Amount    string       `json:"amount"`
	Currency  string       `json:"currency"`
	Memo      string       `json:"memo"`
	CreatedAt string       `json:"created_at"`
	ExpiresAt string       `json:"expires_at"`
}

// PaymentRequest is the body of POST /ledger/{coop}/payment.
type PaymentRequest struct {
	Intent    string `json:"intent"`    // base64url (no padding) of the intent JSON bytes
	Signature string `json:"signature"` // base64url (no padding) of the Ed25519 signature
}

// PaymentResult is the outcome of a payment (POST /ledger/{coop}/payment,
// GET /payments/{coop}/{id}).
type PaymentResult struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	EntryHash string `json:"entry_hash,omitempty"`
}

// Balance is GET /ledger/{coop}/balance/{did}. Amounts are decimal strings.
type Balance struct {
	DID         identity.DID `json:"did"`
	Currency    string       `json:"currency"`
	Balance     string       `json:"balance"`
	Available   string       `json:"available"`
	CreditLimit string       `json:"credit_limit"`
}

// History is one page of GET /ledger/{coop}/history/{did}; Next is the
// cursor for the following (older) page, "" at the end.
type History struct {
	Entries []HistoryEntry `json:"entries"`
	Next    string         `json:"next"`
}

// HistoryEntry is one payment in a member's history.
type HistoryEntry struct {
	ID        string       `json:"id"`
	From      identity.DID `json:"from"`
	To        identity.DID `json:"to"`
	FromCoop  string       `json:"from_coop"`
	ToCoop    string       `json:"to_coop"`
	Amount    string       `json:"amount"`
	Currency  string       `json:"currency"`
	Memo      string       `json:"memo"`
	Status    string       `json:"status"`
	CreatedAt string       `json:"created_at"`
	EntryHash string       `json:"entry_hash"`
}

// Event is one message of the event feed (GET /ws/{coop}).
type Event struct {
	Seq     uint64          `json:"seq"`
	Type    string          `json:"type"`
	At      string          `json:"at"`
	Payload json.RawMessage `json:"payload"`
}

// Event types named by API.md; the feed may carry others.
const (
	EventPayment          = "Payment"
	EventPaymentRejected  = "PaymentRejected"
	EventMemberJoined     = "MemberJoined"
	EventMemberRevoked    = "MemberRevoked"
	EventSettlementReport = "SettlementReport"
)

// Invite is the answer to POST /membership/{coop}/invites: a single-use
// code for one newcomer's application.
type Invite struct {
	Code      string `json:"code"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// Application is the membership application JSON an applicant signs.
type Application struct {
	DID        identity.DID `json:"did"`
	InviteCode string       `json:"invite_code"`
	Name       string       `json:"name"`
	Email      string       `json:"email"`
}

// ApplicationRequest is the body of POST /membership/{coop}/applications.
type ApplicationRequest struct {
	Application string `json:"application"` // base64url (no padding) of the application JSON bytes
	Signature   string `json:"signature"`
}

// ApplicationResult is the answer to an application: {"id", "status": "pending"}.
type ApplicationResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// Approval is the answer to approving an application. Credential is the
// signed membership credential as the gateway sends it.
type Approval struct {
	Credential json.RawMessage `json:"credential"`
}

// Member is GET /membership/{coop}/members/{did}.
type Member struct {
	DID        identity.DID    `json:"did"`
	Roles      []string        `json:"roles"`
	Status     string          `json:"status"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

// Directory is one page of GET /membership/{coop}/members; Next is the
// cursor for the following page, "" at the end.
type Directory struct {
	Members []DirectoryEntry `json:"members"`
	Next    string           `json:"next"`
}

// DirectoryEntry is one member in the directory: a DID and its name.
type DirectoryEntry struct {
	DID  identity.DID `json:"did"`
	Name string       `json:"name"`
}

// Device is one key of a DID (GET /devices/{did}). PublicKey is base64url.
type Device struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	PublicKey string `json:"public_key"`
	Status    string `json:"status"` // active, retiring or revoked
	AddedAt   string `json:"added_at,omitempty"`
	RetiresAt string `json:"retires_at,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

// Challenge is the answer to POST /auth/challenge.
type Challenge struct {
	Nonce     string `json:"nonce"` // base64url (no padding), single use
	ExpiresAt string `json:"expires_at"`
}

// ChallengeRequest is the body of POST /auth/challenge.
type ChallengeRequest struct {
	DID identity.DID `json:"did"`
}

// VerifyRequest is the body of POST /auth/verify.
type VerifyRequest struct {
	DID       identity.DID `json:"did"`
	Nonce     string       `json:"nonce"`
	Signature string       `json:"signature"`
	CoopID    string       `json:"coop_id"`
}

// RefreshRequest is the body of POST /auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// TokenResponse is the answer to POST /auth/verify and POST /auth/refresh.
type TokenResponse struct {
	Token        string   `json:"token"`
	ExpiresIn    int64    `json:"expires_in"` // seconds
	RefreshToken string   `json:"refresh_token"`
	Roles        []string `json:"roles"`
}

// FormatTime formats t as the API's RFC 3339 UTC string (second precision).
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Readiness is GET /readyz: the node's state and its link to the hub
// cluster. Status is "ready", or "degraded" while a configured hub link is
// not connected (the node still serves its members). Hub is the link's
// state: none (no hub configured), connecting, connected, disconnected or
// refused (the hub refused the node's key: not a registered participant).
type Readiness struct {
	Status         string `json:"status"`
	Coop           string `json:"coop"`
	LedgerSeq      uint64 `json:"ledger_seq"`
	LedgerHead     string `json:"ledger_head"`
	OpenTransfers  int    `json:"open_transfers"`
	Hub            string `json:"hub"`
	HubNode        string `json:"hub_node,omitempty"`
	HubAddr        string `json:"hub_addr,omitempty"`
	Leader         string `json:"leader,omitempty"`
	Registered     *bool  `json:"registered,omitempty"`
	HubSince       string `json:"hub_since,omitempty"`
	FailedAttempts int    `json:"failed_attempts,omitempty"`
	LastError      string `json:"last_error,omitempty"`
}
