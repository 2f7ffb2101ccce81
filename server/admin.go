package server

import (
	"fmt"
	"net/http"

	"github.com/hookline/hookline"
	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/reprocess"
)

// adminService implements hooklinev1.AdminServiceServer: the transport of
// internal/reprocess.
type adminService struct {
	hooklinev1.UnimplementedAdminServiceServer
	s *Server
}

var _ hooklinev1.AdminServiceServer = (*adminService)(nil)

// Reprocess streams a reprocess run's frames.
func (a *adminService) Reprocess(req *hooklinev1.ReprocessRequest, stream hooklinev1.AdminService_ReprocessServer) error {
	ctx := stream.Context()
	err := a.s.reprocess.Run(ctx, req, func(f reprocess.Frame) error {
		resp := &hooklinev1.ReprocessResponse{}
		switch {
		case f.Progress != nil:
			resp.Frame = &hooklinev1.ReprocessResponse_Progress{Progress: f.Progress}
		case f.Diff != nil:
			resp.Frame = &hooklinev1.ReprocessResponse_Diff{Diff: f.Diff}
		default:
			resp.Frame = &hooklinev1.ReprocessResponse_Failure{Failure: f.Failure}
		}
		return stream.Send(resp)
	})
	return toStatus(ctx, a.s.logger, err)
}

// remap runs a stored event's raw delivery through its source's current
// adapter (see reprocess.RemapFunc). The delivery is not verified again:
// it was when it was received, and its signature is not stored.
func (s *Server) remap(ev *hooklinev1.Event) (*hooklinev1.Event, uint32, error) {
	src, ok := s.ingest.sources[hookline.ProviderName(ev.GetProvider())+"/"+ev.GetSource()]
	if !ok {
		return nil, 0, fmt.Errorf("%w: source %q of %s is not configured", reprocess.ErrNoRemap, ev.GetSource(), hookline.ProviderName(ev.GetProvider()))
	}
	current := src.mappingVersion()
	raw := ev.GetRaw()
	h := http.Header{}
	if ct := raw.GetContentType(); ct != "" {
		h.Set("Content-Type", ct)
	}
	if ua := raw.GetUserAgent(); ua != "" {
		h.Set("User-Agent", ua)
	}
	res, err := src.Adapter.Normalize(&adapters.Delivery{
		Header: h, Body: raw.GetBody(), ReceiveTime: ev.GetReceiveTime().AsTime(), ID: ev.GetDeliveryId(),
	})
	if err != nil {
		return nil, current, fmt.Errorf("the current mapping refuses the delivery: %w", err)
	}
	var now *hooklinev1.Event
	for _, out := range res.Events {
		if out.GetId() == ev.GetId() {
			now = out
		}
	}
	if now == nil && len(res.Events) == 1 {
		// The mapping now reads the event's identity differently (a
		// provider event type it did not know, for instance).
		now = res.Events[0]
	}
	if now == nil {
		return nil, current, fmt.Errorf("the current mapping no longer yields this event from its delivery (%d events)", len(res.Events))
	}
	now.MappingVersion = current
	return now, current, nil
}
