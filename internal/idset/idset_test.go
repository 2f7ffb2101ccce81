package idset

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openSet(t *testing.T, dir string, flushSize int) *Set {
	t.Helper()
	s, err := Open(dir, Options{FlushSize: flushSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eventID returns an id shaped like the gateway's (evt_ + 32 hex digits).
func eventID(rng *rand.Rand) string {
	return fmt.Sprintf("evt_%016x%016x", rng.Uint64(), rng.Uint64())
}

// checkAll looks every id up and compares with want; absent lists ids that
// must not be found.
func checkAll(t *testing.T, s *Set, want map[string]Entry, absent []string) {
	t.Helper()
	for id, w := range want {
		got, ok, err := s.Lookup(id)
		if err != nil || !ok || got != w {
			t.Fatalf("Lookup(%s) = %+v, %v, %v; want %+v", id, got, ok, err, w)
		}
	}
	for _, id := range absent {
		if got, ok, err := s.Lookup(id); err != nil || ok {
			t.Fatalf("Lookup(%s) = %+v, %v, %v; want absent", id, got, ok, err)
		}
	}
}

// waitMerged waits until no merge is running.
func waitMerged(s *Set) { s.mergeDone.Wait() }

func TestAddLookupAcrossFlushesMergesAndReopen(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	s := openSet(t, dir, 64)
	want := map[string]Entry{}
	var absent []string
	for seq := uint64(1); seq <= 20_000; seq++ {
		id := eventID(rng)
		// Other id shapes are hashed instead of decoded.
		if seq%97 == 0 {
			id = fmt.Sprintf("custom id %d with spaces.and*dots>", seq)
		}
		e := Entry{Sequence: seq, ReceiveNanos: int64(seq) * 1e9}
		if err := s.Add(id, e); err != nil {
			t.Fatal(err)
		}
		want[id] = e
		if seq%1000 == 0 {
			absent = append(absent, eventID(rng))
		}
	}
	waitMerged(s)
	checkAll(t, s, want, absent)
	// 20 000 ids in runs of 64 merged four at a time: a handful of runs,
	// not hundreds.
	if n := s.Runs(); n > 20 {
		t.Errorf("%d runs for 20 000 ids; merging should keep about 3 per size class", n)
	}
	if a := s.Applied(); a == 0 || a > 20_000 {
		t.Errorf("Applied = %d", a)
	}

	// Close writes the table: everything is back after reopening.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSet(t, dir, 64)
	if a := s.Applied(); a != 20_000 {
		t.Errorf("Applied after Close and reopen = %d, want 20000", a)
	}
	checkAll(t, s, want, absent)
}

func TestUnflushedIdsAreLostAndAppliedSaysSo(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, 100)
	rng := rand.New(rand.NewPCG(2, 2))
	ids := make([]string, 250)
	for i := range ids {
		ids[i] = eventID(rng)
		if err := s.Add(ids[i], Entry{Sequence: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	waitMerged(s)
	// A second Set on the same directory sees what a restart after a crash
	// would: the two full runs, not the 50 ids still in memory.
	after := openSet(t, dir, 100)
	if a := after.Applied(); a != 200 {
		t.Fatalf("Applied after a crash = %d, want 200", a)
	}
	if _, ok, _ := after.Lookup(ids[199]); !ok {
		t.Errorf("id 200 (flushed) not found after the crash")
	}
	if _, ok, _ := after.Lookup(ids[200]); ok {
		t.Errorf("id 201 (never flushed) found after the crash")
	}
	// Re-adding from the log is idempotent.
	for i := 150; i < 250; i++ {
		if err := after.Add(ids[i], Entry{Sequence: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		if e, ok, err := after.Lookup(id); err != nil || !ok || e.Sequence != uint64(i+1) {
			t.Fatalf("Lookup(id %d) = %+v, %v, %v", i+1, e, ok, err)
		}
	}
}

func TestLaterSequenceWins(t *testing.T) {
	s := openSet(t, t.TempDir(), 4)
	// The same id stored twice (a retry that slipped past both
	// de-duplication tiers): the later sequence is the answer, whether the
	// two are in memory, in one run or in two runs being merged.
	if err := s.Add("evt_00000000000000000000000000000001", Entry{Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := s.Add(fmt.Sprintf("filler-%d", i), Entry{Sequence: uint64(2 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add("evt_00000000000000000000000000000001", Entry{Sequence: 50}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("evt_00000000000000000000000000000001", Entry{Sequence: 7}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"before flush", "after flush"} {
		if e, ok, err := s.Lookup("evt_00000000000000000000000000000001"); err != nil || !ok || e.Sequence != 50 {
			t.Fatalf("%s: Lookup = %+v, %v, %v; want sequence 50", step, e, ok, err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		waitMerged(s)
	}
	// Ids that differ only in case are different ids.
	if err := s.Add("evt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Entry{Sequence: 100}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup("evt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); ok {
		t.Errorf("an upper-case id matched its lower-case twin")
	}
}

func TestSweepForgetsOldSequences(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, 50)
	rng := rand.New(rand.NewPCG(3, 3))
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = eventID(rng)
		if err := s.Add(ids[i], Entry{Sequence: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	waitMerged(s)
	before := s.Runs()
	if err := s.Sweep(801); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		_, ok, err := s.Lookup(id)
		if err != nil || ok != (i+1 >= 801) {
			t.Fatalf("after Sweep(801): Lookup(id %d) found=%v, %v", i+1, ok, err)
		}
	}
	if s.Runs() >= before {
		t.Errorf("Sweep removed no run (%d before, %d after)", before, s.Runs())
	}
	// Forgotten ids stay forgotten after a restart, once merges and sweeps
	// have run again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSet(t, dir, 50)
	if err := s.Sweep(801); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup(ids[0]); ok {
		t.Errorf("swept id found after reopen")
	}
	if _, ok, _ := s.Lookup(ids[999]); !ok {
		t.Errorf("kept id lost after reopen")
	}
}

func TestOpenRejectsDamagedRunsAndCleansTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, 10)
	for i := range 10 {
		if err := s.Add(fmt.Sprint("id-", i), Entry{Sequence: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, runName(99)+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("half-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openSet(t, dir, 10)
	s.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left after Open: %v", err)
	}

	runs, _ := filepath.Glob(filepath.Join(dir, "*"+runSuffix))
	if len(runs) != 1 {
		t.Fatalf("runs = %v", runs)
	}
	data, err := os.ReadFile(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xff // the fence, covered by the checksum
	if err := os.WriteFile(runs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{FlushSize: 10}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("Open with a damaged run: %v, want a checksum error", err)
	}
	if err := os.WriteFile(runs[0], data[:len(data)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{FlushSize: 10}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "size") {
		t.Errorf("Open with a truncated run: %v, want a size error", err)
	}
}

func TestBloomFalsePositiveRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const n = 100_000
	f := make([]uint64, bloomBlocks(n)*8)
	for range n {
		bloomAdd(f, keyOf(eventID(rng)))
	}
	fp := 0
	for range n {
		if bloomHas(f, keyOf(eventID(rng))) {
			fp++
		}
	}
	// 10 bits per key and 7 bits per key in a 512-bit block: about 1 %.
	if rate := float64(fp) / n; rate > 0.02 {
		t.Errorf("false positive rate %.4f, want ≤ 0.02", rate)
	}
}

func TestConcurrentAddAndLookup(t *testing.T) {
	s := openSet(t, t.TempDir(), 256)
	rng := rand.New(rand.NewPCG(5, 5))
	ids := make([]string, 20_000)
	for i := range ids {
		ids[i] = eventID(rng)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, id := range ids {
			if err := s.Add(id, Entry{Sequence: uint64(i + 1)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	deadline := time.Now().Add(time.Minute)
	for lookups := 0; ; lookups++ {
		select {
		case <-done:
			waitMerged(s)
			for i, id := range ids {
				if e, ok, err := s.Lookup(id); err != nil || !ok || e.Sequence != uint64(i+1) {
					t.Fatalf("Lookup(id %d) = %+v, %v, %v", i+1, e, ok, err)
				}
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("adds did not finish")
		}
		if _, _, err := s.Lookup(ids[lookups%len(ids)]); err != nil {
			t.Fatal(err)
		}
	}
}

// Runs whose ids all left the filter age drop their Bloom filters:
// LookupSince past that age does not read them at all, Lookup still finds
// their ids (without the filter), and the filters' heap is released.
func TestOldRunsDropTheirFilters(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	s, err := Open(dir, Options{FlushSize: 10, FilterAge: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(6, 6))
	add := func(n int, first uint64, at time.Time) []string {
		var ids []string
		for i := range n {
			id := eventID(rng)
			if err := s.Add(id, Entry{Sequence: first + uint64(i), ReceiveNanos: at.UnixNano()}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	old := add(10, 1, now.Add(-2*time.Hour)) // one run, received two hours ago
	recent := add(10, 11, now)               // one run, received now
	waitMerged(s)
	filters := 0
	for _, r := range s.runs {
		if r.bloom != nil {
			filters++
		}
	}
	if filters != 1 || s.Runs() != 2 {
		t.Fatalf("%d runs, %d with a filter; want 2 runs, only the recent one filtered", s.Runs(), filters)
	}
	since := now.Add(-time.Hour).UnixNano()
	for _, id := range old {
		if _, ok, err := s.LookupSince(id, since); err != nil || ok {
			t.Fatalf("LookupSince found an id older than the horizon (%v, %v)", ok, err)
		}
		if _, ok, err := s.Lookup(id); err != nil || !ok {
			t.Fatalf("Lookup lost an old id (%v, %v)", ok, err)
		}
	}
	for _, id := range recent {
		if _, ok, err := s.LookupSince(id, since); err != nil || !ok {
			t.Fatalf("LookupSince lost a recent id (%v, %v)", ok, err)
		}
	}
	// The receive time survives a restart, and so does the decision.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{FlushSize: 10, FilterAge: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.runs {
		if (r.bloom != nil) != (r.maxRecv >= since) {
			t.Errorf("after reopen: run %d (newest id at %v) has filter=%v", r.id, time.Unix(0, r.maxRecv), r.bloom != nil)
		}
	}
	if _, ok, err := s.Lookup(old[0]); err != nil || !ok {
		t.Errorf("after reopen: Lookup lost an old id (%v, %v)", ok, err)
	}
}

// TestFailedMergeIsRetried: a merge that cannot write its output leaves its
// inputs as they were; Add, Flush and Lookup go on, and the merge is tried
// again at the first flush after its backoff.
func TestFailedMergeIsRetried(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	s, err := Open(dir, Options{FlushSize: 1 << 20, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 3))
	want := map[string]Entry{}
	seq := uint64(0)
	addAndFlush := func() {
		t.Helper()
		for range 10 {
			seq++
			id := eventID(rng)
			want[id] = Entry{Sequence: seq, ReceiveNanos: now.UnixNano()}
			if err := s.Add(id, want[id]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(); err != nil {
			t.Fatalf("Flush after %d ids: %v", seq, err)
		}
	}
	// Runs 0-3; the fourth flush starts merging them into run 4. A
	// directory where run 4's temporary file goes makes that write fail.
	if err := os.Mkdir(filepath.Join(dir, runName(4)+tmpSuffix), 0o750); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		addAndFlush()
	}
	waitMerged(s)
	st := s.Stats()
	if st.MergeFailures != 1 || st.LastMergeError == nil || st.Runs != 4 {
		t.Fatalf("after the failed merge: %+v, want 1 failure and the 4 runs kept", st)
	}
	checkAll(t, s, want, nil)

	// Within the backoff another flush adds a run and merges nothing.
	addAndFlush()
	waitMerged(s)
	if st := s.Stats(); st.Runs != 5 || st.MergeFailures != 1 {
		t.Fatalf("flush within the backoff: %+v, want 5 runs, no new merge", st)
	}
	// After it, the next flush merges again (under a new run id).
	now = now.Add(2 * time.Second)
	addAndFlush()
	waitMerged(s)
	if st := s.Stats(); st.Runs >= 6 || st.MergeFailures != 1 {
		t.Fatalf("flush after the backoff: %+v, want the runs merged", st)
	}
	checkAll(t, s, want, nil)
}

// A Flush that cannot write its run keeps every id: they stay visible to
// lookups, count as in memory, and go into the next run, where an id
// added again meanwhile with a later sequence keeps the later one.
func TestFailedFlushKeepsIds(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, 1<<20)
	rng := rand.New(rand.NewPCG(9, 9))
	want := map[string]Entry{}
	var ids []string
	for i := range 100 {
		id := eventID(rng)
		ids = append(ids, id)
		want[id] = Entry{Sequence: uint64(i + 1)}
		if err := s.Add(id, want[id]); err != nil {
			t.Fatal(err)
		}
	}
	// A directory where run 0's temporary file goes makes the write fail.
	blocker := filepath.Join(dir, runName(0)+tmpSuffix)
	if err := os.Mkdir(blocker, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("Flush succeeded with its run file blocked")
	}
	if st := s.Stats(); st.Runs != 0 || st.InMemory != 100 {
		t.Fatalf("after the failed flush: %+v, want no run and 100 ids in memory", st)
	}
	checkAll(t, s, want, nil)

	// Meanwhile: one id again with a later sequence, one with an earlier
	// one (ignored), one new id.
	later, earlier, fresh := ids[0], ids[1], eventID(rng)
	want[later] = Entry{Sequence: 500}
	want[fresh] = Entry{Sequence: 501}
	for id, e := range map[string]Entry{later: want[later], earlier: {Sequence: 1}, fresh: want[fresh]} {
		if err := s.Add(id, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Runs != 1 || st.InMemory != 0 || st.InRuns != len(want) {
		t.Fatalf("after the second flush: %+v, want one run of %d ids and nothing in memory", st, len(want))
	}
	checkAll(t, s, want, nil)
}

// While a Flush writes its run, lookups find the ids being written, and an
// id added again goes by the same rule as before: a later sequence
// replaces the one being written, an earlier one is ignored.
func TestAddAndLookupDuringFlush(t *testing.T) {
	s := openSet(t, t.TempDir(), 1<<20)
	rng := rand.New(rand.NewPCG(10, 10))
	want := map[string]Entry{}
	var ids []string
	for i := range 10 {
		id := eventID(rng)
		ids = append(ids, id)
		want[id] = Entry{Sequence: uint64(i + 1)}
		if err := s.Add(id, want[id]); err != nil {
			t.Fatal(err)
		}
	}
	ran := false
	s.flushing = func() {
		ran = true
		checkAll(t, s, want, nil)
		if st := s.Stats(); st.InMemory != 10 {
			t.Errorf("during the flush: %+v, want the 10 ids counted in memory", st)
		}
		if err := s.Add(ids[0], Entry{Sequence: 100}); err != nil {
			t.Error(err)
		}
		if err := s.Add(ids[1], Entry{Sequence: 1}); err != nil { // earlier than 2: ignored
			t.Error(err)
		}
		want[ids[0]] = Entry{Sequence: 100}
		checkAll(t, s, want, nil)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if !ran {
		t.Fatal("the flush hook did not run")
	}
	s.flushing = nil
	if st := s.Stats(); st.Runs != 1 || st.InMemory != 1 {
		t.Fatalf("after the flush: %+v, want one run and the re-added id in memory", st)
	}
	checkAll(t, s, want, nil)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, want, nil)
}
