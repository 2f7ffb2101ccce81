package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/reprocess"
	"github.com/hookline/hookline/internal/testkit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// mappingV2 is the fake mapping after a provider added an event type and a
// status: it reads kind "parcel" as an order and status "shipped" as
// completed; everything else maps as version 1 did.
type mappingV2 struct{ adapters.Adapter }

func (m mappingV2) Normalize(d *adapters.Delivery) (adapters.Result, error) {
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err == nil {
		if body["kind"] == "parcel" {
			body["kind"] = adaptertest.FakeKindOrder
		}
		if body["status"] == "shipped" {
			body["status"] = "completed"
		}
		b, _ := json.Marshal(body)
		nd := *d
		nd.Body = b
		res, err := m.Adapter.Normalize(&nd)
		for _, ev := range res.Events {
			ev.Raw.Body = d.Body // the delivery as received
		}
		return res, err
	}
	return m.Adapter.Normalize(d)
}

const adminToken = "admin-token-for-tests"

// reprocessRun runs one Reprocess call and collects its frames, until it
// ends or stopAfter (if set) says to cancel it.
func reprocessRun(t *testing.T, c hooklinev1.AdminServiceClient, token string, req *hooklinev1.ReprocessRequest,
	stopAfter func(*hooklinev1.ReprocessResponse) bool) (frames []*hooklinev1.ReprocessResponse, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	st, err := c.Reprocess(ctx, req)
	if err != nil {
		return nil, err
	}
	for {
		f, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return frames, err
		}
		frames = append(frames, f)
		if stopAfter != nil && stopAfter(f) {
			return frames, nil
		}
	}
}

func lastProgress(frames []*hooklinev1.ReprocessResponse) *hooklinev1.ReprocessProgress {
	var p *hooklinev1.ReprocessProgress
	for _, f := range frames {
		if f.GetProgress() != nil {
			p = f.GetProgress()
		}
	}
	return p
}

