package eventlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/nats-io/nats.go/jetstream"
)

// maxFollowBatch and maxFollowBatchBytes bound how many events Follow hands
// over at once.
const (
	maxFollowBatch      = 1000
	maxFollowBatchBytes = 8 << 20
)

// Follow tails the whole log from the event after `after`, forever: it
// calls fn with batches of events in log order (a batch ends when the reader
// has caught up or holds maxFollowBatch events). It returns when ctx ends
// (with ctx's error) or fn fails. This is the gateway's single log reader;
// the ordered consumer it uses re-creates itself after connection loss.
func (l *Log) Follow(ctx context.Context, after uint64, fn func([]*hooklinev1.Event) error) error {
	c := l.current()
	cons, err := c.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   after + 1,
	})
	if err != nil {
		return fmt.Errorf("%w: follow consumer: %w", ErrUnavailable, err)
	}
	// Short pull expiry and heartbeats: after a server restart the ordered
	// consumer notices the missing heartbeats within seconds and re-creates
	// itself from the last sequence it delivered.
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(2*maxFollowBatch, l.followBufferBytes()),
		jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("%w: follow: %w", ErrUnavailable, err)
	}
	defer it.Stop()
	// A batch is handed to fn and kept by it, so each gets its own slice;
	// it grows as needed (live, most batches hold one event or a few).
	var batch []*hooklinev1.Event
	batchBytes := 0
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || c.rnc.IsClosed() {
				return fmt.Errorf("%w: follow: %w", ErrUnavailable, err)
			}
			// A missed heartbeat or a transient error: the ordered consumer
			// recovers by itself; pause briefly so a persistent error does
			// not spin.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("follow metadata: %w", err)
		}
		ev, err := decode(m.Data(), md.Sequence.Stream)
		if err != nil {
			return err
		}
		batch = append(batch, ev)
		batchBytes += len(m.Data())
		if md.NumPending == 0 || len(batch) == maxFollowBatch || batchBytes >= maxFollowBatchBytes {
			if err := fn(batch); err != nil {
				return err
			}
			batch, batchBytes = nil, 0
		}
	}
}
