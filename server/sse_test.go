package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
)

// sseStream reads Server-Sent Events frames and turns them into
// subscription frames, checking the framing on the way.
type sseStream struct {
	r          *bufio.Reader
	heartbeats int // `: heartbeat` comments seen
}

// sseFrame is one SSE frame: its fields and comments.
type sseFrame struct {
	id, event, data string
	comments        []string
}

// frame reads up to the blank line that ends a frame.
func (s *sseStream) frame() (sseFrame, error) {
	var f sseFrame
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if seen {
				return f, nil
			}
			continue
		}
		seen = true
		if c, ok := strings.CutPrefix(line, ":"); ok {
			f.comments = append(f.comments, strings.TrimSpace(c))
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			f.id = value
		case "event":
			f.event = value
		case "data":
			f.data += value
		default:
			return f, fmt.Errorf("unknown field in line %q", line)
		}
	}
}

// Recv implements frameReader. Comment-only frames are counted and skipped;
// an `event: error` frame becomes a status error.
func (s *sseStream) Recv() (*hooklinev1.SubscribeResponse, error) {
	for {
		f, err := s.frame()
		if err != nil {
			return nil, err
		}
		for _, c := range f.comments {
			if c == "heartbeat" {
				s.heartbeats++
			}
		}
		switch f.event {
		case "":
			if f.id != "" || f.data != "" {
				return nil, fmt.Errorf("frame without event type: %+v", f)
			}
		case "event":
			ev := &hooklinev1.Event{}
			if err := protojson.Unmarshal([]byte(f.data), ev); err != nil {
				return nil, fmt.Errorf("event data %q: %w", f.data, err)
			}
			if f.id != strconv.FormatUint(ev.GetSequence(), 10) {
				return nil, fmt.Errorf("event frame id %q, sequence %d", f.id, ev.GetSequence())
			}
			return &hooklinev1.SubscribeResponse{Frame: &hooklinev1.SubscribeResponse_Event{Event: ev}}, nil
		case "bookmark":
			bm := &hooklinev1.Bookmark{}
			if err := protojson.Unmarshal([]byte(f.data), bm); err != nil {
				return nil, fmt.Errorf("bookmark data %q: %w", f.data, err)
			}
			if f.id != strconv.FormatUint(bm.GetSequence(), 10) {
				return nil, fmt.Errorf("bookmark frame id %q, sequence %d", f.id, bm.GetSequence())
			}
			return &hooklinev1.SubscribeResponse{Frame: &hooklinev1.SubscribeResponse_Bookmark{Bookmark: bm}}, nil
		case "error":
			st, err := httpErrorStatus([]byte(f.data))
			if err != nil {
				return nil, fmt.Errorf("error data %q: %w", f.data, err)
			}
			return nil, st.Err()
		default:
			return nil, fmt.Errorf("unknown event type %q", f.event)
		}
	}
}

// openSSE opens GET /v1/events:sse?query with an optional Last-Event-ID and
// checks that it answers an event stream. close ends the connection.
func (e *testEnv) openSSE(t *testing.T, query, lastEventID string) (s *sseStream, close func()) {
	t.Helper()
	h := http.Header{}
	if lastEventID != "" {
		h.Set("Last-Event-ID", lastEventID)
	}
	resp := e.open(t, "GET", "/v1/events:sse?"+query, nil, h)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET /v1/events:sse?%s = %d %s %s", query, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{r: bufio.NewReader(resp.Body)}, func() { resp.Body.Close() }
}

// TestSSEResume reads part of a filtered SSE stream, disconnects, lets
// events arrive, and reconnects with Last-Event-ID: the events missed in
// between must arrive exactly once and in order.
func TestSSEResume(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	last := e.deliverAll(t, rounds(0, 2)...)
	e.waitApplied(t, last)
	filter := &hooklinev1.EventFilter{
		OrderIds: []string{truvOrderA}, SessionKeys: []string{finicityCustA},
		Providers: []hooklinev1.Provider{hooklinev1.Provider_PROVIDER_TRUV, hooklinev1.Provider_PROVIDER_FINICITY},
	}
	query := "order_id=" + truvOrderA + "&session_key=" + finicityCustA + "&provider=truv&provider=mastercard&position=earliest&bookmark_interval=1s"

	first, closeFirst := e.openSSE(t, query, "")
	var got []*hooklinev1.Event
	for len(got) < 3 {
		resp, err := first.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev := resp.GetEvent(); ev != nil {
			got = append(got, ev)
		}
	}
	closeFirst()
	lastID := strconv.FormatUint(got[len(got)-1].GetSequence(), 10)

	newLast := e.deliverAll(t, rounds(2, 4)...)
	e.waitApplied(t, newLast)
	second, _ := e.openSSE(t, query, lastID)
	rest, _ := recvUntil(t, second, newLast)
	got = append(got, rest...)

	want := selectEvents(e.listAll(t), func(ev *hooklinev1.Event) bool { return matches(filter, ev) })
	if len(want) <= 3 {
		t.Fatalf("only %d events match; the resume could not fail", len(want))
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("events (-want +got):\n%s\nwant %v\ngot  %v", diff, eventKeys(want), eventKeys(got))
	}

	// Heartbeats keep coming while nothing matches: one came with the
	// catch-up bookmark, wait for a periodic one.
	for second.heartbeats < 2 {
		if _, err := second.Recv(); err != nil {
			t.Fatalf("after %d heartbeats: %v", second.heartbeats, err)
		}
	}
}

