package server

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// This file is the one place where errors become gRPC statuses (and, through
// grpc-gateway, REST responses). Every status carries a
// google.rpc.ErrorInfo with a stable reason; unknown errors become Internal
// with a generic message and the detail is logged.

// ErrorDomain is the ErrorInfo domain of every error the API returns.
const ErrorDomain = "hookline.dev"

// ErrorInfo reasons.
const (
	ReasonCursorExpired        = "CURSOR_EXPIRED"
	ReasonCursorAhead          = "CURSOR_AHEAD"
	ReasonNotFound             = "NOT_FOUND"
	ReasonInvalidArgument      = "INVALID_ARGUMENT"
	ReasonUnavailable          = "STORE_UNAVAILABLE"
	ReasonShuttingDown         = "SHUTTING_DOWN"
	ReasonTooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS"
	ReasonUnauthenticated      = "UNAUTHENTICATED"
	ReasonInternal             = "INTERNAL"
)

// argError is a request the client must fix.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func invalidArgument(msg string) error { return &argError{msg} }

// notFoundError names what was not found.
type notFoundError struct{ what string }

func (e *notFoundError) Error() string { return e.what + " not found" }

func withInfo(code codes.Code, msg, reason string, md map[string]string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// toStatus converts a domain error to a gRPC status error.
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ce *cursorError
	var ae *argError
	var nf *notFoundError
	var tm *tooManySubscriptionsError
	switch {
	case errors.As(err, &ce):
		md := map[string]string{
			"earliest_sequence": strconv.FormatUint(ce.earliest, 10),
			"latest_sequence":   strconv.FormatUint(ce.latest, 10),
		}
		if ce.expired {
			return withInfo(codes.OutOfRange, "cursor expired: events after it are no longer retained; earliest available sequence is "+
				md["earliest_sequence"], ReasonCursorExpired, md)
		}
		return withInfo(codes.OutOfRange, "cursor is beyond the end of the log (latest sequence "+md["latest_sequence"]+")",
			ReasonCursorAhead, md)
	case errors.As(err, &ae):
		return withInfo(codes.InvalidArgument, ae.msg, ReasonInvalidArgument, nil)
	case errors.As(err, &tm):
		return withInfo(codes.ResourceExhausted, tm.Error()+"; retry later or close idle subscriptions",
			ReasonTooManySubscriptions, map[string]string{"limit": strconv.FormatInt(tm.limit, 10)})
	case errors.As(err, &nf):
		return withInfo(codes.NotFound, nf.Error(), ReasonNotFound, nil)
	case errors.Is(err, index.ErrNotFound), errors.Is(err, eventlog.ErrNotFound):
		return withInfo(codes.NotFound, "not found", ReasonNotFound, nil)
	case errors.Is(err, errShuttingDown):
		return withInfo(codes.Unavailable, "server shutting down; resume from the last sequence you received", ReasonShuttingDown, nil)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, eventlog.ErrUnavailable):
		logger.WarnContext(ctx, "api_store_unavailable", "error", err.Error())
		return withInfo(codes.Unavailable, "the event store is unavailable; retry later", ReasonUnavailable, nil)
	default:
		logger.ErrorContext(ctx, "api_internal_error", "error", err.Error())
		return withInfo(codes.Internal, "internal error", ReasonInternal, nil)
	}
}
