package index

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var (
	t0       = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	received = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
)

func openTest(t *testing.T) (*Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index")
	x, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x, path
}

// orderEv returns order event seq of order id with status at provider time
// t0 + minute minutes.
func orderEv(seq uint64, id string, status hooklinev1.OrderStatus, minute int) *hooklinev1.Event {
	return &hooklinev1.Event{
		Id: fmt.Sprintf("evt_%d", seq), Sequence: seq, Provider: hooklinev1.Provider_PROVIDER_TRUV, Source: "default",
		Type: hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED, Subject: id,
		ReceiveTime: timestamppb.New(received.Add(time.Duration(seq) * time.Second)),
		Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{
			OrderId: id, Status: status, RawStatus: status.String(),
			UpdateTime: timestamppb.New(t0.Add(time.Duration(minute) * time.Minute)),
		}},
	}
}

// sessionEv returns session event seq of key with stage at provider time
// t0 + minute minutes.
func sessionEv(seq uint64, key string, stage hooklinev1.SessionStage, minute int) *hooklinev1.Event {
	return &hooklinev1.Event{
		Id: fmt.Sprintf("evt_%d", seq), Sequence: seq, Provider: hooklinev1.Provider_PROVIDER_FINICITY, Source: "default",
		Type: hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED, Subject: key, ProviderEventType: stage.String(),
		ReceiveTime: timestamppb.New(received.Add(time.Duration(seq) * time.Second)),
		Body: &hooklinev1.Event_Session{Session: &hooklinev1.SessionEvent{
			SessionKey: key, Stage: stage, UpdateTime: timestamppb.New(t0.Add(time.Duration(minute) * time.Minute)),
		}},
	}
}

// snapshot is everything the index answers about a set of names.
type snapshot struct {
	Applied  uint64
	Entries  map[string]Entry
	Orders   map[string]*hooklinev1.OrderState
	Sessions map[string]*hooklinev1.SessionState
}

func takeSnapshot(t *testing.T, x *Index, ids, orders, sessions []string) snapshot {
	t.Helper()
	s := snapshot{Entries: map[string]Entry{}, Orders: map[string]*hooklinev1.OrderState{}, Sessions: map[string]*hooklinev1.SessionState{}}
	var err error
	if s.Applied, err = x.Applied(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if s.Entries[id], err = x.Lookup(id); err != nil {
			t.Fatalf("Lookup(%s): %v", id, err)
		}
	}
	for _, id := range orders {
		if s.Orders[id], err = x.Order(id); err != nil {
			t.Fatalf("Order(%s): %v", id, err)
		}
	}
	for _, key := range sessions {
		if s.Sessions[key], err = x.Session(key); err != nil {
			t.Fatalf("Session(%s): %v", key, err)
		}
	}
	return s
}

func TestApplyIdempotent(t *testing.T) {
	x, path := openTest(t)
	batch := []*hooklinev1.Event{
		orderEv(1, "o1", hooklinev1.OrderStatus_ORDER_STATUS_PENDING, 1),
		sessionEv(2, "s1", hooklinev1.SessionStage_SESSION_STAGE_STARTED, 1),
		orderEv(3, "o1", hooklinev1.OrderStatus_ORDER_STATUS_SENT, 2),
		sessionEv(4, "s1", hooklinev1.SessionStage_SESSION_STAGE_DONE, 2),
	}
	ids := []string{"evt_1", "evt_2", "evt_3", "evt_4"}
	if err := x.Apply(batch); err != nil {
		t.Fatal(err)
	}
	want := takeSnapshot(t, x, ids, []string{"o1"}, []string{"s1"})
	if want.Applied != 4 || want.Orders["o1"].GetEventCount() != 2 || want.Sessions["s1"].GetEventCount() != 2 {
		t.Fatalf("after one apply: %+v", want)
	}
	if err := x.Apply(batch); err != nil {
		t.Fatal(err)
	}
	if err := x.Apply(batch[2:]); err != nil {
		t.Fatal(err)
	}
	if err := x.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, takeSnapshot(t, x, ids, []string{"o1"}, []string{"s1"}), protocmp.Transform()); diff != "" {
		t.Errorf("re-applying changed the index (-first +again):\n%s", diff)
	}

	// A batch overlapping the applied prefix applies only its new part.
	if err := x.Apply(append(batch[3:], orderEv(5, "o1", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, 3))); err != nil {
		t.Fatal(err)
	}
	st, err := x.Order("o1")
	if err != nil || st.GetEventCount() != 3 || st.GetLastSequence() != 5 {
		t.Errorf("after overlapping batch: order %v, %v; want 3 events, last sequence 5", st, err)
	}
	if s, _ := x.Session("s1"); s.GetEventCount() != 2 {
		t.Errorf("after overlapping batch: session counted %d events, want 2", s.GetEventCount())
	}

	// The applied sequence survives a restart.
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if applied, err := x.Applied(); err != nil || applied != 5 {
		t.Errorf("Applied after reopen = %d, %v; want 5", applied, err)
	}
}

