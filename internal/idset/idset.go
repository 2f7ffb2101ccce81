// Package idset is the gateway's long-horizon set of event ids: event id →
// (log sequence, receive time), for de-duplication across a provider's whole
// retry horizon and for GetEvent.
//
// It is built for a high insert rate of random keys. New ids go to an
// in-memory table; when the table holds FlushSize ids it is written, sorted,
// as an immutable run file. Runs of similar size are merged in the
// background, four at a time, so a set of n ids has about 3·log4(n/FlushSize)
// runs. Each run keeps one key per 4 KiB block in memory, and a Bloom filter
// (10 bits per id) while it holds ids received within Options.FilterAge; its
// records stay on disk and are read through the page cache. A lookup checks
// the table, then the runs from newest to oldest: the Bloom filter answers
// most misses, and a hit (or a run without a filter) costs one 4 KiB read.
// LookupSince skips the runs whose newest id is older than a given time, so
// de-duplication over a horizon never reads a run without a filter; heap
// then grows with the ids inside the horizon, not with all the ids kept.
//
// Writing a run is sequential, where a B-tree rewrites a page for almost
// every random key it inserts; that is the reason for this package (see
// BenchmarkAdd).
//
// Durability: the set is a projection of the event log. Ids still in the
// table are lost when the process stops without Close; Applied reports the
// highest sequence that is on disk, and the caller re-adds what follows from
// the log. Add is idempotent. A Set is safe for concurrent use.
package idset

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry is what the set knows of an id.
type Entry struct {
	// Sequence is the event's position in the log.
	Sequence uint64
	// ReceiveNanos is when the gateway received the event, in Unix
	// nanoseconds.
	ReceiveNanos int64
}

// DefaultFlushSize is the default size of the in-memory table: 65 536 ids,
// about 4 MiB of heap, written as a 2 MiB run.
const DefaultFlushSize = 1 << 16

// Options tune a Set. The zero value is valid.
type Options struct {
	// FlushSize is how many ids the in-memory table holds before it is
	// written as a run. Default DefaultFlushSize.
	FlushSize int
	// FilterAge: a run whose newest id was received longer ago than this
	// drops its Bloom filter (LookupSince past that age does not read it,
	// Lookup reads it without the filter). 0 keeps every filter.
	FilterAge time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// mergeFanIn is how many runs of one size class are merged into one.
const mergeFanIn = 4

// Set is the id set.
type Set struct {
	dir       string
	flushSize int
	filterAge time.Duration
	now       func() time.Time

	mu  sync.RWMutex
	mem map[key]Entry
	// frozen is the table a Flush is writing (nil otherwise): read-only,
	// still looked in, dropped once its run is in runs. Swapping tables
	// keeps Flush's critical sections O(1): lookups on the ingest path
	// never wait for a whole table to be copied or cleared.
	frozen  map[key]Entry
	runs    []*run // newest first
	floor   uint64 // sequences below it are forgotten
	nextID  uint64 // file name counter
	merging bool
	closed  bool
	// A failed merge leaves its inputs in place and is tried again after
	// a backoff; the set works on meanwhile, with more runs to look in.
	mergeFailures uint64    // total
	mergeStreak   int       // consecutive failures
	mergeRetry    time.Time // no merge starts before it
	lastMergeErr  error

	mergeDone sync.WaitGroup
	flushMu   sync.Mutex // one Flush at a time
	// flushing, when set (tests), runs while a Flush writes its run.
	flushing func()
}

// Open opens or creates the set in dir.
func Open(dir string, opts Options) (*Set, error) {
	if opts.FlushSize <= 0 {
		opts.FlushSize = DefaultFlushSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("idset: %w", err)
	}
	s := &Set{dir: dir, flushSize: opts.FlushSize, filterAge: opts.FilterAge, now: opts.Now, mem: map[key]Entry{}}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("idset: %w", err)
	}
	for _, de := range names {
		name := de.Name()
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			// A run that was being written when the process stopped.
			_ = os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, runSuffix):
			r, err := openRun(filepath.Join(dir, name))
			if err != nil {
				s.closeRuns()
				return nil, err
			}
			s.runs = append(s.runs, r)
			s.nextID = max(s.nextID, r.id+1)
		}
	}
	s.sortRuns()
	s.dropOldFiltersLocked()
	return s, nil
}

// dropOldFiltersLocked releases the Bloom filters of runs whose newest id
// is older than filterAge.
func (s *Set) dropOldFiltersLocked() {
	if s.filterAge <= 0 {
		return
	}
	limit := s.now().Add(-s.filterAge).UnixNano()
	for _, r := range s.runs {
		if r.maxRecv < limit {
			r.bloom = nil
		}
	}
}

