// Package index keeps projections of the event log on local disk: event id
// → sequence (the long-horizon de-duplication set and GetEvent's lookup), in
// an internal/idset; and the current state of every order and session, in
// bbolt.
//
// The index is derived: it is built by applying the log in order and can be
// deleted and rebuilt from the log at any time. Applied tells where to
// resume: after a clean Close it is the last sequence applied; after a crash
// it can be earlier (the id set writes its ids in runs of thousands), and the
// log's events from there are applied again, which changes nothing already
// applied. Memory use stays nearly flat however many ids it holds: the data
// lives in files, read through the page cache. Every gateway replica keeps
// its own index of the shared stream, so de-duplication holds across
// replicas. An Index is safe for concurrent use.
package index

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/idset"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var (
	bucketOrders   = []byte("orders")   // order id → OrderState
	bucketSessions = []byte("sessions") // session key → SessionState
	bucketMeta     = []byte("meta")
	// superseded event id → id of the corrected event that supersedes it
	bucketSuperseded = []byte("superseded")
	keyApplied       = []byte("applied") // last sequence applied to the state
)

// ErrNotFound means the index holds no such entry.
var ErrNotFound = errors.New("not found")

// Index is the on-disk projection.
type Index struct {
	db  *bolt.DB
	ids *idset.Set
	// applied is the last sequence applied to both the ids and the state;
	// idsAdded the last one given to the id set.
	applied   atomic.Uint64
	idsAdded  uint64 // guarded by the caller's serial Apply calls
	recovered string
}

// Recovered says why Open discarded the stored ids (a damaged file), or is
// empty. The index then rebuilds them from the start of the log.
func (x *Index) Recovered() string { return x.recovered }

// Options tune an Index. The zero value is the production default.
type Options struct {
	// IDFlushSize is how many ids the id set holds in memory before it
	// writes them as a run (idset.DefaultFlushSize when 0).
	IDFlushSize int
	// DedupHorizon is the longest look-back of Recent. Ids received before
	// it keep no Bloom filter in memory: GetEvent still finds them (Lookup),
	// at the cost of a 4 KiB read per run. 0 keeps every filter.
	DedupHorizon time.Duration
}

// Open opens or creates the index in directory dir: the state in
// dir/state.db (bbolt), the ids in dir/ids.
func Open(dir string) (*Index, error) { return OpenWith(dir, Options{}) }

// OpenWith is Open with options.
func OpenWith(dir string, opts Options) (*Index, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	path := filepath.Join(dir, "state.db")
	// The freelist is not written on every commit (it is rebuilt when the
	// file is opened): fewer page writes per transaction.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	var stateApplied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketOrders, bucketSessions, bucketMeta, bucketSuperseded} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keyApplied); len(v) == 8 {
			stateApplied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init index: %w", err)
	}
	idsDir := filepath.Join(dir, "ids")
	idOpts := idset.Options{FlushSize: opts.IDFlushSize, FilterAge: opts.DedupHorizon}
	ids, err := idset.Open(idsDir, idOpts)
	var recovered string
	if errors.Is(err, idset.ErrCorrupt) {
		// The ids are a projection of the log: start them afresh, and
		// Applied sends the caller back to the start of the log to add them
		// again (the state skips what it has applied).
		recovered = err.Error()
		if err = os.RemoveAll(idsDir); err == nil {
			ids, err = idset.Open(idsDir, idOpts)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open index ids: %w", err)
	}
	x := &Index{db: db, ids: ids, idsAdded: ids.Applied(), recovered: recovered}
	x.applied.Store(min(stateApplied, x.idsAdded))
	return x, nil
}

// IDStats describe the index's id set: run files, ids in memory, failed
// background merges (each is retried).
type IDStats = idset.Stats

// IDStats returns the id set's current figures.
func (x *Index) IDStats() IDStats { return x.ids.Stats() }

// Close writes the ids still in memory and closes the files.
func (x *Index) Close() error {
	return errors.Join(x.ids.Close(), x.db.Close())
}

// Applied returns the sequence to resume applying after: every event up to
// it is in the index (0 for a new index).
func (x *Index) Applied() (uint64, error) {
	return x.applied.Load(), nil
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
	return x.entry(x.ids.Lookup(id))
}

