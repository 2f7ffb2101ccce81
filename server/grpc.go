package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/fanout"
	"google.golang.org/protobuf/proto"
)

// Page bounds of ListEvents: at most maxPageSize events and MaxPageBytes
// bytes of events; a page ends early, with a next_page_token, when the next
// event would exceed the byte budget, except that an event larger than the
// budget is served alone.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
	MaxPageBytes    = 2 << 20
)

// eventService implements hooklinev1.EventServiceServer.
type eventService struct {
	hooklinev1.UnimplementedEventServiceServer
	s *Server
}

var _ hooklinev1.EventServiceServer = (*eventService)(nil)

// Subscribe implements the streaming subscription.
func (e *eventService) Subscribe(req *hooklinev1.SubscribeRequest, stream hooklinev1.EventService_SubscribeServer) error {
	ctx := stream.Context()
	if err := validateFilter(req.GetFilter()); err != nil {
		return toStatus(ctx, e.s.logger, err)
	}
	release, err := e.s.admit()
	if err != nil {
		return toStatus(ctx, e.s.logger, err)
	}
	defer release()
	return toStatus(ctx, e.s.logger, e.s.subscribe(ctx, req, stream.Send))
}

// ListEvents pages through matching events in log order.
func (e *eventService) ListEvents(ctx context.Context, req *hooklinev1.ListEventsRequest) (*hooklinev1.ListEventsResponse, error) {
	resp, err := e.s.listEvents(ctx, req)
	return resp, toStatus(ctx, e.s.logger, err)
}

// GetEvent returns one event by id.
func (e *eventService) GetEvent(ctx context.Context, req *hooklinev1.GetEventRequest) (*hooklinev1.GetEventResponse, error) {
	if req.GetId() == "" {
		return nil, toStatus(ctx, e.s.logger, invalidArgument("id is required"))
	}
	entry, err := e.s.index.Lookup(req.GetId())
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, &notFoundError{"event " + strconv.Quote(req.GetId())})
	}
	ev, err := e.s.log.Get(ctx, entry.Sequence)
	if errors.Is(err, eventlog.ErrNotFound) {
		err = &notFoundError{"event " + strconv.Quote(req.GetId())}
	}
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, err)
	}
	return &hooklinev1.GetEventResponse{Event: ev}, nil
}

// GetOrder returns an order's current state.
func (e *eventService) GetOrder(ctx context.Context, req *hooklinev1.GetOrderRequest) (*hooklinev1.GetOrderResponse, error) {
	if req.GetOrderId() == "" {
		return nil, toStatus(ctx, e.s.logger, invalidArgument("order_id is required"))
	}
	st, err := e.s.index.Order(req.GetOrderId())
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, &notFoundError{"order " + strconv.Quote(req.GetOrderId())})
	}
	return &hooklinev1.GetOrderResponse{Order: st}, nil
}

// GetSession returns a session's current state.
func (e *eventService) GetSession(ctx context.Context, req *hooklinev1.GetSessionRequest) (*hooklinev1.GetSessionResponse, error) {
	if req.GetSessionKey() == "" {
		return nil, toStatus(ctx, e.s.logger, invalidArgument("session_key is required"))
	}
	st, err := e.s.index.Session(req.GetSessionKey())
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, &notFoundError{"session " + strconv.Quote(req.GetSessionKey())})
	}
	return &hooklinev1.GetSessionResponse{Session: st}, nil
}

// Filter bounds: each list holds at most MaxFilterValues values, and each
// order id or session key at most MaxFilterValueBytes bytes. An id longer
// than that (no provider issues one) is still stored, and readable with
// GetOrder/GetSession or by a filter on provider or type.
const (
	MaxFilterValues     = 1000
	MaxFilterValueBytes = 1024
)

