package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"github.com/hookline/hookline/internal/pipeline"
	"github.com/hookline/hookline/internal/subscription"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// This file is the one place where errors become wire responses: the HTTP
// status and body of webhooks, REST and SSE, and the gRPC status with its
// google.rpc.ErrorInfo. Every surface speaks the same vocabulary: an
// ErrorInfo reason (`CURSOR_EXPIRED`) is the upper-case form of the
// `error.code` of an HTTP body (`cursor_expired`). Messages shown to
// callers never contain secrets, signatures or payload values; unknown
// errors become a generic internal error and the detail goes to the log
// only.

// ErrorDomain is the ErrorInfo domain of every error the API returns.
const ErrorDomain = "hookline.dev"

// ErrorInfo reasons; the `error.code` of an HTTP error body is the same in
// lower case.
const (
	ReasonUnauthenticated      = "UNAUTHENTICATED"
	ReasonMalformedPayload     = "MALFORMED_PAYLOAD"
	ReasonBadRequest           = "BAD_REQUEST"
	ReasonUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	ReasonPayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	ReasonUnknownProvider      = "UNKNOWN_PROVIDER"
	ReasonUnknownSource        = "UNKNOWN_SOURCE"
	ReasonMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	ReasonNotFound             = "NOT_FOUND"
	ReasonInvalidArgument      = "INVALID_ARGUMENT"
	ReasonCursorExpired        = "CURSOR_EXPIRED"
	ReasonCursorAhead          = "CURSOR_AHEAD"
	ReasonTooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS"
	ReasonUnavailable          = "STORE_UNAVAILABLE"
	ReasonShuttingDown         = "SHUTTING_DOWN"
	ReasonCanceled             = "CANCELED"
	ReasonDeadlineExceeded     = "DEADLINE_EXCEEDED"
	ReasonUnimplemented        = "UNIMPLEMENTED"
	ReasonInternal             = "INTERNAL"
)

// wireError is how one failure looks on every surface.
type wireError struct {
	http     int
	grpc     codes.Code
	reason   string
	message  string
	metadata map[string]string
}

// code is the `error.code` of an HTTP error body.
func (e wireError) code() string { return strings.ToLower(e.reason) }

// Server-side failures that are not domain errors of another package.
var (
	// errTooLarge is returned when a body exceeds the size cap.
	errTooLarge = errors.New("body exceeds the size limit")
	// errIncompleteBody is returned when the body cannot be read to its end.
	errIncompleteBody = errors.New("request body could not be read")
	// errUnauthenticated refuses a read API call without a valid token.
	errUnauthenticated = errors.New("missing or invalid API token: send Authorization: Bearer <token>")
	// errAdminUnauthenticated refuses an admin call without a valid admin
	// token (a read token is not one).
	errAdminUnauthenticated = errors.New("missing or invalid admin token: send Authorization: Bearer <admin token>; read-API tokens are not admin tokens")
	// errAdminDisabled refuses every admin call of a gateway without admin
	// tokens.
	errAdminDisabled = errors.New("the admin API is disabled: the gateway has no admin tokens (HOOKLINE_ADMIN_TOKENS or --admin-tokens-file)")
)

// notFoundError names what a read found nothing of.
type notFoundError struct{ what string }

func (e *notFoundError) Error() string { return e.what + " not found" }

// routeError is a webhook request that reaches no endpoint: an unknown
// path, provider or source (404), or a method other than POST (405).
type routeError struct {
	reason, message string
	status          int
}

// code is the gRPC code of the route error's row (the error is HTTP only).
func (e *routeError) code() codes.Code {
	if e.status == http.StatusMethodNotAllowed {
		return codes.Unimplemented
	}
	return codes.NotFound
}

func (e *routeError) Error() string { return e.message }

