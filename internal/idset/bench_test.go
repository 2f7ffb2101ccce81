package idset

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkAdd adds b.N random event ids (with the default flush size, so
// runs are written and merged as in production) and, in the same run, puts
// the same ids into a bbolt bucket in transactions of 170 (the index's group
// commit at about 17 000 events/s), the structure this package replaces for
// ids. Both include their fsyncs; the Set's time includes waiting for its
// background merges.
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

	start := time.Now()
	for i := 0; i < len(ids); i += 170 {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("ids"))
			if err != nil {
				return err
			}
			for j, id := range ids[i:min(i+170, len(ids))] {
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
	b.ReportMetric(float64(len(ids))/d.Seconds(), "ids/s")
	b.ReportMetric(float64(len(ids))/raw.Seconds(), "bbolt-ids/s")
	b.ReportMetric(raw.Seconds()/d.Seconds(), "ratio-vs-bbolt")
}

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
