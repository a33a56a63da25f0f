package membership

import (
	"context"
	"errors"
	"net/http"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
)

// Errors returned by this package, wrapped with context; test with errors.Is
// and map to the wire with Code.
var (
	ErrNotMember         = errors.New("not a member of this co-op")
	ErrRevoked           = errors.New("membership credential revoked")
	ErrCredentialExpired = errors.New("membership credential expired")
	// ErrCredentialInvalid: the stored credential did not verify against the
	// co-op key when the store was loaded (a foreign or tampered file, or a
	// changed co-op key). Such a member is refused until re-issued.
	ErrCredentialInvalid = errors.New("membership credential does not verify")
	ErrBadInvite         = errors.New("invite code unknown, used or expired")
	ErrBadRequest        = errors.New("invalid request")
	ErrReplay            = errors.New("request already accepted once")
	ErrExpired           = errors.New("request time too far from the node's clock")
	ErrConflict          = errors.New("conflicts with an existing record")
	ErrNotFound          = errors.New("not found")
	ErrLastDevice        = errors.New("would leave no active device to log in with")
	ErrForbidden         = errors.New("forbidden")
	ErrAlreadyMember     = errors.New("already an active member")
	ErrNotPending        = errors.New("application is not pending")
	ErrNoDevice          = errors.New("no such device")
	// ErrDeviceInactive: the device named as signer is retiring or revoked.
	ErrDeviceInactive = errors.New("signing device is not active")
	// ErrNoSuchMember: a role change names a DID that is not a member in
	// good standing (404, unlike ErrNotMember, which is about the caller).
	ErrNoSuchMember = errors.New("no such member")
	// ErrMemberRole: the member role is not granted or revoked: a member
	// joins by application and leaves by removal.
	ErrMemberRole  = errors.New("the member role cannot be granted or revoked")
	ErrUnknownRole = errors.New("unknown role")
	// ErrLastModerator: revoking the co-op's last moderator.
	ErrLastModerator = errors.New("the co-op's last moderator")
	// ErrBadSignature is identity.ErrBadSignature: a signature that does not
	// verify, or a signer (signed_by) that names no device of the DID.
	ErrBadSignature = identity.ErrBadSignature
)

// Code maps an error of this package (or an identity error it wraps) to an
// HTTP status and wire code. It returns (500, "") for an error it does not
// know and (200, "") for nil.
//
//	ErrNotMember            403 not_member
//	ErrRevoked              403 credential_revoked
//	ErrCredentialExpired    403 credential_expired
//	ErrCredentialInvalid    403 credential_invalid
//	ErrForbidden            403 forbidden
//	ErrDeviceInactive       403 device_not_active
//	ErrBadInvite            400 invalid_invite
//	ErrExpired              400 request_expired
//	ErrBadRequest           400 invalid_request
//	identity DID errors     400 invalid_did
//	refused device key      400 invalid_public_key
//	identity.ErrEncoding    400 invalid_encoding
//	bad signature           401 invalid_signature
//	ErrNotFound             404 not_found
//	ErrNoDevice             404 device_not_found
//	ErrReplay               409 replayed_request
//	ErrConflict             409 conflict
//	ErrAlreadyMember        409 already_member
//	ErrNotPending           409 not_pending
//	ErrLastDevice           409 last_device
//	ErrNoSuchMember         404 member_not_found
//	ErrMemberRole           400 member_role
//	ErrUnknownRole          400 unknown_role
//	ErrLastModerator        409 last_moderator
//	ledger.ErrClosed, context errors  503 unavailable
func Code(err error) (status int, code string) {
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, ErrNoSuchMember):
		return http.StatusNotFound, "member_not_found"
	case errors.Is(err, ErrMemberRole):
		return http.StatusBadRequest, "member_role"
	case errors.Is(err, ErrUnknownRole):
		return http.StatusBadRequest, "unknown_role"
	case errors.Is(err, ErrLastModerator):
		return http.StatusConflict, "last_moderator"
	case errors.Is(err, ErrNotMember):
		return http.StatusForbidden, "not_member"
	case errors.Is(err, ErrRevoked):
		return http.StatusForbidden, "credential_revoked"
	case errors.Is(err, ErrCredentialExpired):
		return http.StatusForbidden, "credential_expired"
	case errors.Is(err, ErrCredentialInvalid):
		return http.StatusForbidden, "credential_invalid"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrDeviceInactive):
		return http.StatusForbidden, "device_not_active"
	case errors.Is(err, ErrBadInvite):
		return http.StatusBadRequest, "invalid_invite"
	case errors.Is(err, ErrExpired):
		return http.StatusBadRequest, "request_expired"
	case errors.Is(err, ErrReplay):
		return http.StatusConflict, "replayed_request"
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrAlreadyMember):
		return http.StatusConflict, "already_member"
	case errors.Is(err, ErrNotPending):
		return http.StatusConflict, "not_pending"
	case errors.Is(err, ErrLastDevice):
		return http.StatusConflict, "last_device"
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrNoDevice):
		return http.StatusNotFound, "device_not_found"
	case errors.Is(err, ledger.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "unavailable"
	}
	if c := identity.Code(err); c != "" {
		if c == "invalid_signature" {
			return http.StatusUnauthorized, c
		}
		return http.StatusBadRequest, c
	}
	if errors.Is(err, ErrBadRequest) {
		return http.StatusBadRequest, "invalid_request"
	}
	return http.StatusInternalServerError, ""
}
