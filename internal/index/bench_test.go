package index

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkApply applies b.N Truv-like order events (random event ids, four
// events per order) to a new index in batches, one transaction each: 170
// events (a group commit at about 17 000 events/s with the server's 10 ms
// commit delay) and 1 700 (the batches the indexer accumulates when it falls
// behind under load). Baseline, in the same run: the same ids put in arrival order
// into a bare bbolt bucket with the same options and batches, one value
// each and no order state: the least work a bbolt id set can do.
//
// Metrics: events/s, raw-events/s (the baseline), ratio-vs-raw.
func BenchmarkApply(b *testing.B) {
	for _, batch := range []int{170, 1700} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchApply(b, batch) })
	}
}

func benchApply(b *testing.B, batch int) {
	evs := benchEvents(b.N)
	now := time.Now()

	x, err := Open(filepath.Join(b.TempDir(), "index"))
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()

	b.ResetTimer()
	for i := 0; i < len(evs); i += batch {
		if err := x.Apply(evs[i:min(i+batch, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	d := b.Elapsed()

	start := time.Now()
	for i := 0; i < len(evs); i += batch {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("ids"))
			if err != nil {
				return err
			}
			for _, ev := range evs[i:min(i+batch, len(evs))] {
				var v [16]byte
				binary.BigEndian.PutUint64(v[:8], ev.GetSequence())
				binary.BigEndian.PutUint64(v[8:], uint64(now.UnixNano()))
				if err := bk.Put([]byte(ev.GetId()), v[:]); err != nil {
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

	b.ReportMetric(float64(len(evs))/d.Seconds(), "events/s")
	b.ReportMetric(float64(len(evs))/raw.Seconds(), "raw-events/s")
	b.ReportMetric(raw.Seconds()/d.Seconds(), "ratio-vs-raw")
}

// benchEvents returns n order events with random ids, four per order.
func benchEvents(n int) []*hooklinev1.Event {
	received := timestamppb.Now()
	evs := make([]*hooklinev1.Event, n)
	for i := range evs {
		var id [16]byte
		_, _ = rand.Read(id[:])
		evs[i] = &hooklinev1.Event{
			Id: "evt_" + hex.EncodeToString(id[:]), Sequence: uint64(i + 1), ReceiveTime: received,
			Provider: hooklinev1.Provider_PROVIDER_TRUV,
			Body: &hooklinev1.Event_Order{Order: &hooklinev1.OrderEvent{
				OrderId: fmt.Sprintf("bench-order-%d", i/4), Status: hooklinev1.OrderStatus_ORDER_STATUS_COMPLETED,
				UpdateTime: received,
			}},
		}
	}
	return evs
}
