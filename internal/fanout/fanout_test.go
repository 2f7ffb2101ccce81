package fanout

import (
	"fmt"
	"sync"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// guard bounds waits; it turns a hang into a failure and is never measured.
const guard = 10 * time.Second

func orderEvent(seq uint64, p hooklinev1.Provider, t hooklinev1.EventType, id string) *hooklinev1.Event {
	return &hooklinev1.Event{Sequence: seq, Provider: p, Type: t, Subject: id,
		Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{OrderId: id}}}
}

func sessionEvent(seq uint64, p hooklinev1.Provider, t hooklinev1.EventType, key string) *hooklinev1.Event {
	return &hooklinev1.Event{Sequence: seq, Provider: p, Type: t, Subject: key,
		Body: &hooklinev1.Event_Session{Session: &hooklinev1.SessionEvent{SessionKey: key}}}
}

// seqEvents returns order events from..to of one order.
func seqEvents(from, to uint64) []*hooklinev1.Event {
	var out []*hooklinev1.Event
	for seq := from; seq <= to; seq++ {
		out = append(out, orderEvent(seq, hooklinev1.Provider_PROVIDER_TRUV, hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, "o1"))
	}
	return out
}

// drain returns the sequences buffered in s and whether its channel is
// closed.
func drain(s *Subscriber) (seqs []uint64, closed bool) {
	for {
		select {
		case ev, ok := <-s.C:
			if !ok {
				return seqs, true
			}
			seqs = append(seqs, ev.GetSequence())
		default:
			return seqs, false
		}
	}
}

func TestFilterMatch(t *testing.T) {
	const (
		truv     = hooklinev1.Provider_PROVIDER_TRUV
		finicity = hooklinev1.Provider_PROVIDER_FINICITY
		swyft    = hooklinev1.Provider_PROVIDER_SWYFT
		changed  = hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED
		started  = hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED
		unmapped = hooklinev1.EventType_EVENT_TYPE_UNMAPPED
	)
	order := orderEvent(1, truv, changed, "o1")
	session := sessionEvent(2, finicity, started, "s1")
	// An order whose id equals a session key: kinds must not be mixed up.
	orderNamedS1 := orderEvent(3, swyft, changed, "s1")
	unmappedEv := &hooklinev1.Event{Sequence: 4, Provider: finicity, Type: unmapped,
		Body: &hooklinev1.Event_Unmapped{Unmapped: &hooklinev1.UnmappedEvent{SubjectHint: "s1"}}}
	all := []*hooklinev1.Event{order, session, orderNamedS1, unmappedEv}

	tests := []struct {
		name   string
		filter *hooklinev1.EventFilter
		want   []uint64 // sequences of all that match
	}{
		{"nil", nil, []uint64{1, 2, 3, 4}},
		{"empty", &hooklinev1.EventFilter{}, []uint64{1, 2, 3, 4}},
		{"order_ids", &hooklinev1.EventFilter{OrderIds: []string{"o1"}}, []uint64{1}},
		{"order_ids_not_sessions", &hooklinev1.EventFilter{OrderIds: []string{"s1"}}, []uint64{3}},
		{"session_keys", &hooklinev1.EventFilter{SessionKeys: []string{"s1"}}, []uint64{2}},
		{"order_ids_or_session_keys", &hooklinev1.EventFilter{OrderIds: []string{"o1"}, SessionKeys: []string{"s1"}}, []uint64{1, 2}},
		{"unknown_subject", &hooklinev1.EventFilter{OrderIds: []string{"nope"}}, nil},
		{"event_types", &hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{started, unmapped}}, []uint64{2, 4}},
		{"providers", &hooklinev1.EventFilter{Providers: []hooklinev1.Provider{truv, swyft}}, []uint64{1, 3}},
		{"providers_and_types", &hooklinev1.EventFilter{Providers: []hooklinev1.Provider{finicity}, EventTypes: []hooklinev1.EventType{changed, started}}, []uint64{2}},
		{"all_fields", &hooklinev1.EventFilter{
			Providers: []hooklinev1.Provider{truv, finicity}, EventTypes: []hooklinev1.EventType{changed},
			OrderIds: []string{"o1", "s1"}, SessionKeys: []string{"s1"},
		}, []uint64{1}},
		{"all_fields_none", &hooklinev1.EventFilter{
			Providers: []hooklinev1.Provider{swyft}, EventTypes: []hooklinev1.EventType{started}, SessionKeys: []string{"s1"},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFilter(tt.filter)
			var got []uint64
			for _, ev := range all {
				if f.Match(ev) {
					got = append(got, ev.GetSequence())
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("matches %v, want %v", got, tt.want)
			}
		})
	}
}

// publish runs Publish and fails the test if it does not return.
func publish(t *testing.T, h *Hub, batch []*hooklinev1.Event) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Publish(batch)
	}()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("Publish blocked")
	}
}

