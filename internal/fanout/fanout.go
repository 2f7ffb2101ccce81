// Package fanout delivers live events from the gateway's single log reader
// to many subscribers without letting any of them hold the others up.
//
// Subscribers are indexed by the most selective part of their filter
// (subject key, else event type, else provider, else "everything"), so
// publishing an event touches only candidates that might match. Each
// subscriber has a bounded buffer (BufferSize events, pointers shared with
// every other subscriber). When a buffer is full the hub does not wait: it
// removes the subscriber and closes its channel, and the subscriber resumes
// from the log at its own pace (see internal/subscription). A Hub is safe for
// concurrent use.
package fanout

import (
	"sync"
	"sync/atomic"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// BufferSize is the capacity of a subscriber's live buffer, in events. It
// bounds per-subscriber memory; a subscriber that falls further behind is
// switched to catching up from the log.
const BufferSize = 64

// Filter selects events; see hooklinev1.EventFilter. A nil set matches all.
type Filter struct {
	// OrderIDs and SessionKeys together select subjects: an order event
	// whose id is in OrderIDs, or a session event whose key is in
	// SessionKeys. Both nil: any subject.
	OrderIDs, SessionKeys map[string]struct{}
	// Types and Providers each restrict when non-nil.
	Types     map[hooklinev1.EventType]struct{}
	Providers map[hooklinev1.Provider]struct{}
}

// NewFilter converts the API filter.
func NewFilter(f *hooklinev1.EventFilter) Filter {
	var out Filter
	if ids := f.GetOrderIds(); len(ids) > 0 {
		out.OrderIDs = set(ids)
	}
	if keys := f.GetSessionKeys(); len(keys) > 0 {
		out.SessionKeys = set(keys)
	}
	if ts := f.GetEventTypes(); len(ts) > 0 {
		out.Types = set(ts)
	}
	if ps := f.GetProviders(); len(ps) > 0 {
		out.Providers = set(ps)
	}
	return out
}

func set[T comparable](vs []T) map[T]struct{} {
	m := make(map[T]struct{}, len(vs))
	for _, v := range vs {
		m[v] = struct{}{}
	}
	return m
}

// HasSubjects reports whether the filter selects by subject.
func (f Filter) HasSubjects() bool { return f.OrderIDs != nil || f.SessionKeys != nil }

// Match reports whether ev passes the filter.
func (f Filter) Match(ev *hooklinev1.Event) bool {
	if f.Types != nil {
		if _, ok := f.Types[ev.GetType()]; !ok {
			return false
		}
	}
	if f.Providers != nil {
		if _, ok := f.Providers[ev.GetProvider()]; !ok {
			return false
		}
	}
	if !f.HasSubjects() {
		return true
	}
	switch ev.GetBody().(type) {
	case *hooklinev1.Event_Order:
		_, ok := f.OrderIDs[ev.GetSubject()]
		return ok
	case *hooklinev1.Event_Session:
		_, ok := f.SessionKeys[ev.GetSubject()]
		return ok
	}
	return false
}

// Subscriber is one live subscription. C delivers matching events in log
// order; the hub closes it when the subscriber is removed, either by
// Unsubscribe or because its buffer overflowed (then Lagged is true).
type Subscriber struct {
	// C carries matching events with a sequence greater than JoinSeq.
	C <-chan *hooklinev1.Event
	// JoinSeq is the last sequence the hub had published when the
	// subscriber joined: events after it arrive on C, events up to it must
	// be read from the log.
	JoinSeq uint64

	c      chan *hooklinev1.Event
	filter Filter
	lagged bool // guarded by Hub.mu
	closed bool // guarded by Hub.mu
}

// Hub fans events out to subscribers.
type Hub struct {
	mu        sync.RWMutex
	last      atomic.Uint64 // written only while mu is held
	all       map[*Subscriber]struct{}
	bySubject map[string]map[*Subscriber]struct{}
	byType    map[hooklinev1.EventType]map[*Subscriber]struct{}
	byProv    map[hooklinev1.Provider]map[*Subscriber]struct{}
	count     int
	lagged    atomic.Int64 // subscribers removed for falling behind, in all
}

// NewHub returns a hub whose last published sequence is last.
func NewHub(last uint64) *Hub {
	h := &Hub{
		all:       map[*Subscriber]struct{}{},
		bySubject: map[string]map[*Subscriber]struct{}{},
		byType:    map[hooklinev1.EventType]map[*Subscriber]struct{}{},
		byProv:    map[hooklinev1.Provider]map[*Subscriber]struct{}{},
	}
	h.last.Store(last)
	return h
}

// Last returns the last sequence published. Every matching event up to it
// has been placed in the buffers of the subscribers registered at the time.
func (h *Hub) Last() uint64 { return h.last.Load() }

// Len returns the number of registered subscribers.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.count
}

