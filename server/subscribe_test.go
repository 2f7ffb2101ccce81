package server

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/hookline/hookline/internal/eventlog/eventlogtest"
	"github.com/hookline/hookline/internal/subscription"
	"github.com/hookline/hookline/internal/testkit"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/fanout"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file tests the gRPC Subscribe stream: every filter and start
// position, resuming under concurrency, cursors outside the retained log and
// a subscriber that stops reading. It also holds the helpers the REST, SSE
// and state tests share: deliveries to every provider's (fake) source, a
// mixed log, the test's own filter predicate and stream readers.

var subscribeSeed = flag.Uint64("subscribe.seed", 0, "seed of TestSubscribeResumeRandomized (0: pick one and log it)")

// guard bounds every wait of these tests; it only turns a hang into a
// failure and is never what a test measures.
const guard = 30 * time.Second

// Subjects of the test logs, named after the provider whose fake source
// they are posted to and the shape of the real provider's ids.
const (
	truvOrderA    = "truv-order-a"
	truvOrderB    = "truv-order-b"
	truvTaskA     = "truv-task-a"
	truvTaskB     = "truv-task-b"
	finicityCustA = "6030781868"
	finicityCustB = "6030781869"
	swyftOrderA   = "0b6f2c1e-swyft-a"
	swyftOrderB   = "0b6f2c1e-swyft-b"
)

// delivery is one webhook delivery to the default source of a provider:
// the provider path segment and the (fake) body.
type delivery struct {
	provider string
	body     []byte
}

// request builds the correctly authenticated POST of d.
func (e *testEnv) request(ctx context.Context, d delivery) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.httpURL+"/webhooks/"+d.provider, bytes.NewReader(d.body))
	if err != nil {
		return nil, err
	}
	req.Header = authHeaders(d.provider)
	return req, nil
}

// deliver posts d and returns the highest sequence it stored. It reports
// instead of failing the test, so goroutines may call it.
func (e *testEnv) deliver(ctx context.Context, d delivery) (uint64, error) {
	req, err := e.request(ctx, d)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("post %s: %d %s", d.provider, resp.StatusCode, b)
	}
	var acc Accepted
	if err := json.Unmarshal(b, &acc); err != nil {
		return 0, err
	}
	var seq uint64
	for _, ev := range acc.Events {
		if ev.Duplicate {
			return 0, fmt.Errorf("post %s: event %s is a duplicate", d.provider, ev.ID)
		}
		seq = max(seq, ev.Sequence)
	}
	if seq == 0 {
		return 0, fmt.Errorf("post %s: nothing stored: %s", d.provider, b)
	}
	return seq, nil
}

