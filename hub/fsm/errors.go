package fsm

import (
	"fmt"
)

// Stable error codes of command results. They map to gRPC status codes in
// the control plane (see grpcCode).
const (
	CodeInvalidArgument    = "invalid_argument"
	CodeUnknownParticipant = "unknown_participant"
	CodeAlreadyExists      = "already_exists"
	CodeNotInitialized     = "federation_not_initialized"
	CodeStale              = "stale_attestation"
	CodeUnknownCurrency    = "unknown_currency"
	CodePeriod             = "period_mismatch"
	// Settlement.
	CodeUnknownPeriod      = "unknown_period"
	CodeUnknownInstruction = "unknown_instruction"
	CodeNotHubNode         = "not_hub_node"
	CodeBadSignature       = "bad_signature"
	CodeReportMismatch     = "report_mismatch"
	CodeNotFinal           = "report_not_final"
	CodeNotPaid            = "not_paid"
	CodeWrongSigner        = "wrong_signer"
)

// CommandError is a command the state machine refused.
type CommandError struct {
	Code    string
	Message string
}

func (e *CommandError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

func refuse(code, format string, args ...any) *CommandError {
	return &CommandError{Code: code, Message: fmt.Sprintf(format, args...)}
}
