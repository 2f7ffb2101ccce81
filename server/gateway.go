package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// gateway builds the REST mapping of the EventService. grpc-gateway can
// only stream through a client connection, so it dials the gRPC server
// over inproc, an in-memory listener the same server also serves: REST
// does not depend on the public gRPC listener's address or its TLS. The
// caller closes the returned connection.
func (s *Server) gateway(inproc *bufconn.Listener) (http.Handler, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///hookline-inproc",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.maxMessageBytes())))
	if err != nil {
		return nil, nil, fmt.Errorf("gateway dial: %w", err)
	}
	mux := runtime.NewServeMux(runtime.WithErrorHandler(restErrorHandler))
	if err := hooklinev1.RegisterEventServiceHandler(context.Background(), mux, conn); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("gateway register: %w", err)
	}
	return goneOnExpiredCursor(mux), conn, nil
}

// maxMessageBytes is the largest message the EventService sends: a page of
// events (MaxPageBytes) or one event as large as the log stores, with
// room for the framing. gRPC clients need a receive limit at least this
// large; with the default body cap it is within gRPC's default 4 MiB.
func (s *Server) maxMessageBytes() int {
	return int(max(MaxPageBytes, s.log.MaxPayload()) + 64<<10)
}

// reason returns the ErrorInfo reason of a status, if any.
func reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// restErrorHandler is grpc-gateway's default, except that an expired cursor
// answers 410 Gone (the Kubernetes watch convention) instead of 400, and
// that errors the gateway raises itself (an unparsable query parameter, an
// unknown route) get the ErrorInfo every API error carries.
func restErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := status.FromError(err); ok && reason(st) == ReasonCursorExpired {
		w = &statusRewriter{ResponseWriter: w, from: http.StatusBadRequest, to: http.StatusGone, always: true}
	} else if ok && reason(st) == "" {
		switch st.Code() {
		case codes.InvalidArgument:
			err = withInfo(st.Code(), st.Message(), ReasonInvalidArgument, nil)
		case codes.NotFound:
			err = withInfo(st.Code(), st.Message(), ReasonNotFound, nil)
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// goneOnExpiredCursor gives the REST stream the same 410 for an expired
// cursor: grpc-gateway writes a stream's first-frame error with the status
// of its gRPC code, so the header is held back until the body shows the
// reason.
func goneOnExpiredCursor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/events:subscribe" {
			w = &statusRewriter{ResponseWriter: w, from: http.StatusBadRequest, to: http.StatusGone,
				marker: []byte(`"` + ReasonCursorExpired + `"`)}
		}
		next.ServeHTTP(w, r)
	})
}

// statusRewriter replaces status `from` with `to`: always, or only when the
// first body chunk contains marker.
type statusRewriter struct {
	http.ResponseWriter
	from, to int
	always   bool
	marker   []byte
	held     bool
}

func (w *statusRewriter) WriteHeader(code int) {
	switch {
	case code != w.from:
		w.ResponseWriter.WriteHeader(code)
	case w.always:
		w.ResponseWriter.WriteHeader(w.to)
	default:
		w.held = true
	}
}

func (w *statusRewriter) Write(b []byte) (int, error) {
	if w.held {
		w.held = false
		code := w.from
		if bytes.Contains(b, w.marker) {
			code = w.to
		}
		w.ResponseWriter.WriteHeader(code)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *statusRewriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpStatus is the HTTP status of an API error on the REST and SSE side:
// grpc-gateway's mapping, except 410 Gone for an expired cursor.
func httpStatus(st *status.Status) int {
	if reason(st) == ReasonCursorExpired {
		return http.StatusGone
	}
	return runtime.HTTPStatusFromCode(st.Code())
}