// sortRuns orders the runs newest first: by their highest sequence (runs
// hold disjoint ranges of sequences), then by file number. A crash between
// writing a merge and removing its inputs leaves both; the duplicates are
// harmless and the next merge folds them.
func (s *Set) sortRuns() {
	slices.SortFunc(s.runs, func(a, b *run) int {
		if c := cmp.Compare(b.maxSeq, a.maxSeq); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
}

// Add records id. Adding an id again with the same entry changes nothing; a
// later sequence replaces an earlier one.
func (s *Set) Add(id string, e Entry) error {
	k := keyOf(id)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	cur, ok := s.mem[k]
	if !ok {
		cur, ok = s.frozen[k]
	}
	if !ok || e.Sequence >= cur.Sequence {
		s.mem[k] = e
	}
	full := len(s.mem) >= s.flushSize
	s.mu.Unlock()
	if full {
		return s.Flush()
	}
	return nil
}

// Lookup returns the entry of id; ok is false when the set does not hold it.
func (s *Set) Lookup(id string) (e Entry, ok bool, err error) {
	return s.LookupSince(id, math.MinInt64)
}

// LookupSince is Lookup for ids received at or after since (Unix
// nanoseconds): it skips the runs whose newest id is older, and may return
// ids older than since from the runs it reads.
func (s *Set) LookupSince(id string, since int64) (e Entry, ok bool, err error) {
	k := keyOf(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Entry{}, false, errClosed
	}
	if e, ok := s.mem[k]; ok && e.Sequence >= s.floor {
		return e, true, nil
	}
	if e, ok := s.frozen[k]; ok && e.Sequence >= s.floor {
		return e, true, nil
	}
	for _, r := range s.runs {
		if r.maxRecv < since {
			continue
		}
		e, ok, err := r.lookup(k)
		if err != nil {
			return Entry{}, false, err
		}
		if ok {
			if e.Sequence < s.floor {
				return Entry{}, false, nil
			}
			return e, true, nil
		}
	}
	return Entry{}, false, nil
}

// Applied returns the highest sequence whose id is on disk: after a restart
// the caller adds the ids of the events that follow it.
func (s *Set) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var a uint64
	for _, r := range s.runs {
		a = max(a, r.maxSeq)
	}
	return a
}

// Runs returns how many run files the set has.
func (s *Set) Runs() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.runs)
}

// Flush writes the in-memory table as a run. Lookups see the table's ids
// throughout: the table is set aside (frozen) and a new one takes the adds
// while the run is written.
func (s *Set) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	if len(s.mem) == 0 {
		s.mu.Unlock()
		return nil
	}
	table := s.mem
	// No size hint: the new table grows a group of slots at a time as ids
	// come, instead of zeroing a full table's memory under the lock.
	s.frozen, s.mem = table, map[key]Entry{}
	floor := s.floor
	id := s.nextID
	s.nextID++
	s.mu.Unlock()

	// The write happens outside the lock: Add and Lookup go on meanwhile.
	// The frozen table is read-only, so it is read here without the lock.
	if s.flushing != nil {
		s.flushing()
	}
	snap := make([]record, 0, len(table))
	for k, e := range table {
		snap = append(snap, record{key: k, Entry: e})
	}
	slices.SortFunc(snap, func(a, b record) int { return a.key.cmp(b.key) })
	live := func(yield func(record) bool) {
		for _, rec := range snap {
			if rec.Sequence >= floor && !yield(rec) {
				return
			}
		}
	}
	r, err := writeRun(s.dir, id, len(snap), live)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen = nil
	if err != nil {
		// Nothing was written: the frozen ids go back into the table,
		// where the ids added meanwhile (newer) win, for the next Flush.
		for k, e := range table {
			if cur, ok := s.mem[k]; !ok || e.Sequence > cur.Sequence {
				s.mem[k] = e
			}
		}
		return err
	}
	if r != nil {
		s.runs = append([]*run{r}, s.runs...)
	}
	s.dropOldFiltersLocked()
	s.maybeMergeLocked()
	return nil
}

// Sweep forgets every id whose sequence is below first (events the log no
// longer holds): whole runs go at once, the rest at their next merge.
// Lookups stop returning them immediately.
func (s *Set) Sweep(first uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.floor = max(s.floor, first)
	for k, e := range s.mem {
		if e.Sequence < s.floor {
			delete(s.mem, k)
		}
	}
	kept := s.runs[:0]
	var gone []*run
	for _, r := range s.runs {
		if r.maxSeq < s.floor && !r.merging {
			gone = append(gone, r)
			continue
		}
		kept = append(kept, r)
	}
	s.runs = kept
	s.mu.Unlock()
	// Out of s.runs, the gone runs are out of every lookup's reach: they
	// are closed and removed without the lock (see merge).
	var errs []error
	for _, r := range gone {
		r.close()
		errs = append(errs, os.Remove(r.path))
	}
	return errors.Join(errs...)
}

// Close waits for a running merge, writes the in-memory table and closes
// the files.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	s.mergeDone.Wait()
	err := s.Flush()
	s.mergeDone.Wait()
	s.mu.Lock()
	s.closed = true
	s.closeRuns()
	s.mu.Unlock()
	return err
}