func validateFilter(f *hooklinev1.EventFilter) error {
	for _, l := range []struct {
		name string
		n    int
	}{{"order_ids", len(f.GetOrderIds())}, {"session_keys", len(f.GetSessionKeys())},
		{"event_types", len(f.GetEventTypes())}, {"providers", len(f.GetProviders())}} {
		if l.n > MaxFilterValues {
			return invalidArgument(fmt.Sprintf("filter.%s: %d values; at most %d are allowed", l.name, l.n, MaxFilterValues))
		}
	}
	for _, l := range []struct {
		name string
		vs   []string
	}{{"order_ids", f.GetOrderIds()}, {"session_keys", f.GetSessionKeys()}} {
		for _, v := range l.vs {
			switch {
			case v == "":
				// No order or session has an empty id; and an empty one
				// would become a wildcard NATS filter subject that overlaps
				// the others.
				return invalidArgument("filter." + l.name + ": empty value")
			case len(v) > MaxFilterValueBytes:
				return invalidArgument(fmt.Sprintf("filter.%s: a value of %d bytes; values are at most %d bytes", l.name, len(v), MaxFilterValueBytes))
			}
		}
	}
	for _, t := range f.GetEventTypes() {
		if _, ok := hooklinev1.EventType_name[int32(t)]; !ok || t == hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED {
			return invalidArgument("filter.event_types: unknown value " + strconv.Itoa(int(t)))
		}
	}
	for _, p := range f.GetProviders() {
		if _, ok := hooklinev1.Provider_name[int32(p)]; !ok || p == hooklinev1.Provider_PROVIDER_UNSPECIFIED {
			return invalidArgument("filter.providers: unknown value " + strconv.Itoa(int(p)))
		}
	}
	return nil
}

const pageTokenPrefix = "after:"

func encodePageToken(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatUint(seq, 10)))
}

func decodePageToken(tok string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), pageTokenPrefix) {
		return 0, invalidArgument("page_token is not a token this server issued")
	}
	seq, err := strconv.ParseUint(strings.TrimPrefix(string(b), pageTokenPrefix), 10, 64)
	if err != nil {
		return 0, invalidArgument("page_token is not a token this server issued")
	}
	return seq, nil
}

func (s *Server) listEvents(ctx context.Context, req *hooklinev1.ListEventsRequest) (*hooklinev1.ListEventsResponse, error) {
	if err := validateFilter(req.GetFilter()); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalidArgument("page_size must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	after := req.GetAfterSequence()
	tok := req.GetPageToken()
	if tok != "" {
		var err error
		if after, err = decodePageToken(tok); err != nil {
			return nil, err
		}
	}
	first, last, err := s.log.Bounds(ctx)
	if err != nil {
		return nil, err
	}
	// Without a cursor (after_sequence unset, first page) the list starts
	// at the earliest retained event; a cursor must still be retained, and
	// must not lie beyond the end of the log (a cursor from another log, or
	// from before the log was wiped), as for Subscribe.
	if (after > 0 || tok != "") && after+1 < first {
		return nil, &cursorError{expired: true, earliest: first, latest: last}
	}
	if after > last {
		return nil, &cursorError{earliest: first, latest: last}
	}
	filter := fanout.NewFilter(req.GetFilter())
	resp := &hooklinev1.ListEventsResponse{}
	pageBytes := 0
	_, err = s.log.Read(ctx, eventlog.Start{AfterSequence: after}, filterSubjects(s.log.SubjectPrefix(), req.GetFilter()), last,
		func(ev *hooklinev1.Event) error {
			if !filter.Match(ev) {
				return nil
			}
			n := proto.Size(ev)
			if len(resp.Events) > 0 && pageBytes+n > MaxPageBytes {
				return errPageFull
			}
			resp.Events = append(resp.Events, ev)
			pageBytes += n
			if len(resp.Events) == size {
				return errPageFull
			}
			return nil
		})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, err
	}
	if errors.Is(err, errPageFull) && resp.Events[len(resp.Events)-1].GetSequence() < last {
		resp.NextPageToken = encodePageToken(resp.Events[len(resp.Events)-1].GetSequence())
	}
	return resp, nil
}
