package reprocess

import (
	"testing"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestCorrectionID: one original and version give one id, always; another
// version or original another.
func TestCorrectionID(t *testing.T) {
	a := CorrectionID("evt_a", 2)
	if a != CorrectionID("evt_a", 2) || a == CorrectionID("evt_a", 3) || a == CorrectionID("evt_b", 2) || len(a) != len("evt_")+32 {
		t.Errorf("CorrectionID is not a function of the original id and version: %s", a)
	}
}

// TestSameContent: what only places an event (ids, sequence, versions,
// times of receipt, trace) does not make a correction; its body does.
func TestSameContent(t *testing.T) {
	ev := func(status hooklinev1.OrderStatus) *hooklinev1.Event {
		return &hooklinev1.Event{Id: "evt_1", Sequence: 7, Type: hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, Subject: "o",
			Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{OrderId: "o", Status: status}}}
	}
	a, b := ev(hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED), ev(hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED)
	b.Id, b.Sequence, b.MappingVersion, b.Derived, b.SupersedesId, b.TraceParent = "evt_2", 9, 2, true, "evt_1", "00-x"
	b.ReceiveTime, b.DeliveryId, b.DedupKey = timestamppb.Now(), "req_2", "k"
	if !sameContent(a, b) {
		t.Error("events that differ only in placement differ")
	}
	if sameContent(a, ev(hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN)) {
		t.Error("events with different statuses are the same")
	}
}
