package server

import (
	"fmt"
	"testing"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stateCase posts events of one order or session out of provider-time
// order; the state must then show the event posts[winner].
type stateCase struct {
	name   string
	posts  []delivery
	winner int
	// state summarizes the current state; expect summarizes the state
	// event ev must have produced after n events.
	state  func(t *testing.T, e *testEnv) string
	expect func(ev *hooklinev1.Event, n int) string
}

func orderCase(name, orderID string, winner int, posts ...delivery) stateCase {
	summary := func(status hooklinev1.OrderStatus, raw, id string, seq uint64, upd fmt.Stringer, n int64) string {
		return fmt.Sprintf("status %v (%q), last event %s at %d, update time %v, %d events", status, raw, id, seq, upd, n)
	}
	return stateCase{
		name: name, posts: posts, winner: winner,
		state: func(t *testing.T, e *testEnv) string {
			resp, err := e.client.GetOrder(t.Context(), &hooklinev1.GetOrderRequest{OrderId: orderID})
			if err != nil {
				t.Fatal(err)
			}
			o := resp.GetOrder()
			return summary(o.GetStatus(), o.GetRawStatus(), o.GetLastEventId(), o.GetLastSequence(), o.GetUpdateTime().AsTime(), o.GetEventCount())
		},
		expect: func(ev *hooklinev1.Event, n int) string {
			o := ev.GetOrder()
			return summary(o.GetStatus(), o.GetRawStatus(), ev.GetId(), ev.GetSequence(), o.GetUpdateTime().AsTime(), int64(n))
		},
	}
}

func sessionCase(name, key string, winner int, posts ...delivery) stateCase {
	summary := func(stage hooklinev1.SessionStage, typ, id string, seq uint64, upd fmt.Stringer, n int64) string {
		return fmt.Sprintf("stage %v (%s), last event %s at %d, update time %v, %d events", stage, typ, id, seq, upd, n)
	}
	return stateCase{
		name: name, posts: posts, winner: winner,
		state: func(t *testing.T, e *testEnv) string {
			resp, err := e.client.GetSession(t.Context(), &hooklinev1.GetSessionRequest{SessionKey: key})
			if err != nil {
				t.Fatal(err)
			}
			s := resp.GetSession()
			return summary(s.GetStage(), s.GetProviderEventType(), s.GetLastEventId(), s.GetLastSequence(), s.GetUpdateTime().AsTime(), s.GetEventCount())
		},
		expect: func(ev *hooklinev1.Event, n int) string {
			s := ev.GetSession()
			return summary(s.GetStage(), ev.GetProviderEventType(), ev.GetId(), ev.GetSequence(), s.GetUpdateTime().AsTime(), int64(n))
		},
	}
}

// TestStateOutOfOrder checks that GetOrder and GetSession report the event
// with the newest provider time whatever the arrival order (ties: the later
// sequence), counting every event.
func TestStateOutOfOrder(t *testing.T) {
	const t1, t2, t3 = "2025-02-01T10:00:00Z", "2025-02-01T11:00:00Z", "2025-02-01T12:00:00Z"
	tests := []stateCase{
		orderCase("truv_order", "ooo-order-1", 0,
			delivery{"truv", orderBody("ooo-1-c", "ooo-order-1", "completed", t3)},
			delivery{"truv", orderBody("ooo-1-a", "ooo-order-1", "pending", t1)},
			delivery{"truv", orderBody("ooo-1-b", "ooo-order-1", "sent", t2)}),
		orderCase("truv_order_tie", "ooo-order-2", 2,
			delivery{"truv", orderBody("ooo-2-a", "ooo-order-2", "pending", t1)},
			delivery{"truv", orderBody("ooo-2-b", "ooo-order-2", "completed", t2)},
			delivery{"truv", orderBody("ooo-2-c", "ooo-order-2", "sent", t2)}),
		orderCase("swyft_order", "ooo-swyft-1", 0,
			delivery{"swyft", orderBody("ooo-s-b", "ooo-swyft-1", "Completed", t2)},
			delivery{"swyft", orderBody("ooo-s-a", "ooo-swyft-1", "Active", t1)}),
		sessionCase("truv_task", "ooo-task-1", 0,
			delivery{"truv", sessionBody("ooo-t-c", "ooo-task-1", "done", t3)},
			delivery{"truv", sessionBody("ooo-t-a", "ooo-task-1", "credentials_submitted", t1)},
			delivery{"truv", sessionBody("ooo-t-b", "ooo-task-1", "processing", t2)}),
		sessionCase("finicity_session", "7000000001", 0,
			delivery{"finicity", sessionBody("ooo-f-c3", "7000000001", "done", t3)},
			delivery{"finicity", sessionBody("ooo-f-c1", "7000000001", "started", t1)},
			delivery{"finicity", sessionBody("ooo-f-c2", "7000000001", "institution_selected", t2)}),
		sessionCase("finicity_session_tie", "7000000002", 2,
			delivery{"finicity", sessionBody("ooo-f-d1", "7000000002", "started", t1)},
			delivery{"finicity", sessionBody("ooo-f-d2", "7000000002", "done", t2)},
			delivery{"finicity", sessionBody("ooo-f-d3", "7000000002", "institution_selected", t2)}),
	}
	e := newTestEnv(t, envOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seqs []uint64
			for _, d := range tt.posts {
				seqs = append(seqs, e.deliverAll(t, d))
			}
			e.waitApplied(t, seqs[len(seqs)-1])
			winner, err := e.log.Get(t.Context(), seqs[tt.winner])
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tt.state(t, e), tt.expect(winner, len(tt.posts)); got != want {
				t.Errorf("state:\n got  %s\n want %s", got, want)
			}
		})
	}
	t.Run("not_found", func(t *testing.T) {
		_, oerr := e.client.GetOrder(t.Context(), &hooklinev1.GetOrderRequest{OrderId: "no-such-order"})
		_, serr := e.client.GetSession(t.Context(), &hooklinev1.GetSessionRequest{SessionKey: "no-such-session"})
		_, eerr := e.client.GetEvent(t.Context(), &hooklinev1.GetEventRequest{Id: "evt_none"})
		for _, err := range []error{oerr, serr, eerr} {
			if st := status.Convert(err); st.Code() != codes.NotFound || errorInfo(st).GetReason() != ReasonNotFound {
				t.Errorf("err = %v, want NotFound with reason %s", err, ReasonNotFound)
			}
		}
	})
}