// deliverAll posts ds in order and returns the last sequence stored.
func (e *testEnv) deliverAll(t testing.TB, ds ...delivery) uint64 {
	t.Helper()
	var last uint64
	for _, d := range ds {
		seq, err := e.deliver(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		last = max(last, seq)
	}
	return last
}

// mixedRound returns round r of the mixed log: for each of two subjects an
// order and a session to the Truv source, a session to the Finicity source
// and an order to the Swyft source, plus an unmapped event to the Finicity
// source. Statuses, stages and provider times advance with r; every event
// id is unique to its round.
func mixedRound(r int) []delivery {
	ts := time.Date(2025, 1, 1, 0, r, 0, 0, time.UTC).Format(time.RFC3339)
	orderStatus := []string{"pending", "sent", "completed"}[r%3]
	taskStage := []string{"credentials_submitted", "processing", "done"}[r%3]
	finStage := []string{"started", "institution_selected", "done"}[r%3]
	swyftStatus := []string{"Under Review", "Active", "Completed"}[r%3]
	var ds []delivery
	for _, s := range []struct{ order, task, cust, swyft string }{
		{truvOrderA, truvTaskA, finicityCustA, swyftOrderA},
		{truvOrderB, truvTaskB, finicityCustB, swyftOrderB},
	} {
		ds = append(ds,
			delivery{"truv", orderBody(fmt.Sprintf("wh-%d-%s", r, s.order), s.order, orderStatus, ts)},
			delivery{"truv", sessionBody(fmt.Sprintf("wh-%d-%s", r, s.task), s.task, taskStage, ts)},
			delivery{"finicity", sessionBody(fmt.Sprintf("fin-%d-%s", r, s.cust), s.cust, finStage, ts)},
			delivery{"swyft", orderBody(fmt.Sprintf("sw-%d-%s", r, s.swyft), s.swyft, swyftStatus, ts)},
		)
	}
	return append(ds, delivery{"finicity", unmappedBody(fmt.Sprintf("new-%d", r), finicityCustA)})
}

// rounds concatenates mixed rounds from..to-1.
func rounds(from, to int) []delivery {
	var ds []delivery
	for r := from; r < to; r++ {
		ds = append(ds, mixedRound(r)...)
	}
	return ds
}

// listAll returns the whole log through ListEvents, following page tokens.
func (e *testEnv) listAll(t testing.TB) []*hooklinev1.Event {
	t.Helper()
	var out []*hooklinev1.Event
	req := &hooklinev1.ListEventsRequest{PageSize: 50}
	for {
		resp, err := e.client.ListEvents(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// matches is the test's own reading of the documented filter semantics:
// every non-empty field must match; order_ids and session_keys together
// select an order event whose id is listed or a session event whose key is
// listed. It reads the ids from the event bodies, not from Event.subject.
func matches(f *hooklinev1.EventFilter, ev *hooklinev1.Event) bool {
	if len(f.GetEventTypes()) > 0 && !slices.Contains(f.GetEventTypes(), ev.GetType()) {
		return false
	}
	if len(f.GetProviders()) > 0 && !slices.Contains(f.GetProviders(), ev.GetProvider()) {
		return false
	}
	if len(f.GetOrderIds())+len(f.GetSessionKeys()) == 0 {
		return true
	}
	if o := ev.GetOrder(); o != nil {
		return slices.Contains(f.GetOrderIds(), o.GetOrderId())
	}
	if s := ev.GetSession(); s != nil {
		return slices.Contains(f.GetSessionKeys(), s.GetSessionKey())
	}
	return false
}

// selectEvents returns the events of log for which keep holds, in order.
func selectEvents(log []*hooklinev1.Event, keep func(*hooklinev1.Event) bool) []*hooklinev1.Event {
	var out []*hooklinev1.Event
	for _, ev := range log {
		if keep(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// eventKeys renders events as "sequence id" for readable diffs.
func eventKeys(evs []*hooklinev1.Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%d %s", ev.GetSequence(), ev.GetId()))
	}
	return out
}

// subscribe opens a Subscribe stream that ends with the test.
func (e *testEnv) subscribe(t testing.TB, req *hooklinev1.SubscribeRequest) hooklinev1.EventService_SubscribeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	stream, err := e.client.Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// frameReader is a stream of subscription frames.
type frameReader interface {
	Recv() (*hooklinev1.SubscribeResponse, error)
}

// recvUntil reads frames until a bookmark at or past target and returns the
// events before it and the bookmark's sequence. It fails on an error, on an
// event that does not follow the previous one and on a bookmark behind an
// event already delivered.
func recvUntil(t testing.TB, s frameReader, target uint64) ([]*hooklinev1.Event, uint64) {
	t.Helper()
	var evs []*hooklinev1.Event
	var cursor uint64
	for {
		resp, err := s.Recv()
		if err != nil {
			t.Fatalf("recv after sequence %d (waiting for bookmark %d): %v", cursor, target, err)
		}
		switch f := resp.GetFrame().(type) {
		case *hooklinev1.SubscribeResponse_Event:
			if seq := f.Event.GetSequence(); seq <= cursor {
				t.Fatalf("event %d after %d: out of order or duplicate", seq, cursor)
			}
			cursor = f.Event.GetSequence()
			evs = append(evs, f.Event)
		case *hooklinev1.SubscribeResponse_Bookmark:
			seq := f.Bookmark.GetSequence()
			if seq < cursor {
				t.Fatalf("bookmark %d behind delivered event %d", seq, cursor)
			}
			if seq >= target {
				return evs, seq
			}
		default:
			t.Fatalf("empty frame %v", resp)
		}
	}
}

// startCase is a start position of a subscription and the events it
// selects, judged by the test independently of the server.
type startCase struct {
	name string
	set  func(*hooklinev1.SubscribeRequest)
	from func(*hooklinev1.Event) bool
}

// mixedLog starts a server and fills its log with four rounds of mixed
// deliveries, two before and two after midTime. It returns the full log and
// the last sequence.
func mixedLog(t *testing.T) (e *testEnv, midTime time.Time, full []*hooklinev1.Event, last uint64) {
	t.Helper()
	e = newTestEnv(t, envOptions{})
	e.deliverAll(t, rounds(0, 2)...)
	midTime = time.Now().UTC()
	last = e.deliverAll(t, rounds(2, 4)...)
	e.waitApplied(t, last)
	return e, midTime, e.listAll(t), last
}

func TestSubscribeFiltersAndStartPositions(t *testing.T) {
	e, midTime, full, last := mixedLog(t)
	if uint64(len(full)) != last {
		t.Fatalf("log holds %d events, want %d", len(full), last)
	}
	cursor := full[len(full)/3].GetSequence()

	filters := []struct {
		name   string
		filter *hooklinev1.EventFilter
	}{
		{"none", nil},
		{"order_ids", &hooklinev1.EventFilter{OrderIds: []string{truvOrderA, swyftOrderB}}},
		{"session_keys", &hooklinev1.EventFilter{SessionKeys: []string{truvTaskA, finicityCustB}}},
		{"order_ids_and_session_keys", &hooklinev1.EventFilter{OrderIds: []string{truvOrderB}, SessionKeys: []string{finicityCustA}}},
		{"event_types", &hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{
			hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, hooklinev1.EventType_EVENT_TYPE_UNMAPPED}}},
		{"providers", &hooklinev1.EventFilter{Providers: []hooklinev1.Provider{
			hooklinev1.Provider_PROVIDER_FINICITY, hooklinev1.Provider_PROVIDER_SWYFT}}},
		{"combined", &hooklinev1.EventFilter{
			Providers:   []hooklinev1.Provider{hooklinev1.Provider_PROVIDER_SWYFT, hooklinev1.Provider_PROVIDER_FINICITY},
			EventTypes:  []hooklinev1.EventType{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED},
			OrderIds:    []string{truvOrderA, swyftOrderA},
			SessionKeys: []string{finicityCustB},
		}},
	}
	stored := []startCase{
		{
			name: "after_sequence",
			set: func(r *hooklinev1.SubscribeRequest) {
				r.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: cursor}
			},
			from: func(ev *hooklinev1.Event) bool { return ev.GetSequence() > cursor },
		},
		{
			name: "start_time",
			set: func(r *hooklinev1.SubscribeRequest) {
				r.Start = &hooklinev1.SubscribeRequest_StartTime{StartTime: timestamppb.New(midTime)}
			},
			from: func(ev *hooklinev1.Event) bool { return !ev.GetReceiveTime().AsTime().Before(midTime) },
		},
		{
			name: "earliest",
			set: func(r *hooklinev1.SubscribeRequest) {
				r.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}
			},
			from: func(*hooklinev1.Event) bool { return true },
		},
	}
	for _, sc := range stored {
		for _, fc := range filters {
			t.Run(sc.name+"/"+fc.name, func(t *testing.T) {
				want := selectEvents(full, func(ev *hooklinev1.Event) bool { return sc.from(ev) && matches(fc.filter, ev) })
				if len(want) == 0 {
					t.Fatal("test log selects nothing; the case could not fail")
				}
				req := &hooklinev1.SubscribeRequest{Filter: fc.filter}
				sc.set(req)
				got, bookmark := recvUntil(t, e.subscribe(t, req), last)
				if bookmark != last {
					t.Errorf("first bookmark after catch-up = %d, want %d", bookmark, last)
				}
				if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
					t.Errorf("events (-want +got):\n%s\nwant %v\ngot  %v", diff, eventKeys(want), eventKeys(got))
				}
			})
		}
	}

	// New-only positions: open every stream first, so that their bookmark
	// tickers run side by side, then post and check each.
	latest := []struct {
		name string
		set  func(*hooklinev1.SubscribeRequest)
	}{
		{"latest", func(r *hooklinev1.SubscribeRequest) {
			r.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_LATEST}
		}},
		{"unspecified_position", func(r *hooklinev1.SubscribeRequest) {
			r.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_UNSPECIFIED}
		}},
		{"unset", func(*hooklinev1.SubscribeRequest) {}},
	}
	type open struct {
		name   string
		filter *hooklinev1.EventFilter
		stream hooklinev1.EventService_SubscribeClient
		joined uint64
	}
	var opened []open
	for _, lc := range latest {
		for _, fc := range filters {
			req := &hooklinev1.SubscribeRequest{Filter: fc.filter, BookmarkInterval: durationpb.New(time.Second)}
			lc.set(req)
			stream := e.subscribe(t, req)
			evs, joined := recvUntil(t, stream, 0)
			if len(evs) != 0 || joined != last {
				t.Fatalf("%s/%s: first frames %v, bookmark %d; want only a bookmark at %d", lc.name, fc.name, eventKeys(evs), joined, last)
			}
			opened = append(opened, open{lc.name + "/" + fc.name, fc.filter, stream, joined})
		}
	}
	newLast := e.deliverAll(t, rounds(4, 6)...)
	e.waitApplied(t, newLast)
	full = e.listAll(t)
	for _, o := range opened {
		t.Run(o.name, func(t *testing.T) {
			got, bookmark := recvUntil(t, o.stream, newLast)
			want := selectEvents(full, func(ev *hooklinev1.Event) bool {
				return ev.GetSequence() > o.joined && ev.GetSequence() <= bookmark && matches(o.filter, ev)
			})
			if len(want) == 0 {
				t.Fatal("new events select nothing; the case could not fail")
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("events (-want +got):\n%s\nwant %v\ngot  %v", diff, eventKeys(want), eventKeys(got))
			}
		})
	}
}