// Recent returns the entry of an event id received at or after since, or
// ErrNotFound: the de-duplication lookup, which only reads ids inside the
// horizon.
func (x *Index) Recent(id string, since time.Time) (Entry, error) {
	e, err := x.entry(x.ids.LookupSince(id, since.UnixNano()))
	if err == nil && e.ReceiveTime.Before(since) {
		return Entry{}, ErrNotFound
	}
	return e, err
}

func (x *Index) entry(e idset.Entry, ok bool, err error) (Entry, error) {
	switch {
	case err != nil:
		return Entry{}, err
	case !ok:
		return Entry{}, ErrNotFound
	}
	return Entry{Sequence: e.Sequence, ReceiveTime: time.Unix(0, e.ReceiveNanos)}, nil
}

// Apply records a batch of events read from the log, in log order. Events
// already applied are skipped, so a batch can be applied twice safely. Calls
// must not overlap (the server has one indexer).
//
// Ids go to the id set; order and session state to one bbolt transaction,
// whose cost is mostly the B-tree pages it rewrites, so the state of an
// order or session that several events of the batch change is loaded and
// stored once.
func (x *Index) Apply(evs []*hooklinev1.Event) error {
	if len(evs) == 0 {
		return nil
	}
	for _, ev := range evs {
		if seq := ev.GetSequence(); seq > x.idsAdded {
			e := idset.Entry{Sequence: seq, ReceiveNanos: ev.GetReceiveTime().AsTime().UnixNano()}
			if err := x.ids.Add(ev.GetId(), e); err != nil {
				return fmt.Errorf("index ids: %w", err)
			}
			x.idsAdded = seq
		}
	}
	err := x.db.Update(func(tx *bolt.Tx) error {
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
		superseded := tx.Bucket(bucketSuperseded)
		for _, ev := range fresh {
			if id := ev.GetSupersedesId(); id != "" {
				if err := superseded.Put([]byte(id), []byte(ev.GetId())); err != nil {
					return err
				}
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
		var a [8]byte
		binary.BigEndian.PutUint64(a[:], applied)
		return meta.Put(keyApplied, a[:])
	})
	if err != nil {
		return err
	}
	if last := evs[len(evs)-1].GetSequence(); last > x.applied.Load() {
		x.applied.Store(last)
	}
	return nil
}

// Sweep forgets the ids of events below firstSeq (no longer in the log).
// Order and session state stays.
func (x *Index) Sweep(firstSeq uint64) error {
	return x.ids.Sweep(firstSeq)
}

// SupersededBy returns the id of the corrected event that supersedes the
// event id, or ErrNotFound when none does (yet: the index sees a
// correction a few milliseconds after it is appended).
func (x *Index) SupersededBy(id string) (string, error) {
	var by string
	err := x.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSuperseded).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		by = string(v)
		return nil
	})
	return by, err
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
		v := tx.Bucket(bucket).Get(stateKey(key))
		if v == nil {
			return ErrNotFound
		}
		return proto.Unmarshal(v, m)
	})
}

// maxPlainStateKey is the longest order id or session key stored as its
// own bbolt key. Longer ones (bbolt refuses keys over 32 KiB) are stored
// under stateKey's bounded form; the state record keeps the full value.
// No key this long could be stored before subjects were bounded, so the
// index of an earlier release reads the same.
const maxPlainStateKey = 4096

// stateKey is the bbolt key of an order id or session key: the key itself,
// or for a long one its first bytes, a NUL byte and its SHA-256.
func stateKey(key string) []byte {
	if len(key) <= maxPlainStateKey {
		return []byte(key)
	}
	sum := sha256.Sum256([]byte(key))
	k := make([]byte, 0, 256+1+len(sum))
	k = append(k, key[:256]...)
	k = append(k, 0)
	return append(k, sum[:]...)
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
		if v := s.bk.Get(stateKey(key)); v != nil {
			if err := proto.Unmarshal(v, st); err != nil {
				return fmt.Errorf("state of a %d-byte key: %w", len(key), err)
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
		if err := s.bk.Put(stateKey(key), v); err != nil {
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
