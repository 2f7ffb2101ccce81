package server

import (
	"context"
	"errors"
	"strconv"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/hookline/hookline/internal/index"
	"github.com/hookline/hookline/internal/subscription"
	"google.golang.org/grpc/peer"
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
	return toStatus(ctx, e.s.logger, e.s.subs.Subscribe(ctx, transportOf(ctx), req, stream.Send))
}

// transportOf names a gRPC call's transport for the metrics: `rest` for
// the REST gateway's calls, which arrive over its in-process connection
// (see gateway), else `grpc`.
func transportOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil && p.Addr.Network() == inprocNetwork {
		return transportREST
	}
	return transportGRPC
}

// ListEvents pages through matching events in log order.
func (e *eventService) ListEvents(ctx context.Context, req *hooklinev1.ListEventsRequest) (*hooklinev1.ListEventsResponse, error) {
	resp, err := e.s.subs.List(ctx, req)
	return resp, toStatus(ctx, e.s.logger, err)
}

// GetEvent returns one event by id.
func (e *eventService) GetEvent(ctx context.Context, req *hooklinev1.GetEventRequest) (*hooklinev1.GetEventResponse, error) {
	if req.GetId() == "" {
		return nil, toStatus(ctx, e.s.logger, &subscription.InvalidArgumentError{Msg: "id is required"})
	}
	notFound := &notFoundError{"event " + strconv.Quote(clip(req.GetId()))}
	entry, err := e.s.index.Lookup(req.GetId())
	if errors.Is(err, index.ErrNotFound) {
		return nil, toStatus(ctx, e.s.logger, notFound)
	}
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, err)
	}
	ev, err := e.s.log.Get(ctx, entry.Sequence)
	if errors.Is(err, eventlog.ErrNotFound) {
		err = notFound
	}
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, err)
	}
	return &hooklinev1.GetEventResponse{Event: ev}, nil
}

// GetOrder returns an order's current state.
func (e *eventService) GetOrder(ctx context.Context, req *hooklinev1.GetOrderRequest) (*hooklinev1.GetOrderResponse, error) {
	if req.GetOrderId() == "" {
		return nil, toStatus(ctx, e.s.logger, &subscription.InvalidArgumentError{Msg: "order_id is required"})
	}
	st, err := e.s.index.Order(req.GetOrderId())
	if errors.Is(err, index.ErrNotFound) {
		err = &notFoundError{"order " + strconv.Quote(clip(req.GetOrderId()))}
	}
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, err)
	}
	return &hooklinev1.GetOrderResponse{Order: st}, nil
}

// GetSession returns a session's current state.
func (e *eventService) GetSession(ctx context.Context, req *hooklinev1.GetSessionRequest) (*hooklinev1.GetSessionResponse, error) {
	if req.GetSessionKey() == "" {
		return nil, toStatus(ctx, e.s.logger, &subscription.InvalidArgumentError{Msg: "session_key is required"})
	}
	st, err := e.s.index.Session(req.GetSessionKey())
	if errors.Is(err, index.ErrNotFound) {
		err = &notFoundError{"session " + strconv.Quote(clip(req.GetSessionKey()))}
	}
	if err != nil {
		return nil, toStatus(ctx, e.s.logger, err)
	}
	return &hooklinev1.GetSessionResponse{Session: st}, nil
}
