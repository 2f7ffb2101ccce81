// Package index keeps projections of the event log on local disk (bbolt):
// event id → sequence (the long-horizon de-duplication set and GetEvent's
// lookup), and the current state of every order and session.
//
// The index is derived: it is built by applying the log in order, records
// the last sequence it applied in the same transaction, and can be deleted
// and rebuilt from the log at any time. Memory use stays flat however many
// ids it holds: the data lives in the file, read through the page cache.
// Every gateway replica keeps its own index of the shared stream, so
// de-duplication holds across replicas. An Index is safe for concurrent use.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var (
	bucketIDs      = []byte("ids")      // event id → seq(8) | receive unix nanos(8)
	bucketBySeq    = []byte("by_seq")   // seq(8) → event id, to sweep in log order
	bucketOrders   = []byte("orders")   // order id → OrderState
	bucketSessions = []byte("sessions") // session key → SessionState
	bucketMeta     = []byte("meta")
	keyApplied     = []byte("applied")
)

// ErrNotFound means the index holds no such entry.
var ErrNotFound = errors.New("not found")

// Index is the on-disk projection.
type Index struct {
	db *bolt.DB
}

// Open opens or creates the index file at path.
func Open(path string) (*Index, error) {
	// The freelist is not written on every commit (it is rebuilt when the
	// file is opened): fewer page writes per transaction.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketIDs, bucketBySeq, bucketOrders, bucketSessions, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init index: %w", err)
	}
	return &Index{db: db}, nil
}

// Close closes the file.
func (x *Index) Close() error { return x.db.Close() }

// Applied returns the last log sequence applied (0 for a new index).
func (x *Index) Applied() (uint64, error) {
	var seq uint64
	err := x.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyApplied); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return seq, err
}

// Entry is what the index knows of a stored event id.
type Entry struct {
	// Sequence is the event's position in the log.
	Sequence uint64
	// ReceiveTime is when the gateway received the event.
	ReceiveTime time.Time
}

// Lookup returns the entry of an event id, or ErrNotFound.
func (x *Index) Lookup(id string) (Entry, error) {
	var e Entry
	err := x.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIDs).Get([]byte(id))
		if len(v) != 16 {
			return ErrNotFound
		}
		e = Entry{
			Sequence:    binary.BigEndian.Uint64(v[:8]),
			ReceiveTime: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))),
		}
		return nil
	})
	return e, err
}