func TestPublishFullBufferDropsSubscriber(t *testing.T) {
	h := NewHub(0)
	slow := h.Subscribe(Filter{})
	other := h.Subscribe(NewFilter(&hooklinev1.EventFilter{OrderIds: []string{"o2"}}))
	publish(t, h, seqEvents(1, BufferSize))
	if h.Lagged(slow) || h.Len() != 2 {
		t.Fatalf("after %d events: lagged %v, %d subscribers; want not lagged, 2", BufferSize, h.Lagged(slow), h.Len())
	}
	// One batch that overflows, then more: the subscriber keeps what it
	// buffered before the gap and nothing after it.
	publish(t, h, seqEvents(BufferSize+1, BufferSize+10))
	publish(t, h, seqEvents(BufferSize+11, BufferSize+12))
	if !h.Lagged(slow) {
		t.Error("subscriber with a full buffer is not marked lagged")
	}
	if got := h.LaggedTotal(); got != 1 {
		t.Errorf("LaggedTotal = %d, want 1", got)
	}
	if h.Len() != 1 {
		t.Errorf("%d subscribers registered, want 1", h.Len())
	}
	seqs, closed := drain(slow)
	if !closed || len(seqs) != BufferSize || seqs[len(seqs)-1] != BufferSize {
		t.Errorf("lagged subscriber got %d events ending %v, closed %v; want 1..%d then closed", len(seqs), seqs[len(seqs)-1:], closed, BufferSize)
	}
	if h.Last() != BufferSize+12 {
		t.Errorf("Last = %d, want %d", h.Last(), BufferSize+12)
	}
	if seqs, closed := drain(other); len(seqs) != 0 || closed || h.Lagged(other) {
		t.Errorf("unrelated subscriber: events %v, closed %v, lagged %v", seqs, closed, h.Lagged(other))
	}
}

// TestSubscribeDuringPublish joins subscribers while batches are being
// published: each must receive exactly the events after its JoinSeq.
func TestSubscribeDuringPublish(t *testing.T) {
	const events = BufferSize - 1 // nobody can lag
	for round := range 50 {
		h := NewHub(0)
		var wg sync.WaitGroup
		wg.Go(func() {
			for seq := uint64(1); seq <= events; seq += 3 {
				h.Publish(seqEvents(seq, min(seq+2, events)))
			}
		})
		subs := make([]*Subscriber, 8)
		for i := range subs {
			wg.Go(func() { subs[i] = h.Subscribe(Filter{}) })
		}
		wg.Wait()
		for i, s := range subs {
			seqs, closed := drain(s)
			var want []uint64
			for seq := s.JoinSeq + 1; seq <= events; seq++ {
				want = append(want, seq)
			}
			if closed || fmt.Sprint(seqs) != fmt.Sprint(want) {
				t.Fatalf("round %d subscriber %d joined at %d: got %v (closed %v), want %v", round, i, s.JoinSeq, seqs, closed, want)
			}
		}
	}
}

// TestLastImpliesDeliveredOrClosed checks the promise the bookmark logic of
// server/subscribe.go relies on: once Last() returns n, a subscriber's
// channel holds every matching event up to n or is closed. A reader drains
// while a publisher overflows it.
func TestLastImpliesDeliveredOrClosed(t *testing.T) {
	for round := range 150 {
		h := NewHub(0)
		s := h.Subscribe(Filter{})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for seq := uint64(1); ; seq += 2 * BufferSize {
				select {
				case <-stop:
					return
				default:
				}
				h.Publish(seqEvents(seq, seq+2*BufferSize-1))
			}
		})
		var got uint64
		for {
			last := h.Last()
			seqs, closed := drain(s)
			if len(seqs) > 0 {
				got = seqs[len(seqs)-1]
			}
			if closed {
				break
			}
			if got < last {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: Last() = %d, but the open channel held events only up to %d", round, last, got)
			}
		}
		close(stop)
		wg.Wait()
	}
}

func TestUnsubscribeIdempotent(t *testing.T) {
	h := NewHub(7)
	a := h.Subscribe(NewFilter(&hooklinev1.EventFilter{OrderIds: []string{"o1"}, SessionKeys: []string{"o1"}}))
	b := h.Subscribe(NewFilter(&hooklinev1.EventFilter{EventTypes: []hooklinev1.EventType{hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED}}))
	c := h.Subscribe(NewFilter(&hooklinev1.EventFilter{Providers: []hooklinev1.Provider{hooklinev1.Provider_PROVIDER_TRUV}}))
	d := h.Subscribe(Filter{})
	if a.JoinSeq != 7 || h.Len() != 4 {
		t.Fatalf("JoinSeq %d, Len %d; want 7, 4", a.JoinSeq, h.Len())
	}
	for _, s := range []*Subscriber{a, b, c, d} {
		h.Unsubscribe(s)
		h.Unsubscribe(s)
		if _, closed := drain(s); !closed || h.Lagged(s) {
			t.Errorf("unsubscribed: closed %v, lagged %v; want closed, not lagged", closed, h.Lagged(s))
		}
	}
	if h.Len() != 0 {
		t.Errorf("Len = %d after unsubscribing all, want 0", h.Len())
	}
	if len(h.all)+len(h.bySubject)+len(h.byType)+len(h.byProv) != 0 {
		t.Errorf("index not empty: all %d, bySubject %v, byType %v, byProv %v", len(h.all), h.bySubject, h.byType, h.byProv)
	}
	// Publishing to nobody still advances Last; a lagged subscriber can be
	// unsubscribed again without harm.
	e := h.Subscribe(Filter{})
	publish(t, h, seqEvents(8, 8+BufferSize))
	h.Unsubscribe(e)
	h.Unsubscribe(e)
	if !h.Lagged(e) || h.Len() != 0 || h.Last() != 8+BufferSize {
		t.Errorf("lagged %v, Len %d, Last %d; want true, 0, %d", h.Lagged(e), h.Len(), h.Last(), 8+BufferSize)
	}
}
