package reliability

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// bearer sends the read API token with every call (over plaintext: the
// gateways under test listen on loopback only).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// dialAPI connects to a gateway's gRPC port with the API token. Large
// messages are allowed, so that a page of big events never fails on the
// client side.
func dialAPI(t *testing.T, addr string, opts ...grpc.DialOption) hooklinev1.EventServiceClient {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(apiToken)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20)),
	}, opts...)
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hooklinev1.NewEventServiceClient(conn)
}

// listAll reads the whole log with ListEvents, page by page. A page that
// fails with UNAVAILABLE or runs past its deadline (the store electing a
// leader) is asked for again, as a client would, for up to two minutes;
// each such retry is logged and noted in f (which may be nil).
func listAll(t *testing.T, c hooklinev1.EventServiceClient, f *figures) []*hooklinev1.Event {
	t.Helper()
	var all []*hooklinev1.Event
	tok := ""
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		resp, err := c.ListEvents(ctx, &hooklinev1.ListEventsRequest{PageSize: 200, PageToken: tok})
		cancel()
		if code := grpcCode(err); (code == codes.Unavailable || code == codes.DeadlineExceeded) && time.Now().Before(deadline) {
			t.Logf("ListEvents after %d events: %v; asking again", len(all), err)
			if f != nil {
				f.note("a ListEvents page failed with %s after %d events and was asked for again (call deadline 20 s)", grpcCode(err), len(all))
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("ListEvents after %d events: %v", len(all), err)
		}
		all = append(all, resp.GetEvents()...)
		if tok = resp.GetNextPageToken(); tok == "" {
			return all
		}
	}
}

// logCheck is what reading the log back found.
type logCheck struct {
	stored, duplicates, lost, unacknowledged int
}

