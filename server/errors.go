package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/internal/eventlog"
)

// This file is the one place where errors become wire responses for the
// webhook endpoints. Reasons shown to callers never contain secrets,
// signatures or payload values; unknown errors become a generic 500 and the
// detail goes to the log only.

// Error codes of webhook error responses (`error.code`).
const (
	codeUnauthenticated      = "unauthenticated"
	codeBadRequest           = "bad_request"
	codeMalformed            = "malformed_payload"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeTooLarge             = "payload_too_large"
	codeUnknownProvider      = "unknown_provider"
	codeUnknownSource        = "unknown_source"
	codeMethodNotAllowed     = "method_not_allowed"
	codeNotFound             = "not_found"
	codeUnavailable          = "store_unavailable"
	codeInternal             = "internal"
)

// errTooLarge is returned when a body exceeds the size cap.
var errTooLarge = errors.New("body exceeds the size limit")

// errIncompleteBody is returned when the body cannot be read to its end.
var errIncompleteBody = errors.New("request body could not be read")

// webhookError is a classified failure of one delivery.
type webhookError struct {
	status int
	code   string
	reason string
}

// classify maps a domain error to its HTTP status, code and public reason.
func classify(err error) webhookError {
	var ae *adapters.Error
	var tooLarge *eventlog.TooLargeError
	reason := ""
	if errors.As(err, &ae) {
		reason = ae.Reason
	}
	switch {
	case errors.Is(err, adapters.ErrUnauthenticated):
		return webhookError{http.StatusUnauthorized, codeUnauthenticated, reason}
	case errors.Is(err, adapters.ErrMalformed):
		return webhookError{http.StatusBadRequest, codeMalformed, reason}
	case errors.Is(err, adapters.ErrUnsupportedMediaType):
		return webhookError{http.StatusUnsupportedMediaType, codeUnsupportedMediaType, reason}
	case errors.Is(err, errTooLarge):
		return webhookError{http.StatusRequestEntityTooLarge, codeTooLarge, err.Error()}
	case errors.As(err, &tooLarge):
		return webhookError{http.StatusRequestEntityTooLarge, codeTooLarge, tooLarge.Error()}
	case errors.Is(err, errIncompleteBody):
		return webhookError{http.StatusBadRequest, codeBadRequest,
			"the request body ended before its declared length, or its chunked encoding is broken"}
	case errors.Is(err, eventlog.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return webhookError{http.StatusServiceUnavailable, codeUnavailable, "the event store is unavailable; retry later"}
	default:
		return webhookError{http.StatusInternalServerError, codeInternal, "internal error"}
	}
}

// errorBody is the JSON body of every webhook error response.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, requestID string, e webhookError) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.RequestID = e.code, e.reason, requestID
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, e.status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// logLevel returns the level a failed delivery is logged at: client errors
// are routine (Info), server errors are not (Error).
func logLevel(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