func TestLookup(t *testing.T) {
	x, _ := openTest(t)
	if applied, err := x.Applied(); err != nil || applied != 0 {
		t.Fatalf("new index Applied = %d, %v", applied, err)
	}
	if err := x.Apply([]*hooklinev1.Event{orderEv(41, "o1", hooklinev1.OrderStatus_ORDER_STATUS_PENDING, 0)}); err != nil {
		t.Fatal(err)
	}
	got, err := x.Lookup("evt_41")
	want := Entry{Sequence: 41, ReceiveTime: received.Add(41 * time.Second)}
	if err != nil || got.Sequence != want.Sequence || !got.ReceiveTime.Equal(want.ReceiveTime) {
		t.Errorf("Lookup = %+v, %v; want %+v", got, err, want)
	}
	for _, id := range []string{"evt_4", "", "EVT_41"} {
		if _, err := x.Lookup(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) err = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := x.Order("o2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Order(o2) err = %v, want ErrNotFound", err)
	}
	if _, err := x.Session("o1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session(o1) err = %v, want ErrNotFound", err)
	}
}

func TestSweep(t *testing.T) {
	tests := []struct {
		name     string
		firstSeq uint64
		kept     uint64 // lowest sequence whose id is kept
	}{
		{"below_first", 8, 8},
		{"nothing_below", 1, 1},
		{"beyond_end", 50, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Ids are written in runs of 3, so sweeping drops whole runs
			// and hides the rest.
			x, err := OpenWith(filepath.Join(t.TempDir(), "index"), Options{IDFlushSize: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			var batch []*hooklinev1.Event
			for seq := uint64(1); seq <= 10; seq++ {
				batch = append(batch, orderEv(seq, fmt.Sprintf("o%d", seq%3), hooklinev1.OrderStatus_ORDER_STATUS_PENDING, int(seq)))
			}
			if err := x.Apply(batch); err != nil {
				t.Fatal(err)
			}
			if err := x.Sweep(tt.firstSeq); err != nil {
				t.Fatal(err)
			}
			for seq := uint64(1); seq <= 10; seq++ {
				_, err := x.Lookup(fmt.Sprintf("evt_%d", seq))
				if gone := errors.Is(err, ErrNotFound); gone != (seq < tt.kept) {
					t.Errorf("evt_%d: Lookup err %v; want gone = %v", seq, err, seq < tt.kept)
				}
			}
			// Sweeping forgets ids, not state, nor the applied sequence.
			if applied, _ := x.Applied(); applied != 10 {
				t.Errorf("Applied = %d after sweep, want 10", applied)
			}
			if st, err := x.Order("o1"); err != nil || st.GetEventCount() != 4 {
				t.Errorf("Order(o1) after sweep = %v, %v; want 4 events", st, err)
			}
		})
	}
}

func TestOrderStateNeverBackwards(t *testing.T) {
	const (
		pending   = hooklinev1.OrderStatus_ORDER_STATUS_PENDING
		sent      = hooklinev1.OrderStatus_ORDER_STATUS_SENT
		completed = hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED
	)
	type step struct {
		status hooklinev1.OrderStatus
		minute int
	}
	tests := []struct {
		name      string
		steps     []step // applied in this order, sequences 1, 2, ...
		want      hooklinev1.OrderStatus
		wantSeq   uint64
		wantCount int64
	}{
		{"in_order", []step{{pending, 1}, {sent, 2}, {completed, 3}}, completed, 3, 3},
		{"newest_first", []step{{completed, 3}, {pending, 1}, {sent, 2}}, completed, 1, 3},
		{"late_middle", []step{{pending, 1}, {completed, 3}, {sent, 2}}, completed, 2, 3},
		{"tie_later_sequence_wins", []step{{pending, 1}, {completed, 2}, {sent, 2}}, sent, 3, 3},
		{"tie_after_newer", []step{{completed, 5}, {pending, 5}, {sent, 4}}, pending, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _ := openTest(t)
			var minutes []int
			for i, s := range tt.steps {
				minutes = append(minutes, s.minute)
				if err := x.Apply([]*hooklinev1.Event{orderEv(uint64(i+1), "o1", s.status, s.minute)}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := x.Order("o1")
			if err != nil {
				t.Fatal(err)
			}
			wantTime := t0.Add(time.Duration(minutes[tt.wantSeq-1]) * time.Minute)
			if got.GetStatus() != tt.want || got.GetLastSequence() != tt.wantSeq || got.GetLastEventId() != fmt.Sprintf("evt_%d", tt.wantSeq) ||
				got.GetEventCount() != tt.wantCount || !got.GetUpdateTime().AsTime().Equal(wantTime) {
				t.Errorf("state %v; want status %v, last sequence %d, %d events, update time %v", got, tt.want, tt.wantSeq, tt.wantCount, wantTime)
			}
		})
	}
}

func TestSessionStateNeverBackwards(t *testing.T) {
	const (
		started   = hooklinev1.SessionStage_SESSION_STAGE_STARTED
		completed = hooklinev1.SessionStage_SESSION_STAGE_DONE
	)
	type step struct {
		stage  hooklinev1.SessionStage
		minute int
	}
	tests := []struct {
		name      string
		steps     []step
		want      hooklinev1.SessionStage
		wantSeq   uint64
		wantCount int64
	}{
		{"in_order", []step{{started, 1}, {completed, 2}}, completed, 2, 2},
		{"newest_first", []step{{completed, 2}, {started, 1}}, completed, 1, 2},
		{"tie_later_sequence_wins", []step{{completed, 2}, {started, 2}}, started, 2, 2},
		{"stage_unspecified_ignored", []step{{started, 1}, {hooklinev1.SessionStage_SESSION_STAGE_UNSPECIFIED, 2}}, started, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _ := openTest(t)
			var batch []*hooklinev1.Event
			for i, s := range tt.steps {
				batch = append(batch, sessionEv(uint64(i+1), "6030781868/sess-1", s.stage, s.minute))
			}
			if err := x.Apply(batch); err != nil {
				t.Fatal(err)
			}
			got, err := x.Session("6030781868/sess-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.GetStage() != tt.want || got.GetLastSequence() != tt.wantSeq || got.GetLastEventId() != fmt.Sprintf("evt_%d", tt.wantSeq) ||
				got.GetEventCount() != tt.wantCount || got.GetProviderEventType() != tt.want.String() {
				t.Errorf("state %v; want stage %v, last sequence %d, %d events", got, tt.want, tt.wantSeq, tt.wantCount)
			}
		})
	}
}

// TestOrderEventWithoutStatusDoesNotClaimIt: a newer event that carries no
// status (Truv order-finalized may not) counts, but does not become "the
// event that set the current status".
func TestOrderEventWithoutStatusDoesNotClaimIt(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	mk := func(seq uint64, id string, st hooklinev1.OrderStatus, sec int64) *hooklinev1.Event {
		return &hooklinev1.Event{Id: id, Sequence: seq, Provider: hooklinev1.Provider_PROVIDER_TRUV, Subject: "o1",
			ReceiveTime: timestamppb.New(time.Unix(sec, 0)),
			Body:        &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{OrderId: "o1", Status: st, UpdateTime: timestamppb.New(time.Unix(sec, 0))}}}
	}
	if err := x.Apply([]*hooklinev1.Event{
		mk(1, "e1", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, 100),
		mk(2, "e2", hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED, 200),
	}); err != nil {
		t.Fatal(err)
	}
	st, err := x.Order("o1")
	if err != nil {
		t.Fatal(err)
	}
	if st.GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED || st.GetLastEventId() != "e1" || st.GetEventCount() != 2 {
		t.Errorf("state = %v, want COMPLETED set by e1 with 2 events", st)
	}
}

// Apply loads and stores each order and session once per batch; the result
// must not depend on how the log is cut into batches.
func TestApplyBatchingDoesNotChangeTheResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	orderStatuses := []hooklinev1.OrderStatus{
		hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED, hooklinev1.OrderStatus_ORDER_STATUS_PENDING,
		hooklinev1.OrderStatus_ORDER_STATUS_SENT, hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED,
	}
	stages := []hooklinev1.SessionStage{
		hooklinev1.SessionStage_SESSION_STAGE_UNSPECIFIED, hooklinev1.SessionStage_SESSION_STAGE_STARTED,
		hooklinev1.SessionStage_SESSION_STAGE_DONE,
	}
	var evs []*hooklinev1.Event
	var ids []string
	orders, sessions := []string{"o0", "o1", "o2"}, []string{"s0", "s1"}
	for seq := uint64(1); seq <= 300; seq++ {
		// Provider times repeat and go backwards, so "newer wins" and
		// its tie-break by sequence both matter.
		minute := rng.IntN(20)
		if rng.IntN(2) == 0 {
			evs = append(evs, orderEv(seq, orders[rng.IntN(len(orders))], orderStatuses[rng.IntN(len(orderStatuses))], minute))
		} else {
			evs = append(evs, sessionEv(seq, sessions[rng.IntN(len(sessions))], stages[rng.IntN(len(stages))], minute))
		}
		ids = append(ids, evs[len(evs)-1].GetId())
	}
	var snaps []snapshot
	for _, size := range []int{1, 7, len(evs)} {
		x, _ := openTest(t)
		for i := 0; i < len(evs); i += size {
			if err := x.Apply(evs[i:min(i+size, len(evs))]); err != nil {
				t.Fatal(err)
			}
		}
		snaps = append(snaps, takeSnapshot(t, x, ids, orders, sessions))
	}
	for i, size := range []int{7, len(evs)} {
		if diff := cmp.Diff(snaps[0], snaps[i+1], protocmp.Transform()); diff != "" {
			t.Errorf("batches of %d differ from one event at a time (-single +batched):\n%s", size, diff)
		}
	}
}

