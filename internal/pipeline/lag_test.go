package pipeline

import (
	"testing"
	"time"
)

func TestLagWatchMeasure(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var w lagWatch
	if lag := w.measure(at(0), 0); lag != 0 {
		t.Fatalf("empty log: lag %s", lag)
	}
	w.saw(5)
	w.saw(3) // older news changes nothing
	if lag := w.measure(at(100), 5); lag != 0 {
		t.Fatalf("index caught up: lag %s", lag)
	}
	w.saw(8)
	steps := []struct {
		ms      int
		applied uint64
		saw     uint64
		want    time.Duration
	}{
		{200, 5, 0, 0},                        // 8 becomes known now
		{300, 5, 9, 100 * time.Millisecond},   // still behind since 200
		{400, 7, 0, 200 * time.Millisecond},   // 6-7 applied, 8 still not
		{500, 8, 0, 200 * time.Millisecond},   // 8 applied; 9 known since 300
		{600, 9, 0, 0},                        // caught up
		{700, 9, 12, 0},                       // 10-12 known from now
		{2700, 9, 0, 2000 * time.Millisecond}, // nothing applied for 2s
		{2800, 12, 0, 0},
	}
	for _, st := range steps {
		if st.saw != 0 {
			w.saw(st.saw)
		}
		if lag := w.measure(at(st.ms), st.applied); lag != st.want {
			t.Errorf("at %dms, applied %d: lag %s, want %s", st.ms, st.applied, lag, st.want)
		}
	}
}

// TestLagWatchMarksStayBounded: while the index stands still and the log
// grows, the watcher keeps at most maxLagMarks marks, and merging them
// never makes the lag look smaller than it is.
func TestLagWatchMarksStayBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var w lagWatch
	for i := range 3 * maxLagMarks {
		w.saw(uint64(i + 1))
		lag := w.measure(t0.Add(time.Duration(i)*lagTick), 0)
		if want := time.Duration(i) * lagTick; lag != want {
			t.Fatalf("step %d: lag %s, want %s", i, lag, want)
		}
	}
	if len(w.marks) > maxLagMarks {
		t.Fatalf("%d marks kept, want at most %d", len(w.marks), maxLagMarks)
	}
	// Apply half of what is known: the lag may only be over-estimated.
	n := uint64(3 * maxLagMarks)
	now := t0.Add(time.Duration(n) * lagTick)
	lag := w.measure(now, n/2)
	exact := now.Sub(t0.Add(time.Duration(n/2) * lagTick)) // sequence n/2+1 became known at step n/2
	if lag < exact || lag > exact+4*lagTick {
		t.Errorf("after applying half: lag %s, want at least %s and close to it", lag, exact)
	}
}