// TestSSEQueryForms checks the query parameters of the SSE endpoint.
func TestSSEQueryForms(t *testing.T) {
	e, midTime, full, last := mixedLog(t)
	cursor := full[len(full)/2].GetSequence()

	tests := []struct {
		name  string
		query string
		want  func(*hooklinev1.Event) bool
	}{
		{"earliest", "position=earliest", func(*hooklinev1.Event) bool { return true }},
		{"event_type_short", "position=earliest&event_type=session_completed&event_type=unmapped", func(ev *hooklinev1.Event) bool {
			return ev.GetType() == hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED || ev.GetType() == hooklinev1.EventType_EVENT_TYPE_UNMAPPED
		}},
		{"event_type_full", "position=earliest&event_type=EVENT_TYPE_ORDER_STATUS_CHANGED&provider=PROVIDER_SWYFT", func(ev *hooklinev1.Event) bool {
			return ev.GetProvider() == hooklinev1.Provider_PROVIDER_SWYFT
		}},
		{"after_sequence", fmt.Sprintf("after_sequence=%d&session_key=%s", cursor, truvTaskB), func(ev *hooklinev1.Event) bool {
			return ev.GetSequence() > cursor && ev.GetSession().GetSessionKey() == truvTaskB
		}},
		{"start_time", "start_time=" + url.QueryEscape(midTime.Format(time.RFC3339Nano)) + "&provider=finicity", func(ev *hooklinev1.Event) bool {
			return !ev.GetReceiveTime().AsTime().Before(midTime) && ev.GetProvider() == hooklinev1.Provider_PROVIDER_FINICITY
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := selectEvents(full, tt.want)
			if len(want) == 0 {
				t.Fatal("test log selects nothing; the case could not fail")
			}
			s, _ := e.openSSE(t, tt.query, "")
			got, _ := recvUntil(t, s, last)
			if diff := cmp.Diff(eventKeys(want), eventKeys(got)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("last_event_id_header_wins", func(t *testing.T) {
		s, _ := e.openSSE(t, "position=earliest", strconv.FormatUint(cursor, 10))
		got, _ := recvUntil(t, s, last)
		want := selectEvents(full, func(ev *hooklinev1.Event) bool { return ev.GetSequence() > cursor })
		if diff := cmp.Diff(eventKeys(want), eventKeys(got)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestSSEErrors(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	last := e.deliverAll(t, rounds(0, 2)...)
	e.waitApplied(t, last)
	const first = 8
	purgeBefore(t, e.log, first)
	invalid := &errdetails.ErrorInfo{Reason: ReasonInvalidArgument, Domain: ErrorDomain}
	tests := []struct {
		name        string
		query       string
		lastEventID string
		code        int
		want        *errdetails.ErrorInfo
	}{
		{"last_event_id_expired", "", strconv.Itoa(first - 2), http.StatusGone, cursorInfo(ReasonCursorExpired, first, last)},
		{"after_sequence_expired", fmt.Sprintf("after_sequence=%d", first-2), "", http.StatusGone, cursorInfo(ReasonCursorExpired, first, last)},
		{"last_event_id_ahead", "", strconv.FormatUint(last+1, 10), http.StatusBadRequest, cursorInfo(ReasonCursorAhead, first, last)},
		{"last_event_id_not_a_number", "", "abc", http.StatusBadRequest, invalid},
		{"unknown_event_type", "event_type=nope", "", http.StatusBadRequest, invalid},
		{"unknown_provider", "provider=nope", "", http.StatusBadRequest, invalid},
		{"bad_position", "position=middle", "", http.StatusBadRequest, invalid},
		{"bad_bookmark_interval", "bookmark_interval=soon", "", http.StatusBadRequest, invalid},
		{"bad_exclude_superseded", "exclude_superseded=maybe", "", http.StatusBadRequest, invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.lastEventID != "" {
				h.Set("Last-Event-ID", tt.lastEventID)
			}
			resp := e.open(t, "GET", "/v1/events:sse?"+tt.query, nil, h)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d; body %s", resp.StatusCode, tt.code, b)
			}
			st, err := httpErrorStatus(b)
			if err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if diff := cmp.Diff(tt.want, errorInfo(st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
		})
	}
}