// TestSubscribeEarliestEmptyLog subscribes from the earliest position of a
// log that holds nothing yet; events appended later must all arrive.
func TestSubscribeEarliestEmptyLog(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	stream := e.subscribe(t, &hooklinev1.SubscribeRequest{
		Start:            &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST},
		BookmarkInterval: durationpb.New(time.Second),
	})
	if evs, bookmark := recvUntil(t, stream, 0); len(evs) != 0 || bookmark != 0 {
		t.Fatalf("first frames %v, bookmark %d; want only a bookmark at 0", eventKeys(evs), bookmark)
	}
	last := e.deliverAll(t, mixedRound(0)...)
	got, _ := recvUntil(t, stream, last)
	if diff := cmp.Diff(eventKeys(e.listAll(t)), eventKeys(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// randomDelivery returns delivery i of a random mix over a few subjects of
// every provider; ids are unique to i.
func randomDelivery(rng *rand.Rand, i int) delivery {
	ts := time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	id := fmt.Sprintf("wh-%d", i)
	switch rng.IntN(5) {
	case 0:
		return delivery{"truv", orderBody(id, pick(truvOrderA, truvOrderB), pick("pending", "sent", "completed"), ts)}
	case 1:
		return delivery{"truv", sessionBody(id, pick(truvTaskA, truvTaskB), pick("credentials_submitted", "processing", "done"), ts)}
	case 2:
		return delivery{"finicity", sessionBody(id, pick(finicityCustA, finicityCustB), pick("started", "institution_selected", "done"), ts)}
	case 3:
		return delivery{"swyft", orderBody(id, pick(swyftOrderA, swyftOrderB), pick("Active", "Completed"), ts)}
	default:
		return delivery{"finicity", unmappedBody(id, pick(finicityCustA, finicityCustB))}
	}
}

// randomFilter returns a filter whose every field is set or not at random.
func randomFilter(rng *rand.Rand) *hooklinev1.EventFilter {
	subset := func(vs []string) []string {
		var out []string
		if rng.IntN(2) == 0 {
			for _, v := range vs {
				if rng.IntN(2) == 0 {
					out = append(out, v)
				}
			}
		}
		return out
	}
	f := &hooklinev1.EventFilter{
		OrderIds:    subset([]string{truvOrderA, truvOrderB, swyftOrderA, swyftOrderB}),
		SessionKeys: subset([]string{truvTaskA, truvTaskB, finicityCustA, finicityCustB}),
	}
	if rng.IntN(3) == 0 {
		f.Providers = []hooklinev1.Provider{hooklinev1.Provider(1 + rng.IntN(3))}
	}
	if rng.IntN(3) == 0 {
		types := []hooklinev1.EventType{
			hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED,
			hooklinev1.EventType_EVENT_TYPE_UNMAPPED, hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED,
		}
		f.EventTypes = types[:1+rng.IntN(len(types))]
	}
	return f
}

// resumingSubscriber reads the stream of filter f, disconnecting after a
// random number of frames and resuming with after_sequence = the last
// sequence it saw, until a bookmark reaches final() (0: not known yet). It
// returns the events it collected; an event at or below the cursor is an
// error.
func resumingSubscriber(ctx context.Context, client hooklinev1.EventServiceClient, f *hooklinev1.EventFilter,
	rng *rand.Rand, final func() uint64) ([]*hooklinev1.Event, int, error) {
	var got []*hooklinev1.Event
	var cursor uint64
	for conn := 0; ; conn++ {
		req := &hooklinev1.SubscribeRequest{Filter: f, BookmarkInterval: durationpb.New(time.Second),
			Start: &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: cursor}}
		if conn == 0 {
			req.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}
		}
		done, err := func() (bool, error) {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := client.Subscribe(sctx, req)
			if err != nil {
				return false, err
			}
			for range 1 + rng.IntN(30) {
				resp, err := stream.Recv()
				if err != nil {
					return false, fmt.Errorf("connection %d, after %d: %w", conn, cursor, err)
				}
				switch fr := resp.GetFrame().(type) {
				case *hooklinev1.SubscribeResponse_Event:
					if fr.Event.GetSequence() <= cursor {
						return false, fmt.Errorf("connection %d: event %d after %d", conn, fr.Event.GetSequence(), cursor)
					}
					cursor = fr.Event.GetSequence()
					got = append(got, fr.Event)
				case *hooklinev1.SubscribeResponse_Bookmark:
					if fr.Bookmark.GetSequence() < cursor {
						return false, fmt.Errorf("connection %d: bookmark %d behind %d", conn, fr.Bookmark.GetSequence(), cursor)
					}
					cursor = fr.Bookmark.GetSequence()
					if last := final(); last > 0 && cursor >= last {
						return true, nil
					}
				}
			}
			return false, nil
		}()
		if err != nil || done {
			return got, conn + 1, err
		}
	}
}