// Subscribe registers a subscriber with filter f.
func (h *Hub) Subscribe(f Filter) *Subscriber {
	c := make(chan *hooklinev1.Event, BufferSize)
	s := &Subscriber{C: c, c: c, filter: f}
	h.mu.Lock()
	defer h.mu.Unlock()
	s.JoinSeq = h.last.Load()
	h.each(s, func(m map[*Subscriber]struct{}) { m[s] = struct{}{} })
	h.count++
	return s
}

// Unsubscribe removes s and closes its channel. It is idempotent.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(s)
}

// Lagged reports whether s was removed because its buffer overflowed.
func (h *Hub) Lagged(s *Subscriber) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return s.lagged
}

// remove unregisters s; h.mu must be held for writing.
func (h *Hub) remove(s *Subscriber) {
	if s.closed {
		return
	}
	s.closed = true
	h.each(s, func(m map[*Subscriber]struct{}) { delete(m, s) })
	h.count--
	close(s.c)
}

// each calls fn with every index set s belongs in, creating missing sets
// and dropping empty ones afterwards; h.mu must be held for writing.
func (h *Hub) each(s *Subscriber, fn func(map[*Subscriber]struct{})) {
	f := s.filter
	switch {
	case f.HasSubjects():
		for k := range f.OrderIDs {
			fn(bucket(h.bySubject, k))
			prune(h.bySubject, k)
		}
		for k := range f.SessionKeys {
			fn(bucket(h.bySubject, k))
			prune(h.bySubject, k)
		}
	case f.Types != nil:
		for t := range f.Types {
			fn(bucket(h.byType, t))
			prune(h.byType, t)
		}
	case f.Providers != nil:
		for p := range f.Providers {
			fn(bucket(h.byProv, p))
			prune(h.byProv, p)
		}
	default:
		fn(h.all)
	}
}

func bucket[K comparable](m map[K]map[*Subscriber]struct{}, k K) map[*Subscriber]struct{} {
	b, ok := m[k]
	if !ok {
		b = map[*Subscriber]struct{}{}
		m[k] = b
	}
	return b
}

func prune[K comparable](m map[K]map[*Subscriber]struct{}, k K) {
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// Publish hands a batch of events, in log order and following the last
// published one, to every matching subscriber, and advances Last to the
// batch's last sequence. It never blocks on a subscriber: one whose buffer
// is full is removed and marked lagged. It is called by one goroutine, the
// log follower.
func (h *Hub) Publish(batch []*hooklinev1.Event) {
	if len(batch) == 0 {
		return
	}
	var lagging []*Subscriber
	h.mu.Lock()
	for _, ev := range batch {
		lagging = h.deliver(h.all, ev, lagging)
		lagging = h.deliver(h.bySubject[ev.GetSubject()], ev, lagging)
		lagging = h.deliver(h.byType[ev.GetType()], ev, lagging)
		lagging = h.deliver(h.byProv[ev.GetProvider()], ev, lagging)
	}
	// Close the channels of subscribers that missed an event before
	// advancing Last: a reader that sees Last() = n and drains its channel
	// without finding it closed has then really received every matching
	// event up to n. And advance Last before releasing the lock: a new
	// subscriber either joins after this whole batch or received it.
	for _, s := range lagging {
		s.lagged = true
		h.remove(s)
	}
	h.last.Store(batch[len(batch)-1].GetSequence())
	h.mu.Unlock()
	h.lagged.Add(int64(len(lagging)))
}

// LaggedTotal returns how many subscribers were removed, since the hub was
// made, because their buffer overflowed.
func (h *Hub) LaggedTotal() int64 { return h.lagged.Load() }

// deliver sends ev to the matching subscribers of set and collects those
// whose buffer is full; h.mu is held. A subscriber already collected
// receives nothing more (its stream would have a gap); the caller removes
// them after the batch, not to change set while ranging over it.
func (h *Hub) deliver(set map[*Subscriber]struct{}, ev *hooklinev1.Event, lagging []*Subscriber) []*Subscriber {
	for s := range set {
		if !s.filter.Match(ev) || contains(lagging, s) {
			continue
		}
		select {
		case s.c <- ev:
		default:
			lagging = append(lagging, s)
		}
	}
	return lagging
}

func contains(ss []*Subscriber, s *Subscriber) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