// checkLog compares the log with the acknowledgements: every acknowledged
// delivery must be in the log exactly once, at the sequence its answer
// named; no event id and no provider event id may appear twice; sequences
// must increase. With everyAcked, every event in the log must also belong
// to an acknowledged delivery (the scenario retried until each was).
func checkLog(t *testing.T, events []*hooklinev1.Event, deliveries map[int]delivery, acks map[int]ack, everyAcked bool) logCheck {
	t.Helper()
	res := logCheck{stored: len(events)}
	byID := map[string][]uint64{}
	byProviderID := map[string]map[string]bool{} // provider event → event ids
	var last uint64
	for _, ev := range events {
		if ev.GetSequence() <= last {
			t.Errorf("log order: sequence %d listed after %d", ev.GetSequence(), last)
		}
		last = ev.GetSequence()
		byID[ev.GetId()] = append(byID[ev.GetId()], ev.GetSequence())
		pk := ev.GetProvider().String() + "/" + ev.GetProviderEventType() + "/" + ev.GetProviderEventId()
		if byProviderID[pk] == nil {
			byProviderID[pk] = map[string]bool{}
		}
		byProviderID[pk][ev.GetId()] = true
	}
	for id, seqs := range byID {
		if len(seqs) > 1 {
			res.duplicates += len(seqs) - 1
			t.Errorf("DUPLICATE: event %s stored %d times, at sequences %v", id, len(seqs), seqs)
		}
	}
	for pk, ids := range byProviderID {
		if len(ids) > 1 {
			res.duplicates += len(ids) - 1
			t.Errorf("DUPLICATE: provider event %s stored under %d different event ids", pk, len(ids))
		}
	}
	ackedIDs := map[string]bool{}
	for _, i := range sortedKeys(acks) {
		a := acks[i]
		ackedIDs[a.id] = true
		seqs := byID[a.id]
		switch {
		case len(seqs) == 0:
			res.lost++
			if res.lost <= 20 {
				t.Errorf("LOST: %s was acknowledged (event %s, sequence %d) but is not in the log", deliveries[i].name, a.id, a.seq)
			}
		case !slices.Contains(seqs, a.seq):
			res.lost++
			if res.lost <= 20 {
				t.Errorf("LOST: %s was acknowledged at sequence %d, but event %s is stored at %v", deliveries[i].name, a.seq, a.id, seqs)
			}
		}
	}
	if res.lost > 20 {
		t.Errorf("LOST: %d acknowledged deliveries in all", res.lost)
	}
	if everyAcked {
		for _, ev := range events {
			if !ackedIDs[ev.GetId()] {
				res.unacknowledged++
				if res.unacknowledged <= 10 {
					t.Errorf("event %s at sequence %d (provider event %s) was never acknowledged, although every delivery was retried until it was",
						ev.GetId(), ev.GetSequence(), ev.GetProviderEventId())
				}
			}
		}
	}
	return res
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// repostAcked sends every acknowledged delivery again, as a provider's
// late retry: each must answer 200 duplicate:true with the event and
// sequence of its first acknowledgement. 503s (the index catching up) are
// retried. It returns the requests made and the 2xx answers.
func repostAcked(t *testing.T, base string, deliveries map[int]delivery, acks map[int]ack, f *figures) {
	t.Helper()
	c := newClient(1)
	bad := 0
	for _, i := range sortedKeys(acks) {
		d, want := deliveries[i], acks[i]
		a := postUntilAnswered(t, c, base, d, f)
		f.Retried++
		switch {
		case a.status != http.StatusOK:
			bad++
			t.Errorf("late retry of %s: %d %s, want 200 duplicate", d.name, a.status, a.code)
		case !a.ok.Duplicate || len(a.ok.Events) != 1 || a.ok.Events[0].ID != want.id || a.ok.Events[0].Sequence != want.seq:
			bad++
			if bad <= 20 {
				t.Errorf("DUPLICATE: late retry of %s (acknowledged as %s at %d) answered %s", d.name, want.id, want.seq, clip(a.body))
			}
		}
	}
	if bad > 20 {
		t.Errorf("%d late retries in all were not recognized as duplicates", bad)
	}
}

// postUntilAnswered posts d until the answer is not a 503 or a transport
// error, counting every request in f.
func postUntilAnswered(t *testing.T, c *http.Client, base string, d delivery, f *figures) answer {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a := post(context.Background(), c, base, d)
		f.Sent++
		if a.err == nil && a.status != http.StatusServiceUnavailable {
			if a.status == http.StatusOK {
				f.OK++
			} else {
				f.Failures[a.outcome()]++
			}
			return a
		}
		f.Failures[a.outcome()]++
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after 2 minutes of retries", d.name, a.outcome())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkState compares GetOrder / GetSession with the deliveries for up to
// sample keys: the state must name the event latest by provider time (ties:
// the later sequence) and count every event of the key once. Every
// delivery of a checked key must have been acknowledged.
func checkState(t *testing.T, c hooklinev1.EventServiceClient, deliveries map[int]delivery, acks map[int]ack, sample int) int {
	t.Helper()
	type want struct {
		kind   string
		latest int // delivery
		count  int
	}
	wants := map[string]*want{}
	for _, i := range sortedKeys(acks) {
		d, a := deliveries[i], acks[i]
		w := wants[d.key]
		if w == nil {
			w = &want{kind: d.kind, latest: i}
			wants[d.key] = w
		}
		w.count++
		l := deliveries[w.latest]
		if d.at.After(l.at) || (d.at.Equal(l.at) && a.seq > acks[w.latest].seq) {
			w.latest = i
		}
	}
	keys := make([]string, 0, len(wants))
	for k := range wants {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > sample {
		step := len(keys) / sample
		var picked []string
		for i := 0; i < len(keys) && len(picked) < sample; i += step {
			picked = append(picked, keys[i])
		}
		keys = picked
	}
	for _, k := range keys {
		w := wants[k]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var lastID string
		var count int64
		var err error
		if w.kind == "order" {
			var r *hooklinev1.GetOrderResponse
			r, err = c.GetOrder(ctx, &hooklinev1.GetOrderRequest{OrderId: k})
			lastID, count = r.GetOrder().GetLastEventId(), r.GetOrder().GetEventCount()
		} else {
			var r *hooklinev1.GetSessionResponse
			r, err = c.GetSession(ctx, &hooklinev1.GetSessionRequest{SessionKey: k})
			lastID, count = r.GetSession().GetLastEventId(), r.GetSession().GetEventCount()
		}
		cancel()
		latest := acks[w.latest]
		switch {
		case err != nil:
			t.Errorf("state of %s %s: %v", w.kind, k, err)
		case lastID != latest.id:
			t.Errorf("state of %s %s names event %s; the latest by provider time is %s (%s, %s, sequence %d)",
				w.kind, k, lastID, latest.id, deliveries[w.latest].name, deliveries[w.latest].at.Format(time.DateTime), latest.seq)
		case count != int64(w.count):
			t.Errorf("state of %s %s counts %d events, %d were stored", w.kind, k, count, w.count)
		}
	}
	return len(keys)
}

// grpcCode is the status code of an error (OK for nil).
func grpcCode(err error) codes.Code { return status.Code(err) }

// errorReason is the ErrorInfo reason of a gRPC error, or "".
func errorReason(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// describe names an event for a failure message.
func describe(ev *hooklinev1.Event) string {
	return fmt.Sprintf("%s (sequence %d, provider event %s)", ev.GetId(), ev.GetSequence(), ev.GetProviderEventId())
}