func TestSubscribeResumeRandomized(t *testing.T) {
	seed := *subscribeSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -subscribe.seed=%d)", seed, seed)
	const events, subscribers = 300, 4
	rng := rand.New(rand.NewPCG(seed, 0))
	ds := make([]delivery, events)
	for i := range ds {
		ds[i] = randomDelivery(rng, i)
	}
	filters := make([]*hooklinev1.EventFilter, subscribers)
	for i := range filters {
		filters[i] = randomFilter(rng)
	}

	e := newTestEnv(t, envOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	var final atomic.Uint64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var last uint64
		for _, d := range ds {
			seq, err := e.deliver(gctx, d)
			if err != nil {
				return err
			}
			last = max(last, seq)
		}
		final.Store(last)
		return nil
	})
	got := make([][]*hooklinev1.Event, subscribers)
	conns := make([]int, subscribers)
	for i := range subscribers {
		srng := rand.New(rand.NewPCG(seed, uint64(i+1)))
		g.Go(func() error {
			var err error
			got[i], conns[i], err = resumingSubscriber(gctx, e.client, filters[i], srng, final.Load)
			if err != nil {
				return fmt.Errorf("subscriber %d (%v): %w", i, filters[i], err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	full := e.listAll(t)
	if len(full) != events {
		t.Fatalf("log holds %d events, want %d", len(full), events)
	}
	for i, f := range filters {
		t.Run(fmt.Sprintf("subscriber_%d", i), func(t *testing.T) {
			t.Logf("filter %v, %d connections", f, conns[i])
			want := selectEvents(full, func(ev *hooklinev1.Event) bool { return matches(f, ev) })
			if diff := cmp.Diff(eventKeys(want), eventKeys(got[i])); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// purgeBefore removes every event below seq from the log's stream, as
// retention would.
func purgeBefore(t testing.TB, lg *eventlogtest.Log, seq uint64) {
	t.Helper()
	stream, err := lg.JetStream(t).Stream(t.Context(), "HOOKLINE_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(t.Context(), jetstream.WithPurgeSequence(seq)); err != nil {
		t.Fatal(err)
	}
	if first, _, err := lg.Bounds(t.Context()); err != nil || first != seq {
		t.Fatalf("after purge first sequence = %d, %v; want %d", first, err, seq)
	}
}

// errorInfo returns the ErrorInfo detail of a status.
func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// cursorInfo is the ErrorInfo a cursor outside the log must carry.
func cursorInfo(reason string, first, last uint64) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Reason: reason, Domain: "hookline.dev", Metadata: map[string]string{
		"earliest_sequence": fmt.Sprint(first), "latest_sequence": fmt.Sprint(last),
	}}
}

func TestSubscribeCursorOutOfRange(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	last := e.deliverAll(t, rounds(0, 2)...)
	e.waitApplied(t, last)
	const first = 8
	purgeBefore(t, e.log, first)

	tests := []struct {
		name  string
		after uint64
		want  *errdetails.ErrorInfo
	}{
		{"expired", first - 2, cursorInfo(ReasonCursorExpired, first, last)},
		{"expired_zero", 0, cursorInfo(ReasonCursorExpired, first, last)},
		{"ahead", last + 1, cursorInfo(ReasonCursorAhead, first, last)},
	}
	for _, tt := range tests {
		t.Run("subscribe/"+tt.name, func(t *testing.T) {
			stream := e.subscribe(t, &hooklinev1.SubscribeRequest{Start: &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: tt.after}})
			resp, err := stream.Recv()
			st := status.Convert(err)
			if st.Code() != codes.OutOfRange {
				t.Fatalf("Recv = %v, %v; want OutOfRange", resp, err)
			}
			if diff := cmp.Diff(tt.want, errorInfo(st), protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("list/expired", func(t *testing.T) {
		for _, req := range []*hooklinev1.ListEventsRequest{{AfterSequence: first - 2}, {PageToken: subscription.PageToken(first - 2)}} {
			_, err := e.client.ListEvents(t.Context(), req)
			st := status.Convert(err)
			if st.Code() != codes.OutOfRange {
				t.Fatalf("ListEvents(%v) = %v; want OutOfRange", req, err)
			}
			if diff := cmp.Diff(cursorInfo(ReasonCursorExpired, first, last), errorInfo(st), protocmp.Transform()); diff != "" {
				t.Errorf("ListEvents(%v) ErrorInfo (-want +got):\n%s", req, diff)
			}
		}
	})

	full := e.listAll(t)
	if full[0].GetSequence() != first {
		t.Fatalf("first listed event %d, want %d", full[0].GetSequence(), first)
	}
	valid := []struct {
		name string
		set  func(*hooklinev1.SubscribeRequest)
		want []*hooklinev1.Event
	}{
		{"just_retained", func(r *hooklinev1.SubscribeRequest) {
			r.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: first - 1}
		}, full},
		{"at_end", func(r *hooklinev1.SubscribeRequest) {
			r.Start = &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: last}
		}, nil},
		{"earliest", func(r *hooklinev1.SubscribeRequest) {
			r.Start = &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}
		}, full},
	}
	for _, tt := range valid {
		t.Run("subscribe/"+tt.name, func(t *testing.T) {
			req := &hooklinev1.SubscribeRequest{}
			tt.set(req)
			got, _ := recvUntil(t, e.subscribe(t, req), last)
			if diff := cmp.Diff(eventKeys(tt.want), eventKeys(got)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// paddedOrder returns an order delivery to the Truv source of about 1 KiB.
func paddedOrder(i int) delivery {
	body := orderBody(fmt.Sprintf("wh-pad-%d", i), fmt.Sprintf("order-%d", i%7), "pending", "2025-01-01T00:00:00Z")
	body = append([]byte(`{"padding":"`+strings.Repeat("x", 800)+`",`), body[1:]...)
	return delivery{"truv", body}
}

// collector reads a stream in its own goroutine until the stream ends,
// keeping the events, the latest bookmark and the first error.
type collector struct {
	mu       sync.Mutex
	events   []*hooklinev1.Event
	bookmark uint64
	err      error
	done     chan struct{}
}

func collect(s frameReader) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			resp, err := s.Recv()
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			switch f := resp.GetFrame().(type) {
			case *hooklinev1.SubscribeResponse_Event:
				c.events = append(c.events, f.Event)
			case *hooklinev1.SubscribeResponse_Bookmark:
				c.bookmark = f.Bookmark.GetSequence()
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// reached reports whether a bookmark at or past seq arrived; it fails the
// test when the stream ended.
func (c *collector) reached(t testing.TB, seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		t.Fatalf("stream ended: %v", c.err)
	}
	return c.bookmark >= seq
}

func (c *collector) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return eventKeys(c.events)
}

// TestSubscribeStuckSubscriber opens a stream whose client does not read,
// posts far more than the hub buffer and both HTTP/2 windows hold, and
// checks that ingest and another subscriber carry on, that the hub dropped
// the stuck one, and that it catches up from the log once it reads.
func TestSubscribeStuckSubscriber(t *testing.T) {
	const events, posters = 1200, 4
	if events < 10*fanout.BufferSize {
		t.Fatalf("%d events do not overflow a hub buffer of %d", events, fanout.BufferSize)
	}
	e := newTestEnv(t, envOptions{})
	// A connection with fixed 64 KiB windows (no BDP growth), so the
	// stuck stream blocks the server's Send after a known amount.
	stuckConn, err := grpc.NewClient(e.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer stuckConn.Close()
	stuckCtx, stopStuck := context.WithTimeout(context.Background(), guard)
	defer stopStuck()
	req := &hooklinev1.SubscribeRequest{Start: &hooklinev1.SubscribeRequest_AfterSequence{AfterSequence: 0}, BookmarkInterval: durationpb.New(time.Second)}
	stuck, err := hooklinev1.NewEventServiceClient(stuckConn).Subscribe(stuckCtx, req)
	if err != nil {
		t.Fatal(err)
	}
	normalCtx, stopNormal := context.WithTimeout(context.Background(), guard)
	defer stopNormal()
	normalStream, err := e.client.Subscribe(normalCtx, req)
	if err != nil {
		t.Fatal(err)
	}
	normal := collect(normalStream)
	defer func() { stopNormal(); <-normal.done }()
	testkit.WaitFor(t, guard, "both subscribers registered at the hub", func() bool { return e.srv.pipeline.Hub().Len() == 2 })

	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	var last atomic.Uint64
	for p := range posters {
		g.Go(func() error {
			for i := p; i < events; i += posters {
				seq, err := e.deliver(gctx, paddedOrder(i))
				if err != nil {
					return err
				}
				for cur := last.Load(); seq > cur && !last.CompareAndSwap(cur, seq); cur = last.Load() {
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if last.Load() != events {
		t.Fatalf("last sequence %d, want %d", last.Load(), events)
	}
	testkit.WaitFor(t, guard, "normal subscriber caught up", func() bool { return normal.reached(t, events) })
	full := e.listAll(t)
	if diff := cmp.Diff(eventKeys(full), normal.keys()); diff != "" {
		t.Fatalf("normal subscriber events (-want +got):\n%s", diff)
	}
	testkit.WaitFor(t, guard, "stuck subscriber dropped by the hub", func() bool {
		return e.srv.subs.Stats().Lagged > 0 && e.srv.pipeline.Hub().Len() == 1 && int64(e.srv.subs.Stats().Open) == 2
	})

	unstuck := collect(stuck)
	testkit.WaitFor(t, guard, "stuck subscriber caught up", func() bool { return unstuck.reached(t, events) })
	if diff := cmp.Diff(eventKeys(full), unstuck.keys()); diff != "" {
		t.Errorf("stuck subscriber events (-want +got):\n%s", diff)
	}
	stopStuck()
	<-unstuck.done
	if st := status.Convert(unstuck.err); st.Code() != codes.Canceled {
		t.Errorf("stuck stream ended with %v, want Canceled", unstuck.err)
	}
}

// TestSubscribeInvalidFilter checks that Subscribe and ListEvents reject
// malformed filters as InvalidArgument, not as a store error.
func TestSubscribeInvalidFilter(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	e.waitApplied(t, e.deliverAll(t, mixedRound(0)...))
	tests := []struct {
		name   string
		filter *hooklinev1.EventFilter
	}{
		{"empty_order_id", &hooklinev1.EventFilter{OrderIds: []string{truvOrderA, ""}}},
		{"empty_session_key", &hooklinev1.EventFilter{SessionKeys: []string{"", finicityCustA}}},
		{"unspecified_event_type", &hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED}}},
		{"unknown_event_type", &hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{999}}},
		{"unspecified_provider", &hooklinev1.EventFilter{Providers: []hooklinev1.Provider{hooklinev1.Provider_PROVIDER_UNSPECIFIED}}},
	}
	want := &errdetails.ErrorInfo{Reason: ReasonInvalidArgument, Domain: ErrorDomain}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := e.subscribe(t, &hooklinev1.SubscribeRequest{Filter: tt.filter,
				Start: &hooklinev1.SubscribeRequest_Position{Position: hooklinev1.StartPosition_START_POSITION_EARLIEST}})
			_, serr := stream.Recv()
			_, lerr := e.client.ListEvents(t.Context(), &hooklinev1.ListEventsRequest{Filter: tt.filter})
			for _, err := range []error{serr, lerr} {
				st := status.Convert(err)
				if st.Code() != codes.InvalidArgument {
					t.Errorf("err = %v, want InvalidArgument", err)
				}
				if diff := cmp.Diff(want, errorInfo(st), protocmp.Transform()); diff != "" {
					t.Errorf("ErrorInfo (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestSubscriptionLimit: with MaxSubscriptions 2 and two subscriptions
// open (gRPC and SSE), a third is refused over gRPC, REST and SSE with
// RESOURCE_EXHAUSTED / 429 naming the limit, and counted; once one closes,
// a new one is admitted.
func TestSubscriptionLimit(t *testing.T) {
	e := newTestEnv(t, envOptions{cfg: func(c *Config) { c.MaxSubscriptions = 2 }})
	ctx, cancelFirst := context.WithCancel(t.Context())
	first, err := e.client.Subscribe(ctx, &hooklinev1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err != nil { // the first bookmark: admitted
		t.Fatal(err)
	}
	sse := e.open(t, http.MethodGet, "/v1/events:sse", nil, nil)
	defer sse.Body.Close()
	if sse.StatusCode != http.StatusOK {
		t.Fatalf("second subscription (SSE): %d", sse.StatusCode)
	}
	testkit.WaitFor(t, guard, "two open subscriptions", func() bool { return int64(e.srv.subs.Stats().Open) == 2 })

	want := &errdetails.ErrorInfo{Reason: ReasonTooManySubscriptions, Domain: ErrorDomain, Metadata: map[string]string{"limit": "2"}}
	_, err = e.subscribe(t, &hooklinev1.SubscribeRequest{}).Recv()
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted {
		t.Errorf("third subscription over gRPC: %v, want RESOURCE_EXHAUSTED", err)
	} else if diff := cmp.Diff(want, errorInfo(st), protocmp.Transform()); diff != "" {
		t.Errorf("ErrorInfo (-want +got):\n%s", diff)
	}
	for _, path := range []string{"/v1/events:subscribe", "/v1/events:sse"} {
		resp := e.open(t, http.MethodGet, path, nil, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), `"code":"too_many_subscriptions"`) {
			t.Errorf("third subscription over %s: %d %s, want 429 %s", path, resp.StatusCode, b, ReasonTooManySubscriptions)
		}
	}
	if n := e.srv.subs.Stats().Refused; n != 3 {
		t.Errorf("refused subscriptions counted %d, want 3", n)
	}

	cancelFirst()
	testkit.WaitFor(t, guard, "the first subscription to close", func() bool { return int64(e.srv.subs.Stats().Open) == 1 })
	if _, err := e.subscribe(t, &hooklinev1.SubscribeRequest{}).Recv(); err != nil {
		t.Errorf("subscription after one closed: %v", err)
	}
}
