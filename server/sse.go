package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/subscription"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sse serves GET /v1/events:sse, a Server-Sent Events form of Subscribe for
// browsers and scripts. Query parameters: order_id, session_key,
// event_type, provider (each repeatable), exclude_superseded, after_sequence, start_time
// (RFC 3339), position (earliest|latest), bookmark_interval (Go duration).
// The Last-Event-ID header, sent by EventSource on reconnect, overrides
// them all. Frames: `event: event` with the Event as JSON, `event: bookmark`
// with the Bookmark; both carry `id: <sequence>`. A `: heartbeat` comment
// precedes each bookmark.
func (s *Server) sse(w http.ResponseWriter, r *http.Request) {
	req, err := s.sseRequest(r)
	if err != nil {
		s.writeAPIError(w, r, err)
		return
	}
	// Resolve the request's errors (a bad filter or cursor, too many
	// subscriptions) before committing to a 200 stream.
	sub, err := s.subs.Open(r.Context(), transportSSE, req)
	if err != nil {
		s.writeAPIError(w, r, err)
		return
	}
	defer sub.Close()
	reqID := s.ingest.reqIDs.from(r.Header.Get("X-Request-Id"))
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Request-Id", reqID)
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	mo := protojson.MarshalOptions{}
	send := func(resp *hooklinev1.SubscribeResponse) error {
		// A subscriber that accepts nothing for the stall timeout is let go.
		err := rc.SetWriteDeadline(time.Now().Add(s.cfg.StreamStallTimeout))
		if errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
		if err != nil {
			return err
		}
		switch f := resp.GetFrame().(type) {
		case *hooklinev1.SubscribeResponse_Event:
			var b []byte
			if b, err = mo.Marshal(f.Event); err == nil {
				_, err = fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", f.Event.GetSequence(), b)
			}
		case *hooklinev1.SubscribeResponse_Bookmark:
			var b []byte
			if b, err = mo.Marshal(f.Bookmark); err == nil {
				_, err = fmt.Fprintf(w, ": heartbeat\n\nid: %d\nevent: bookmark\ndata: %s\n\n", f.Bookmark.GetSequence(), b)
			}
		}
		if err == nil {
			err = rc.Flush()
		}
		return err
	}
	if err := sub.Run(send); err != nil && r.Context().Err() == nil {
		we := translate(err)
		logged(r.Context(), s.logger, err, we)
		b, _ := json.Marshal(we.body(reqID))
		_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
		_ = rc.Flush()
	}
}

// sseRequest builds a SubscribeRequest from query parameters.
func (s *Server) sseRequest(r *http.Request) (*hooklinev1.SubscribeRequest, error) {
	q := r.URL.Query()
	f := &hooklinev1.EventFilter{OrderIds: q["order_id"], SessionKeys: q["session_key"]}
	for _, v := range q["event_type"] {
		n := strings.ToUpper(v)
		if !strings.HasPrefix(n, "EVENT_TYPE_") {
			n = "EVENT_TYPE_" + n
		}
		t, ok := hooklinev1.EventType_value[n]
		if !ok {
			return nil, invalidArgument("event_type: unknown value " + strconv.Quote(v))
		}
		f.EventTypes = append(f.EventTypes, hooklinev1.EventType(t))
	}
	for _, v := range q["provider"] {
		p, ok := s.ingest.providerByName(v)
		if !ok {
			return nil, invalidArgument("provider: unknown value " + strconv.Quote(v))
		}
		f.Providers = append(f.Providers, p)
	}
	if v := q.Get("exclude_superseded"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, invalidArgument("exclude_superseded must be true or false")
		}
		f.ExcludeSuperseded = b
	}
	req := &hooklinev1.SubscribeRequest{Filter: f}
	if v := q.Get("bookmark_interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, invalidArgument("bookmark_interval: " + err.Error())
		}
		req.BookmarkInterval = durationpb.New(d)
	}
	switch {
	case r.Header.Get("Last-Event-ID") != "":
		seq, err := strconv.ParseUint(strings.TrimSpace(r.Header.Get("Last-Event-ID")), 10, 64)
		if err != nil {
			return nil, invalidArgument("Last-Event-ID must be a sequence number")
		}
		req.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: seq}
	case q.Get("after_sequence") != "":
		seq, err := strconv.ParseUint(q.Get("after_sequence"), 10, 64)
		if err != nil {
			return nil, invalidArgument("after_sequence must be a sequence number")
		}
		req.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: seq}
	case q.Get("start_time") != "":
		t, err := time.Parse(time.RFC3339Nano, q.Get("start_time"))
		if err != nil {
			return nil, invalidArgument("start_time must be RFC 3339")
		}
		req.Start = &hooklinev1.SubscribeRequest_StartTime{StartTime: timestamppb.New(t)}
	case strings.EqualFold(q.Get("position"), "earliest"):
		req.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}
	case q.Get("position") == "" || strings.EqualFold(q.Get("position"), "latest"):
	default:
		return nil, invalidArgument("position must be earliest or latest")
	}
	return req, nil
}

func invalidArgument(msg string) error { return &subscription.InvalidArgumentError{Msg: msg} }
