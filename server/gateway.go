package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/subscription"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// gateway builds the REST mapping of the EventService. grpc-gateway can
// only stream through a client connection, so it dials the gRPC server
// over inproc, an in-memory listener the same server also serves: REST
// does not depend on the public gRPC listener's address or its TLS. The
// caller closes the returned connection.
//
// Errors take the one HTTP shape of errors.go through grpc-gateway's own
// hooks: the error handler writes a unary call's error; a stream's error
// goes through the stream error handler, and its final line is marshaled
// by restMarshaler. The HTTP status of a stream that fails before its
// first frame is written by grpc-gateway from the gRPC code, which has no
// 410 Gone for an expired cursor: the stream error handler hands the
// table's status to restCall, whose writer applies it.
func (s *Server) gateway(inproc *bufconn.Listener) (http.Handler, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///hookline-inproc",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.maxMessageBytes())),
		// Fixed flow-control windows: the dynamic ones grow to 16 MiB per
		// stream, which a REST subscriber that stops reading would hold
		// in this process for as long as it stays connected.
		grpc.WithInitialWindowSize(restStreamWindow), grpc.WithInitialConnWindowSize(restConnWindow),
		s.tracing.dialOption())
	if err != nil {
		return nil, nil, fmt.Errorf("gateway dial: %w", err)
	}
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(s.restError),
		runtime.WithStreamErrorHandler(s.restStreamError),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, restMarshaler{&runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			// grpc-gateway's default marshaler.
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}}}),
		s.tracing.gatewayOption(),
	)
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		hooklinev1.RegisterEventServiceHandler, hooklinev1.RegisterAdminServiceHandler,
	} {
		if err := register(context.Background(), mux, conn); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("gateway register: %w", err)
		}
	}
	return s.restCalls(mux), conn, nil
}

// inprocNetwork is the network name of the REST gateway's in-process
// connection (bufconn's), by which gRPC calls tell REST callers apart.
const inprocNetwork = "bufconn"

// Flow-control windows of the REST gateway's connection (see gateway).
const (
	restStreamWindow = 256 << 10
	restConnWindow   = 4 << 20
)

// maxMessageBytes is the largest message the EventService sends: a page of
// events or one event as large as the log stores, with room for the
// framing. gRPC clients need a receive limit at least this large; with the
// default body cap it is within gRPC's default 4 MiB.
func (s *Server) maxMessageBytes() int {
	return int(max(subscription.MaxPageBytes, s.log.MaxPayload()) + 64<<10)
}

// restCall is what the REST side keeps of one request: its id for error
// bodies, and the HTTP status the error table gave a stream's error.
type restCall struct {
	requestID string
	status    int
}

type restCallKey struct{}

// restCalls gives every REST request a request id (the caller's
// X-Request-Id when it is plain, as for webhooks) and a restCall.
func (s *Server) restCalls(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := &restCall{requestID: s.ingest.reqIDs.from(r.Header.Get("X-Request-Id"))}
		w.Header().Set("X-Request-Id", call.requestID)
		rw := &restWriter{ResponseWriter: w, call: call, rc: http.NewResponseController(w), stall: s.cfg.StreamStallTimeout}
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), restCallKey{}, call)))
	})
}

func restCallFrom(ctx context.Context) *restCall {
	c, _ := ctx.Value(restCallKey{}).(*restCall)
	return c
}

// restWriter writes the status restCall holds, when it holds one, and
// lets go of a client that accepts nothing for the stall timeout (a REST
// subscriber that stopped reading).
type restWriter struct {
	http.ResponseWriter
	call  *restCall
	rc    *http.ResponseController
	stall time.Duration
}

func (w *restWriter) Write(b []byte) (int, error) {
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.stall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return w.ResponseWriter.Write(b)
}

func (w *restWriter) WriteHeader(code int) {
	if w.call.status != 0 {
		code = w.call.status
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *restWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// restError writes the error of a unary REST call (also the errors
// grpc-gateway raises itself: an unparsable parameter, an unknown route).
func (s *Server) restError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	id := ""
	if call := restCallFrom(ctx); call != nil {
		id = call.requestID
	}
	writeHTTPError(w, id, translate(err))
}

// restStreamError turns a stream's error into the status grpc-gateway
// writes as the stream's last line (see restMarshaler), and records its
// HTTP status in case no frame was written yet.
func (s *Server) restStreamError(ctx context.Context, err error) *status.Status {
	we := translate(err)
	if call := restCallFrom(ctx); call != nil {
		call.status = we.http
		we.metadata = maps.Clone(we.metadata)
		if we.metadata == nil {
			we.metadata = map[string]string{}
		}
		we.metadata[requestIDKey] = call.requestID
	}
	return we.status()
}

// requestIDKey carries a REST stream's request id from restStreamError to
// restMarshaler inside the ErrorInfo metadata; it never reaches a client
// as metadata.
const requestIDKey = "hookline.request_id"

// restMarshaler is grpc-gateway's default marshaler, except that the error
// line of a stream gets the HTTP error body of errors.go.
type restMarshaler struct{ runtime.Marshaler }

func (m restMarshaler) Marshal(v any) ([]byte, error) {
	if chunk, ok := v.(map[string]proto.Message); ok && len(chunk) == 1 {
		if sp, ok := chunk["error"].(*spb.Status); ok {
			we := fromStatus(status.FromProto(sp))
			md := maps.Clone(we.metadata)
			id := md[requestIDKey]
			delete(md, requestIDKey)
			if len(md) == 0 {
				md = nil
			}
			we.metadata = md
			return json.Marshal(we.body(id))
		}
	}
	return m.Marshaler.Marshal(v)
}

// writeAPIError answers an API error outside grpc-gateway (SSE, the token
// check) with the same body.
func (s *Server) writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	id := s.ingest.reqIDs.from(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", id)
	we := translate(err)
	if _, ok := status.FromError(err); !ok {
		logged(r.Context(), s.logger, err, we)
	}
	writeHTTPError(w, id, we)
}