// TestReprocess: deliveries with an unknown event type and an unknown
// status are stored unmapped / UNKNOWN; after the mapping learns them
// (version 2), a reprocess run appends corrected events that supersede
// them, updates the order state, and a live subscriber receives the
// corrections; an interrupted run resumes; a second run appends nothing;
// callers without an admin token are refused.
func TestReprocess(t *testing.T) {
	dir := t.TempDir()
	e1 := newTestEnv(t, envOptions{dir: dir})
	const parcels = 20
	var originals []AcceptedEvent
	for i := range parcels {
		originals = append(originals, e1.post(t, "truv", adaptertest.FakeBody(adaptertest.FakeEvent{
			ID: fmt.Sprintf("parcel-%d", i), Kind: "parcel", Subject: fmt.Sprintf("p-%d", i), Status: "pending", Time: "2026-01-02T03:04:05Z",
		})).Events[0])
	}
	shipped := e1.post(t, "truv", orderBody("ship-1", "o-shipped", "shipped", "2026-01-02T03:04:05Z")).Events[0]
	plain := e1.post(t, "truv", orderBody("plain-1", "o-plain", "pending", "2026-01-02T03:04:05Z")).Events[0]
	if originals[0].Type != "EVENT_TYPE_UNMAPPED" || shipped.Type != "EVENT_TYPE_ORDER_STATUS_CHANGED" {
		t.Fatalf("stored as %s and %s, want an unmapped event and an order event", originals[0].Type, shipped.Type)
	}
	e1.waitApplied(t, plain.Sequence)
	if st, err := e1.client.GetOrder(context.Background(), &hooklinev1.GetOrderRequest{OrderId: "o-shipped"}); err != nil ||
		st.GetOrder().GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN {
		t.Fatalf("order before: %v, %v; want UNKNOWN", st.GetOrder().GetStatus(), err)
	}
	e1.stop()

	// The gateway restarts with mapping version 2 for Truv's default source.
	e := newTestEnv(t, envOptions{dir: dir, cfg: func(c *Config) {
		src := c.Sources[0]
		c.Sources[0] = &Source{Provider: src.Provider, Name: src.Name, Adapter: mappingV2{src.Adapter}, MappingVersion: 2}
		c.AdminTokens = []string{adminToken}
		c.APITokens = []string{"read-token"}
	}})
	admin := hooklinev1.NewAdminServiceClient(e.conn)
	readCtx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer read-token")
	live, err := e.client.Subscribe(readCtx, &hooklinev1.SubscribeRequest{Filter: &hooklinev1.EventFilter{
		OrderIds: []string{"o-shipped", "p-0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.Recv(); err != nil { // the first bookmark: joined
		t.Fatal(err)
	}

	for name, token := range map[string]string{"no token": "", "a read token": "read-token", "a wrong token": "nope"} {
		if _, err := reprocessRun(t, admin, token, &hooklinev1.ReprocessRequest{}, nil); status.Code(err) != codes.Unauthenticated {
			t.Errorf("Reprocess with %s: %v, want UNAUTHENTICATED", name, err)
		}
	}

	// A dry run counts and shows, and appends nothing.
	_, before, _ := e.log.Bounds(context.Background())
	frames, err := reprocessRun(t, admin, adminToken, &hooklinev1.ReprocessRequest{DryRun: true, MaxDiffs: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := lastProgress(frames); !p.GetDone() || !p.GetDryRun() || p.GetCorrected() != parcels+1 || p.GetScanned() != parcels+2 || p.GetUnchanged() != 1 {
		t.Fatalf("dry run ended with %v, want done, %d corrected of %d scanned, 1 unchanged", p, parcels+1, parcels+2)
	}
	diffs := 0
	for _, f := range frames {
		if d := f.GetDiff(); d != nil {
			diffs++
			if d.GetBefore().GetType() != hooklinev1.EventType_EVENT_TYPE_UNMAPPED || d.GetAfter().GetType() != hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED {
				t.Errorf("diff %v → %v", d.GetBefore().GetType(), d.GetAfter().GetType())
			}
		}
	}
	if _, after, _ := e.log.Bounds(context.Background()); diffs != 3 || after != before {
		t.Fatalf("dry run: %d diffs (want 3), log %d → %d (want unchanged)", diffs, before, after)
	}

	// A slow run, interrupted once it has made progress, then resumed.
	frames, err = reprocessRun(t, admin, adminToken, &hooklinev1.ReprocessRequest{MaxRate: 8}, func(f *hooklinev1.ReprocessResponse) bool {
		return f.GetProgress().GetCorrected() > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	reached := lastProgress(frames).GetSequenceReached()
	if reached == 0 || reached >= plain.Sequence {
		t.Fatalf("interrupted at sequence %d, want within 1..%d", reached, plain.Sequence-1)
	}
	frames, err = reprocessRun(t, admin, adminToken, &hooklinev1.ReprocessRequest{AfterSequence: reached}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := lastProgress(frames); !p.GetDone() || p.GetFailed() != 0 {
		t.Fatalf("resumed run ended with %v", p)
	}

	// Every original is superseded by exactly one correction.
	_, last, _ := e.log.Bounds(context.Background())
	e.waitApplied(t, last)
	list, err := e.client.ListEvents(readCtx, &hooklinev1.ListEventsRequest{PageSize: 1000, AfterSequence: plain.Sequence})
	if err != nil {
		t.Fatal(err)
	}
	supersedes := map[string]*hooklinev1.Event{}
	for _, ev := range list.GetEvents() {
		if !ev.GetDerived() || ev.GetMappingVersion() != 2 || ev.GetId() != reprocess.CorrectionID(ev.GetSupersedesId(), 2) {
			t.Errorf("appended %s (derived %v, version %d, supersedes %s)", ev.GetId(), ev.GetDerived(), ev.GetMappingVersion(), ev.GetSupersedesId())
		}
		if supersedes[ev.GetSupersedesId()] != nil {
			t.Errorf("%s corrected twice", ev.GetSupersedesId())
		}
		supersedes[ev.GetSupersedesId()] = ev
	}
	for _, o := range append(originals, shipped) {
		if supersedes[o.ID] == nil {
			t.Errorf("no correction of %s", o.ID)
		}
	}
	if len(supersedes) != parcels+1 || supersedes[plain.ID] != nil {
		t.Errorf("%d corrections, want %d, none of the unchanged order", len(supersedes), parcels+1)
	}

	// State follows the corrections.
	// (The unmapped parcel was no event of its order; the shipped order's
	// original and correction both are.)
	for id, want := range map[string]struct {
		status hooklinev1.OrderStatus
		events int64
	}{"o-shipped": {hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, 2}, "p-3": {hooklinev1.OrderStatus_ORDER_STATUS_PENDING, 1}} {
		st, err := e.client.GetOrder(readCtx, &hooklinev1.GetOrderRequest{OrderId: id})
		if err != nil || st.GetOrder().GetStatus() != want.status || st.GetOrder().GetEventCount() != want.events {
			t.Errorf("order %s after reprocessing: %v (%d events), %v; want %v (%d)", id, st.GetOrder().GetStatus(), st.GetOrder().GetEventCount(), err, want.status, want.events)
		}
	}

	// The live subscriber received the corrections of its orders.
	got := map[string]bool{}
	testkit.WaitFor(t, 10*time.Second, "the live subscriber to receive both corrections", func() bool {
		f, err := live.Recv()
		if err != nil {
			t.Fatalf("live subscriber: %v", err)
		}
		if ev := f.GetEvent(); ev != nil && ev.GetDerived() {
			got[ev.GetSubject()] = true
		}
		return got["o-shipped"] && got["p-0"]
	})

	// Leaving superseded events out: the corrections stand for them.
	all, err := e.client.ListEvents(readCtx, &hooklinev1.ListEventsRequest{PageSize: 1000, Filter: &hooklinev1.EventFilter{ExcludeSuperseded: true}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all.GetEvents()); n != parcels+2 {
		t.Errorf("ListEvents without superseded events: %d, want %d (the corrections and the unchanged order)", n, parcels+2)
	}

	// A second run appends nothing.
	frames, err = reprocessRun(t, admin, adminToken, &hooklinev1.ReprocessRequest{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := lastProgress(frames); p.GetCorrected() != 0 || p.GetUnchanged() != parcels+2 {
		t.Errorf("second run: %v, want nothing corrected", p)
	}
	if _, again, _ := e.log.Bounds(context.Background()); again != last {
		t.Errorf("second run grew the log from %d to %d", last, again)
	}

	// The same over REST, streamed, with the admin token only.
	for token, want := range map[string]int{"": http.StatusUnauthorized, "read-token": http.StatusUnauthorized, adminToken: http.StatusOK} {
		h := http.Header{"Content-Type": {"application/json"}}
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
		code, b := e.postRaw(t, http.MethodPost, "/v1/admin/reprocess", []byte(`{"dryRun":true}`), h)
		if code != want || (want == http.StatusOK && !strings.Contains(string(b), `"done":true`)) {
			t.Errorf("REST reprocess with token %q: %d %.300s, want %d", token, code, b, want)
		}
	}
}