// Apply records a batch of events read from the log, in log order, in one
// transaction. Events at or below the applied sequence are skipped, so a
// batch can be applied twice safely.
//
// The cost of a transaction is mostly the B-tree pages it rewrites, so Apply
// touches each page as few times as it can: ids are inserted in key order,
// and the state of an order or session that several events of the batch
// change is loaded and stored once.
func (x *Index) Apply(evs []*hooklinev1.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return x.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var applied uint64
		if v := meta.Get(keyApplied); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		fresh := make([]*hooklinev1.Event, 0, len(evs))
		for _, ev := range evs {
			if ev.GetSequence() > applied {
				fresh = append(fresh, ev)
				applied = ev.GetSequence()
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		bySeq := tx.Bucket(bucketBySeq)
		for _, ev := range fresh {
			if err := bySeq.Put(seqKey(ev.GetSequence()), []byte(ev.GetId())); err != nil {
				return err
			}
		}
		byID := slices.Clone(fresh)
		slices.SortFunc(byID, func(a, b *hooklinev1.Event) int { return strings.Compare(a.GetId(), b.GetId()) })
		ids := tx.Bucket(bucketIDs)
		for _, ev := range byID {
			var v [16]byte
			binary.BigEndian.PutUint64(v[:8], ev.GetSequence())
			binary.BigEndian.PutUint64(v[8:], uint64(ev.GetReceiveTime().AsTime().UnixNano()))
			if err := ids.Put([]byte(ev.GetId()), v[:]); err != nil {
				return err
			}
		}
		orders := newStates(tx.Bucket(bucketOrders), func() *hooklinev1.OrderState { return &hooklinev1.OrderState{} })
		sessions := newStates(tx.Bucket(bucketSessions), func() *hooklinev1.SessionState { return &hooklinev1.SessionState{} })
		for _, ev := range fresh {
			var err error
			switch b := ev.GetBody().(type) {
			case *hooklinev1.Event_Order:
				err = orders.update(b.Order.GetOrderId(), func(st *hooklinev1.OrderState) { applyOrder(st, ev, b.Order) })
			case *hooklinev1.Event_Session:
				err = sessions.update(b.Session.GetSessionKey(), func(st *hooklinev1.SessionState) { applySession(st, ev, b.Session) })
			}
			if err != nil {
				return err
			}
		}
		if err := orders.store(); err != nil {
			return err
		}
		if err := sessions.store(); err != nil {
			return err
		}
		return meta.Put(keyApplied, seqKey(applied))
	})
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// Sweep forgets ids of events below firstSeq (no longer in the log). It
// deletes at most limit entries per call and reports how many it deleted.
func (x *Index) Sweep(firstSeq uint64, limit int) (int, error) {
	n := 0
	err := x.db.Update(func(tx *bolt.Tx) error {
		ids, bySeq := tx.Bucket(bucketIDs), tx.Bucket(bucketBySeq)
		c := bySeq.Cursor()
		for k, v := c.First(); k != nil && n < limit; k, v = c.Next() {
			if binary.BigEndian.Uint64(k) >= firstSeq {
				break
			}
			if err := ids.Delete(v); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Order returns the current state of an order, or ErrNotFound.
func (x *Index) Order(id string) (*hooklinev1.OrderState, error) {
	st := &hooklinev1.OrderState{}
	return st, x.get(bucketOrders, id, st)
}

// Session returns the current state of a session, or ErrNotFound.
func (x *Index) Session(key string) (*hooklinev1.SessionState, error) {
	st := &hooklinev1.SessionState{}
	return st, x.get(bucketSessions, key, st)
}

func (x *Index) get(bucket []byte, key string, m proto.Message) error {
	return x.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		return proto.Unmarshal(v, m)
	})
}

// providerTime is the time an event is ordered by for derived state: the
// provider's update time, else its event time, else the receive time.
func providerTime(ev *hooklinev1.Event, update *timestamppb.Timestamp) time.Time {
	switch {
	case update != nil:
		return update.AsTime()
	case ev.GetTime() != nil:
		return ev.GetTime().AsTime()
	default:
		return ev.GetReceiveTime().AsTime()
	}
}

// newer reports whether an event at (t, seq) supersedes state last set at
// (cur, curSeq): later provider time wins, ties go to the later sequence.
func newer(t time.Time, seq uint64, cur *timestamppb.Timestamp, curSeq uint64) bool {
	if cur == nil {
		return true
	}
	c := cur.AsTime()
	return t.After(c) || (t.Equal(c) && seq > curSeq)
}

// states holds the order or session states one Apply changes: each is
// loaded at its first change and stored once, in key order, at the end.
type states[T proto.Message] struct {
	bk      *bolt.Bucket
	newT    func() T
	changed map[string]T
}

func newStates[T proto.Message](bk *bolt.Bucket, newT func() T) *states[T] {
	return &states[T]{bk: bk, newT: newT, changed: map[string]T{}}
}

// update lets apply change the state stored under key (empty when there is
// none yet).
func (s *states[T]) update(key string, apply func(T)) error {
	st, ok := s.changed[key]
	if !ok {
		st = s.newT()
		if v := s.bk.Get([]byte(key)); v != nil {
			if err := proto.Unmarshal(v, st); err != nil {
				return fmt.Errorf("state of %q: %w", key, err)
			}
		}
		s.changed[key] = st
	}
	apply(st)
	return nil
}

// store writes every changed state back.
func (s *states[T]) store() error {
	for _, key := range slices.Sorted(maps.Keys(s.changed)) {
		v, err := proto.Marshal(s.changed[key])
		if err != nil {
			return err
		}
		if err := s.bk.Put([]byte(key), v); err != nil {
			return err
		}
	}
	return nil
}

func applyOrder(st *hooklinev1.OrderState, ev *hooklinev1.Event, o *hooklinev1.OrderEvent) {
	st.OrderId, st.Provider = o.GetOrderId(), ev.GetProvider()
	st.EventCount++
	if o.GetOrderNumber() != "" {
		st.OrderNumber = o.GetOrderNumber()
	}
	// Only an event that carries a status can set it (order-finalized
	// and certification-completed may carry none), and only if newer.
	hasStatus := o.GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED ||
		o.GetProcessingStatus() != hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED
	t := providerTime(ev, o.GetUpdateTime())
	if !hasStatus || !newer(t, ev.GetSequence(), st.GetUpdateTime(), st.GetLastSequence()) {
		return
	}
	if o.GetStatus() != hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED {
		st.Status, st.RawStatus = o.GetStatus(), o.GetRawStatus()
	}
	if o.GetProcessingStatus() != hooklinev1.OrderStatus_ORDER_STATUS_UNSPECIFIED {
		st.ProcessingStatus, st.RawProcessingStatus = o.GetProcessingStatus(), o.GetRawProcessingStatus()
	}
	st.Source = ev.GetSource()
	st.UpdateTime = timestamppb.New(t)
	st.LastEventId, st.LastSequence = ev.GetId(), ev.GetSequence()
}

func applySession(st *hooklinev1.SessionState, ev *hooklinev1.Event, s *hooklinev1.SessionEvent) {
	st.SessionKey, st.Provider = s.GetSessionKey(), ev.GetProvider()
	st.EventCount++
	t := providerTime(ev, s.GetUpdateTime())
	if s.GetStage() == hooklinev1.SessionStage_SESSION_STAGE_UNSPECIFIED ||
		!newer(t, ev.GetSequence(), st.GetUpdateTime(), st.GetLastSequence()) {
		return
	}
	st.Stage, st.RawStatus = s.GetStage(), s.GetRawStatus()
	st.ProviderEventType = ev.GetProviderEventType()
	if s.GetInstitutionId() != "" {
		st.InstitutionId = s.GetInstitutionId()
	}
	st.Source = ev.GetSource()
	st.UpdateTime = timestamppb.New(t)
	st.LastEventId, st.LastSequence = ev.GetId(), ev.GetSequence()
}