// Abandon closes the set without writing the in-memory table, leaving the
// files as a crash would (after any running merge): for recovery tests.
func (s *Set) Abandon() {
	s.mergeDone.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.closeRuns()
	}
}

func (s *Set) closeRuns() {
	for _, r := range s.runs {
		r.close()
	}
}

// maybeMergeLocked starts a background merge of the oldest group of
// mergeFanIn adjacent runs of one size class. Merging only adjacent runs
// keeps the runs ordered by age, so the newest entry of an id is found
// first; merging the oldest group first keeps the runs ordered by size
// class too (small and new on top), so no small run is left stranded between
// larger ones.
func (s *Set) maybeMergeLocked() {
	if s.merging || s.closed || s.now().Before(s.mergeRetry) {
		return
	}
	for i := len(s.runs) - mergeFanIn; i >= 0; i-- {
		group := s.runs[i : i+mergeFanIn]
		c := group[0].class(s.flushSize)
		same := true
		for _, r := range group[1:] {
			if r.class(s.flushSize) != c {
				same = false
				break
			}
		}
		if !same {
			continue
		}
		inputs := slices.Clone(group)
		for _, r := range inputs {
			r.merging = true
		}
		id := s.nextID
		s.nextID++
		s.merging = true
		s.mergeDone.Add(1)
		go s.merge(id, inputs, s.floor)
		return
	}
}

// merge writes inputs (adjacent, newest first) as one run and swaps it in.
func (s *Set) merge(id uint64, inputs []*run, floor uint64) {
	defer s.mergeDone.Done()
	var n int
	for _, r := range inputs {
		n += int(r.count)
	}
	var readErr error
	out, err := writeRun(s.dir, id, n, mergeRecords(inputs, floor, &readErr))
	if err == nil && readErr != nil {
		if out != nil {
			out.close()
			_ = os.Remove(out.path)
		}
		err = readErr
	}
	s.mu.Lock()
	s.merging = false
	for _, r := range inputs {
		r.merging = false
	}
	if err != nil {
		defer s.mu.Unlock()
		// The inputs are untouched: try again later, after 1s, 2s, 4s, …
		// up to a minute.
		s.mergeFailures++
		s.mergeStreak++
		s.lastMergeErr = fmt.Errorf("idset merge: %w", err)
		s.mergeRetry = s.now().Add(min(time.Second<<min(s.mergeStreak-1, 6), maxMergeBackoff))
		return
	}
	s.mergeStreak = 0
	i := slices.Index(s.runs, inputs[0])
	var runs []*run
	runs = append(runs, s.runs[:i]...)
	if out != nil {
		runs = append(runs, out)
	}
	runs = append(runs, s.runs[i+len(inputs):]...)
	s.runs = runs
	s.dropOldFiltersLocked()
	s.maybeMergeLocked()
	s.mu.Unlock()
	// No lookup can reach the inputs any more (lookups hold the read lock
	// across their walk of s.runs), so they are closed and removed without
	// the lock: deleting files can take milliseconds.
	for _, r := range inputs {
		r.close()
		_ = os.Remove(r.path)
	}
}

// maxMergeBackoff bounds the wait before a failed merge is tried again.
const maxMergeBackoff = time.Minute

// Stats describe the set for metrics.
type Stats struct {
	// Runs is the number of run files.
	Runs int
	// InMemory is the number of ids in the in-memory table.
	InMemory int
	// InRuns is the number of records in the run files: the ids on disk,
	// where an id written twice (a replayed batch) counts twice until a
	// merge folds its records into one.
	InRuns int
	// MergeFailures counts failed background merges (each is retried).
	MergeFailures uint64
	// LastMergeError is the last merge failure, or nil.
	LastMergeError error
}

// Stats returns the set's current figures.
func (s *Set) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Runs: len(s.runs), InMemory: len(s.mem) + len(s.frozen), MergeFailures: s.mergeFailures, LastMergeError: s.lastMergeErr}
	for _, r := range s.runs {
		st.InRuns += int(r.count)
	}
	return st
}

var errClosed = errors.New("idset: closed")

// ErrCorrupt means a run file failed its checks (size or checksum) when the
// set was opened.
var ErrCorrupt = errors.New("damaged run file")

// key is the 16 bytes an id is stored under: the hex digits of an
// `evt_<32 hex>` id, else the first 16 bytes of the id's SHA-256.
type key [16]byte

func keyOf(id string) key {
	var k key
	if len(id) == 36 && strings.HasPrefix(id, "evt_") && lowerHex(id[4:]) {
		_, _ = hex.Decode(k[:], []byte(id[4:]))
		return k
	}
	sum := sha256.Sum256([]byte(id))
	copy(k[:], sum[:16])
	return k
}

func (k key) cmp(o key) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(o[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(k[8:]), binary.BigEndian.Uint64(o[8:]))
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