// tenEventsInRunsOfFour opens an index in dir whose ids are written four at
// a time, applies ten events of order o1 and returns the index, the events,
// their ids and a snapshot of what the index then answers.
func tenEventsInRunsOfFour(t *testing.T, dir string) (*Index, []*hooklinev1.Event, []string, snapshot) {
	t.Helper()
	x, err := OpenWith(dir, Options{IDFlushSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	var batch []*hooklinev1.Event
	var ids []string
	for seq := uint64(1); seq <= 10; seq++ {
		batch = append(batch, orderEv(seq, "o1", hooklinev1.OrderStatus_ORDER_STATUS_PENDING, int(seq)))
		ids = append(ids, fmt.Sprintf("evt_%d", seq))
	}
	if err := x.Apply(batch); err != nil {
		t.Fatal(err)
	}
	return x, batch, ids, takeSnapshot(t, x, ids, []string{"o1"}, nil)
}

// After a crash the id set may hold fewer ids than the state has applied:
// Applied resumes from the earlier point, and applying the log again from
// there restores the ids without counting any event twice.
func TestResumeAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index")
	x, batch, ids, want := tenEventsInRunsOfFour(t, path)
	// The crash: bbolt is closed (its transactions are durable), the id
	// set's in-memory ids are not written. (Two runs of the same size
	// class: no merge is running.)
	if err := x.db.Close(); err != nil {
		t.Fatal(err)
	}

	x, err := OpenWith(path, Options{IDFlushSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	applied, _ := x.Applied()
	if applied != 8 {
		t.Fatalf("Applied after the crash = %d, want 8 (two runs of 4 ids written)", applied)
	}
	if _, err := x.Lookup("evt_9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("evt_9 found before it was applied again: %v", err)
	}
	if err := x.Apply(batch[applied:]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, takeSnapshot(t, x, ids, []string{"o1"}, nil), protocmp.Transform()); diff != "" {
		t.Errorf("index after the crash and replay differs (-before +after):\n%s", diff)
	}
}

// A random walk through applies, crashes, clean restarts and sweeps, with
// ids written in tiny runs so that flushes and merges happen all the time,
// checked after every step against what the log says: every id applied and
// not swept is found with its sequence, and the order state equals that of
// an index that applied the same events once, in one go.
func TestRandomCrashesAndRestarts(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var log []*hooklinev1.Event
	for seq := uint64(1); seq <= 3000; seq++ {
		log = append(log, orderEv(seq, fmt.Sprintf("o%d", rng.IntN(40)), hooklinev1.OrderStatus(1+rng.IntN(3)), rng.IntN(100)))
	}
	ref, _ := openTest(t)
	if err := ref.Apply(log); err != nil {
		t.Fatal(err)
	}
	orders := make([]string, 40)
	for i := range orders {
		orders[i] = fmt.Sprintf("o%d", i)
	}

	dir := filepath.Join(t.TempDir(), "index")
	open := func() *Index {
		x, err := OpenWith(dir, Options{IDFlushSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x := open()
	defer func() { x.Close() }()
	var swept uint64 // ids below it are forgotten
	// The sweep floor is the log's first sequence, which the index does not
	// keep: the server sweeps when it starts, and so does this test.
	resweep := func(x *Index) {
		if err := x.Sweep(swept); err != nil {
			t.Fatal(err)
		}
	}
	for step := 0; ; step++ {
		applied, _ := x.Applied()
		if applied == uint64(len(log)) {
			break
		}
		switch r := rng.IntN(10); {
		case r < 7: // the follower applies the next batch
			end := min(int(applied)+1+rng.IntN(100), len(log))
			if err := x.Apply(log[applied:end]); err != nil {
				t.Fatal(err)
			}
		case r < 8: // crash: bbolt's commits are durable, the id set's memory is lost
			x.ids.Abandon()
			x.db.Close()
			x = open()
			resweep(x)
		case r < 9: // clean restart
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			x = open()
			resweep(x)
		default: // retention moves the log's first sequence
			if applied > swept+50 {
				swept += uint64(rng.IntN(50))
				if err := x.Sweep(swept); err != nil {
					t.Fatal(err)
				}
			}
		}
		now, _ := x.Applied()
		for _, ev := range log[:now] {
			e, err := x.Lookup(ev.GetId())
			switch {
			case ev.GetSequence() < swept:
				// A swept id may linger on disk until its run is merged or
				// dropped, but Lookup must not return it.
				if err == nil {
					t.Fatalf("step %d: swept %s still found", step, ev.GetId())
				}
			case err != nil || e.Sequence != ev.GetSequence():
				t.Fatalf("step %d: Lookup(%s) = %+v, %v; want sequence %d", step, ev.GetId(), e, err, ev.GetSequence())
			}
		}
	}
	want := takeSnapshot(t, ref, nil, orders, nil)
	got := takeSnapshot(t, x, nil, orders, nil)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("state after crashes and restarts differs from one clean pass (-clean +crashed):\n%s", diff)
	}
}

// A damaged id file does not stop the gateway: Open discards the ids, says
// so, and sends the caller back to the start of the log, which restores them
// without counting any event twice in the state.
func TestDamagedIDsAreRebuiltFromTheLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	x, batch, ids, want := tenEventsInRunsOfFour(t, dir)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	runs, err := filepath.Glob(filepath.Join(dir, "ids", "*.run"))
	if err != nil || len(runs) == 0 {
		t.Fatalf("no run files: %v", err)
	}
	if err := os.WriteFile(runs[0], []byte("not a run"), 0o600); err != nil {
		t.Fatal(err)
	}

	x, err = OpenWith(dir, Options{IDFlushSize: 4})
	if err != nil {
		t.Fatalf("Open with a damaged id file: %v", err)
	}
	defer x.Close()
	if x.Recovered() == "" {
		t.Error("Recovered() is empty after discarding the ids")
	}
	if applied, _ := x.Applied(); applied != 0 {
		t.Fatalf("Applied = %d, want 0 (replay the log)", applied)
	}
	if err := x.Apply(batch); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, takeSnapshot(t, x, ids, []string{"o1"}, nil), protocmp.Transform()); diff != "" {
		t.Errorf("index after rebuilding the ids differs (-before +after):\n%s", diff)
	}
}

// Recent, the de-duplication lookup, finds only ids received inside the
// horizon; Lookup (GetEvent) finds every id the index holds, also from runs
// that dropped their Bloom filter.
func TestRecentLooksOnlyInsideTheHorizon(t *testing.T) {
	x, err := OpenWith(filepath.Join(t.TempDir(), "index"), Options{IDFlushSize: 2, DedupHorizon: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	// orderEv receives event seq at `received` + seq seconds, in 2026; the
	// horizon is measured from now, so all of them are far older than an
	// hour and their runs keep no filter.
	batch := []*hooklinev1.Event{
		orderEv(1, "o1", hooklinev1.OrderStatus_ORDER_STATUS_PENDING, 1),
		orderEv(2, "o1", hooklinev1.OrderStatus_ORDER_STATUS_SENT, 2),
		orderEv(3, "o1", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, 3),
	}
	if err := x.Apply(batch); err != nil {
		t.Fatal(err)
	}
	for _, ev := range batch {
		at := ev.GetReceiveTime().AsTime()
		if _, err := x.Recent(ev.GetId(), at.Add(time.Second)); !errors.Is(err, ErrNotFound) {
			t.Errorf("Recent(%s) since after its receipt: %v, want ErrNotFound", ev.GetId(), err)
		}
		if e, err := x.Recent(ev.GetId(), at); err != nil || e.Sequence != ev.GetSequence() {
			t.Errorf("Recent(%s) since its receipt = %+v, %v", ev.GetId(), e, err)
		}
		if e, err := x.Lookup(ev.GetId()); err != nil || e.Sequence != ev.GetSequence() {
			t.Errorf("Lookup(%s) = %+v, %v", ev.GetId(), e, err)
		}
	}
}

// TestLongKeys: an order id or session key of any length keeps its state
// (bbolt refuses keys over 32 KiB, which used to fail the whole Apply and
// stop the index), and two long keys with the same beginning stay apart.
func TestLongKeys(t *testing.T) {
	x, _ := openTest(t)
	a := strings.Repeat("a", 40000)
	b := strings.Repeat("a", 39999) + "b"
	short := strings.Repeat("c", maxPlainStateKey)
	evs := []*hooklinev1.Event{
		orderEv(1, a, hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, 1),
		orderEv(2, b, hooklinev1.OrderStatus_ORDER_STATUS_PENDING, 1),
		sessionEv(3, a, hooklinev1.SessionStage_SESSION_STAGE_DONE, 1),
		orderEv(4, short, hooklinev1.OrderStatus_ORDER_STATUS_SENT, 1),
	}
	if err := x.Apply(evs); err != nil {
		t.Fatalf("Apply with long keys: %v", err)
	}
	for id, want := range map[string]hooklinev1.OrderStatus{
		a: hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, b: hooklinev1.OrderStatus_ORDER_STATUS_PENDING,
		short: hooklinev1.OrderStatus_ORDER_STATUS_SENT,
	} {
		st, err := x.Order(id)
		if err != nil || st.GetStatus() != want || st.GetOrderId() != id {
			t.Errorf("Order(%d bytes) = %v (id of %d bytes), %v; want %v", len(id), st.GetStatus(), len(st.GetOrderId()), err, want)
		}
	}
	if st, err := x.Session(a); err != nil || st.GetStage() != hooklinev1.SessionStage_SESSION_STAGE_DONE {
		t.Errorf("Session(long) = %v, %v", st.GetStage(), err)
	}
	if _, err := x.Order(strings.Repeat("a", 40001)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Order of an unknown long id: %v, want ErrNotFound", err)
	}
}

// TestCorrections: a corrected event records what it supersedes, and
// updates the state (and its event count) as any later event at the same
// provider time would.
func TestCorrections(t *testing.T) {
	x, _ := openTest(t)
	orig := orderEv(1, "o1", hooklinev1.OrderStatus_ORDER_STATUS_UNKNOWN, 5)
	fix := orderEv(2, "o1", hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED, 5)
	fix.Derived, fix.SupersedesId, fix.MappingVersion = true, orig.GetId(), 2
	if err := x.Apply([]*hooklinev1.Event{orig, fix}); err != nil {
		t.Fatal(err)
	}
	if by, err := x.SupersededBy(orig.GetId()); err != nil || by != fix.GetId() {
		t.Errorf("SupersededBy(original) = %q, %v; want %s", by, err, fix.GetId())
	}
	if _, err := x.SupersededBy(fix.GetId()); !errors.Is(err, ErrNotFound) {
		t.Errorf("SupersededBy(correction) = %v, want ErrNotFound", err)
	}
	st, err := x.Order("o1")
	if err != nil || st.GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED || st.GetEventCount() != 2 || st.GetLastEventId() != fix.GetId() {
		t.Errorf("state %v (count %d, last %s), %v; want COMPLETED from the correction, two events", st.GetStatus(), st.GetEventCount(), st.GetLastEventId(), err)
	}
}
