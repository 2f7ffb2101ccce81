package idset

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkAdd adds b.N random event ids (with the default flush size, so
// runs are written and merged as in production) and, in the same run, puts
// the same ids into a bbolt bucket in transactions of 170 (the index's group
// commit at about 17 000 events/s), the structure this package replaces for
// ids (at most the first 200 000 of them, so that a run stays short). Both
// include their fsyncs; the Set's time includes waiting for its background
// merges.
//
// Metrics: ids/s, bbolt-ids/s, ratio-vs-bbolt.
func BenchmarkAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = eventID(rng)
	}
	s, err := Open(filepath.Join(b.TempDir(), "ids"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixNano()

	b.ResetTimer()
	for i, id := range ids {
		if err := s.Add(id, Entry{Sequence: uint64(i + 1), ReceiveNanos: now}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	s.mergeDone.Wait()
	b.StopTimer()
	d := b.Elapsed()

	// The baseline takes at most the first bboltMaxIDs ids: it is about 40
	// times slower, and a smaller tree only flatters it.
	base := ids[:min(len(ids), bboltMaxIDs)]
	start := time.Now()
	for i := 0; i < len(base); i += 170 {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("ids"))
			if err != nil {
				return err
			}
			for j, id := range base[i:min(i+170, len(base))] {
				var v [16]byte
				binary.BigEndian.PutUint64(v[:8], uint64(i+j+1))
				binary.BigEndian.PutUint64(v[8:], uint64(now))
				if err := bk.Put([]byte(id), v[:]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	raw := time.Since(start)
	rate, bboltRate := float64(len(ids))/d.Seconds(), float64(len(base))/raw.Seconds()
	b.ReportMetric(rate, "ids/s")
	b.ReportMetric(bboltRate, "bbolt-ids/s")
	b.ReportMetric(rate/bboltRate, "ratio-vs-bbolt")
}

// bboltMaxIDs caps BenchmarkAdd's baseline.
const bboltMaxIDs = 200_000

// BenchmarkLookup looks up ids in a set of 1 000 000 (written and merged):
// absent ids (every new delivery) and present ids (a retry), each op one
// lookup.
func BenchmarkLookup(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "ids"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(8, 8))
	present := make([]string, 1_000_000)
	for i := range present {
		present[i] = eventID(rng)
		if err := s.Add(present[i], Entry{Sequence: uint64(i + 1)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	s.mergeDone.Wait()
	b.Run("absent", func(b *testing.B) {
		absent := make([]string, 4096)
		for i := range absent {
			absent[i] = eventID(rng)
		}
		i := 0
		for b.Loop() {
			if _, ok, err := s.Lookup(absent[i%len(absent)]); ok || err != nil {
				b.Fatal("absent id found", err)
			}
			i++
		}
	})
	b.Run("present", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, ok, err := s.Lookup(present[(i*7919)%len(present)]); !ok || err != nil {
				b.Fatal("present id missing", err)
			}
			i++
		}
	})
	b.ReportMetric(float64(s.Runs()), "runs")
}

// BenchmarkLookupDuringFlush measures what a lookup (the ingest path's
// de-duplication check) waits while the table is flushed: one goroutine
// adds random ids as fast as it can, so the default 65 536-id table is
// written as a run again and again (and runs are merged), while the
// benchmark looks up absent ids and times each one. A flush that blocks
// lookups delays the one lookup waiting at that moment, so the slowest
// lookups, one per flush, show the stalls. The baseline, in the same run,
// is the same lookups with no adds.
//
// Metrics: p99-us, max-us, top-us (mean of the slowest lookups, as many
// as there were flushes), idle-top-us (the same in the baseline),
// flushes.
func BenchmarkLookupDuringFlush(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "ids"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(11, 11))
	absent := make([]string, 4096)
	for i := range absent {
		absent[i] = eventID(rng)
	}
	lookups := func(n int, next func() bool) []time.Duration {
		lat := make([]time.Duration, 0, n)
		for i := 0; next(); i++ {
			start := time.Now()
			if _, ok, err := s.Lookup(absent[i%len(absent)]); ok || err != nil {
				b.Fatal("absent id found", err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return lat
	}

	stop := make(chan struct{})
	added := make(chan uint64)
	go func() {
		wrng := rand.New(rand.NewPCG(12, 12))
		seq := uint64(0)
		defer func() { added <- seq }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			seq++
			if err := s.Add(eventID(wrng), Entry{Sequence: seq}); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	busy := lookups(b.N, b.Loop)
	close(stop)
	n := <-added
	s.mergeDone.Wait()
	i := 0
	idle := lookups(len(busy), func() bool { i++; return i <= len(busy) })

	us := func(l []time.Duration, q float64) float64 {
		return float64(l[min(len(l)-1, int(q*float64(len(l))))].Nanoseconds()) / 1e3
	}
	flushes := max(1, int(n/DefaultFlushSize))
	top := func(l []time.Duration) float64 {
		var sum time.Duration
		for _, d := range l[len(l)-flushes:] {
			sum += d
		}
		return float64(sum.Nanoseconds()) / 1e3 / float64(flushes)
	}
	b.ReportMetric(us(busy, 0.99), "p99-us")
	b.ReportMetric(us(busy, 1), "max-us")
	b.ReportMetric(top(busy), "top-us")
	b.ReportMetric(top(idle), "idle-top-us")
	b.ReportMetric(float64(n/DefaultFlushSize), "flushes")
}
