package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/coopnode/membership"
	"github.com/icn-coop/icn/identity"
	"github.com/icn-coop/icn/money"
	"github.com/icn-coop/icn/payment"
)

// apiError is an error with its HTTP status and wire code.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps an error from any layer to its wire form. Unknown errors
// are 500s whose message hides the internals.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	// Before identity's and money's codes: a governance error wraps the
	// identity or money error that caused it, and its own code is the one
	// docs/governance.md gives.
	if ae := govError(err); ae != nil {
		return ae
	}
	if ae := vouchError(err); ae != nil {
		return ae
	}
	var pe *payment.Error
	if errors.As(err, &pe) {
		return errf(http.StatusBadRequest, pe.Code, "%s", pe.Error())
	}
	var me *money.Error
	if errors.As(err, &me) {
		return errf(http.StatusBadRequest, me.ErrorCode(), "%s", me.Error())
	}
	if code := identity.Code(err); code != "" {
		status := http.StatusBadRequest
		if code == "invalid_signature" {
			status = http.StatusUnauthorized
		}
		return errf(status, code, "%s", err.Error())
	}
	switch {
	case errors.Is(err, ledger.ErrModifiedRequest):
		return errf(http.StatusConflict, "modified_request", "this payment id was already used for a different payment; choose a new id")
	case errors.Is(err, ledger.ErrNotFound):
		return errf(http.StatusNotFound, "not_found", "no such payment")
	case errors.Is(err, ledger.ErrInvalid):
		return errf(http.StatusBadRequest, "invalid_request", "%s", err.Error())
	}
	if status, code := membership.Code(err); code != "" {
		return errf(status, code, "%s", err.Error())
	}
	return errf(http.StatusInternalServerError, "internal", "internal error; see the node's log")
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, ae *apiError) {
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
	}
	var body errorBody
	body.Error.Code, body.Error.Message = ae.Code, ae.Message
	writeJSON(w, ae.Status, body)
}