// translate is the table: domain error → wire error. Order matters where an
// error wraps several (an append that timed out is ErrUnavailable first).
func translate(err error) wireError {
	var (
		ae     *adapters.Error
		tl     *eventlog.TooLargeError
		ce     *subscription.CursorError
		ia     *subscription.InvalidArgumentError
		le     *subscription.LimitError
		nf     *notFoundError
		re     *routeError
		reason string
	)
	if errors.As(err, &ae) {
		reason = ae.Reason
	}
	switch {
	case errors.As(err, &re):
		return wireError{re.status, re.code(), re.reason, re.message, nil}
	case errors.Is(err, adapters.ErrUnauthenticated):
		return wireError{http.StatusUnauthorized, codes.Unauthenticated, ReasonUnauthenticated, reason, nil}
	case errors.Is(err, errUnauthenticated), errors.Is(err, errAdminUnauthenticated), errors.Is(err, errAdminDisabled):
		return wireError{http.StatusUnauthorized, codes.Unauthenticated, ReasonUnauthenticated, err.Error(), nil}
	case errors.Is(err, adapters.ErrMalformed):
		return wireError{http.StatusBadRequest, codes.InvalidArgument, ReasonMalformedPayload, reason, nil}
	case errors.Is(err, adapters.ErrUnsupportedMediaType):
		return wireError{http.StatusUnsupportedMediaType, codes.InvalidArgument, ReasonUnsupportedMediaType, reason, nil}
	case errors.Is(err, errTooLarge):
		return wireError{http.StatusRequestEntityTooLarge, codes.InvalidArgument, ReasonPayloadTooLarge, err.Error(), nil}
	case errors.As(err, &tl):
		return wireError{http.StatusRequestEntityTooLarge, codes.InvalidArgument, ReasonPayloadTooLarge, tl.Error(),
			map[string]string{"size": strconv.FormatInt(tl.Size, 10), "limit": strconv.FormatInt(tl.Limit, 10)}}
	case errors.Is(err, errIncompleteBody):
		return wireError{http.StatusBadRequest, codes.InvalidArgument, ReasonBadRequest,
			"the request body ended before its declared length, or its chunked encoding is broken", nil}
	case errors.As(err, &ce):
		md := map[string]string{
			"earliest_sequence": strconv.FormatUint(ce.Earliest, 10),
			"latest_sequence":   strconv.FormatUint(ce.Latest, 10),
		}
		if ce.Expired {
			// 410 Gone, the Kubernetes watch convention.
			return wireError{http.StatusGone, codes.OutOfRange, ReasonCursorExpired, ce.Error(), md}
		}
		return wireError{http.StatusBadRequest, codes.OutOfRange, ReasonCursorAhead, ce.Error(), md}
	case errors.As(err, &ia):
		return wireError{http.StatusBadRequest, codes.InvalidArgument, ReasonInvalidArgument, ia.Msg, nil}
	case errors.As(err, &le):
		return wireError{http.StatusTooManyRequests, codes.ResourceExhausted, ReasonTooManySubscriptions, le.Error(),
			map[string]string{"limit": strconv.Itoa(le.Limit)}}
	case errors.As(err, &nf):
		return wireError{http.StatusNotFound, codes.NotFound, ReasonNotFound, nf.Error(), nil}
	case errors.Is(err, index.ErrNotFound), errors.Is(err, eventlog.ErrNotFound):
		return wireError{http.StatusNotFound, codes.NotFound, ReasonNotFound, "not found", nil}
	case errors.Is(err, subscription.ErrShuttingDown):
		return wireError{http.StatusServiceUnavailable, codes.Unavailable, ReasonShuttingDown, subscription.ErrShuttingDown.Error(), nil}
	case errors.Is(err, pipeline.ErrStarting):
		return wireError{http.StatusServiceUnavailable, codes.Unavailable, ReasonUnavailable, pipeline.ErrStarting.Error(), nil}
	case errors.Is(err, pipeline.ErrIndexLagging):
		return wireError{http.StatusServiceUnavailable, codes.Unavailable, ReasonUnavailable, pipeline.ErrIndexLagging.Error(), nil}
	case errors.Is(err, eventlog.ErrUnavailable):
		return wireError{http.StatusServiceUnavailable, codes.Unavailable, ReasonUnavailable, "the event store is unavailable; retry later", nil}
	case errors.Is(err, context.Canceled):
		return wireError{499, codes.Canceled, ReasonCanceled, "canceled", nil}
	case errors.Is(err, context.DeadlineExceeded):
		return wireError{http.StatusGatewayTimeout, codes.DeadlineExceeded, ReasonDeadlineExceeded, "deadline exceeded", nil}
	}
	if st, ok := status.FromError(err); ok {
		return fromStatus(st)
	}
	return wireError{http.StatusInternalServerError, codes.Internal, ReasonInternal, "internal error", nil}
}

// fromStatus is the wire error of a gRPC status: one this file made (its
// ErrorInfo names the row), or one grpc-gateway raised itself (a query
// parameter it could not parse, an unknown route), which gets the row of
// its code.
func fromStatus(st *status.Status) wireError {
	we := wireError{http: httpStatusOf(st.Code()), grpc: st.Code(), message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			we.reason, we.metadata = info.GetReason(), info.GetMetadata()
			if we.reason == ReasonCursorExpired {
				we.http = http.StatusGone
			}
			return we
		}
	}
	we.reason = reasonOfCode(st.Code())
	return we
}

// httpStatusOf is the HTTP status of a gRPC code (grpc-gateway's mapping).
func httpStatusOf(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func reasonOfCode(c codes.Code) string {
	switch c {
	case codes.InvalidArgument:
		return ReasonInvalidArgument
	case codes.NotFound:
		return ReasonNotFound
	case codes.Unauthenticated:
		return ReasonUnauthenticated
	case codes.Canceled:
		return ReasonCanceled
	case codes.DeadlineExceeded:
		return ReasonDeadlineExceeded
	case codes.Unavailable:
		return ReasonUnavailable
	case codes.Unimplemented:
		return ReasonUnimplemented
	default:
		return ReasonInternal
	}
}

// logged logs what an API caller is not told: store outages at warning
// level, internal errors at error level with their detail.
func logged(ctx context.Context, logger *slog.Logger, err error, we wireError) {
	switch we.reason {
	case ReasonUnavailable:
		logger.WarnContext(ctx, "api_store_unavailable", "error", err.Error())
	case ReasonInternal:
		logger.ErrorContext(ctx, "api_internal_error", "error", err.Error())
	}
}

// toStatus converts a domain error to a gRPC status error with its
// ErrorInfo, logging what the caller is not told.
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	we := translate(err)
	if _, ok := status.FromError(err); !ok {
		logged(ctx, logger, err, we)
	}
	return we.status().Err()
}

func (e wireError) status() *status.Status {
	st, err := status.New(e.grpc, e.message).WithDetails(&errdetails.ErrorInfo{Reason: e.reason, Domain: ErrorDomain, Metadata: e.metadata})
	if err != nil {
		return status.New(e.grpc, e.message)
	}
	return st
}

// errorBody is the JSON body of every HTTP error: webhooks, REST and SSE.
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	// Code is the lower-case ErrorInfo reason.
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
	// Details is the ErrorInfo metadata, when there is any.
	Details map[string]string `json:"details,omitempty"`
}

func (e wireError) body(requestID string) errorBody {
	return errorBody{errorFields{Code: e.code(), Message: e.message, RequestID: requestID, Details: e.metadata}}
}

// writeHTTPError writes we as the HTTP error of a request.
func writeHTTPError(w http.ResponseWriter, requestID string, we wireError) {
	if we.http == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, we.http, we.body(requestID))
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
