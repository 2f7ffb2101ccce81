package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newClient is an HTTP client that never follows redirects (a redirect is
// an answer to check, not to obey) and keeps up to conns connections per
// host alive.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        4 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// plainClient serves one-off requests (readiness, the read API).
var plainClient = newClient(4)

// accepted is the body of a 200 webhook answer.
type accepted struct {
	RequestID string `json:"request_id"`
	Duplicate bool   `json:"duplicate"`
	Ping      bool   `json:"ping"`
	Events    []struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		Sequence  uint64 `json:"sequence"`
		Duplicate bool   `json:"duplicate"`
	} `json:"events"`
}

// errorAnswer is the body of a webhook error answer.
type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// answer is what one POST got.
type answer struct {
	status int // 0 on a transport error
	err    error
	header http.Header
	body   []byte
	ok     accepted // when status is 200
	code   string   // error.code otherwise, when the body has one
}

// outcome is a short label of an answer for the failure tables: the status,
// or "transport error".
func (a answer) outcome() string {
	if a.err != nil {
		return "transport error"
	}
	return strconv.Itoa(a.status)
}

// post sends d to base and reads the whole answer.
func post(ctx context.Context, c *http.Client, base string, d delivery) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+d.path, bytes.NewReader(d.body))
	if err != nil {
		return answer{err: err}
	}
	req.Header = d.header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: fmt.Errorf("read answer: %w", err)}
	}
	return parseAnswer(resp.StatusCode, resp.Header, b)
}

func parseAnswer(status int, h http.Header, b []byte) answer {
	a := answer{status: status, header: h, body: b}
	if status == http.StatusOK {
		if err := json.Unmarshal(b, &a.ok); err != nil {
			a.err = fmt.Errorf("200 answer %q: %w", clip(b), err)
			a.status = 0
		}
		return a
	}
	var e errorAnswer
	if json.Unmarshal(b, &e) == nil {
		a.code = e.Error.Code
	}
	return a
}

// clip shortens a body for a failure message.
func clip(b []byte) string {
	const n = 300
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// ack is the first 2xx answer a delivery got.
type ack struct {
	id  string
	seq uint64
}

// ledger records every answer of a scenario: which deliveries were
// acknowledged at which sequence, and how many requests failed with what.
// It is safe for concurrent use.
type ledger struct {
	mu         sync.Mutex
	deliveries map[int]delivery
	acks       map[int]ack
	failures   map[string]int
	problems   []string
	sent, ok   int
}

func newLedger() *ledger {
	return &ledger{deliveries: map[int]delivery{}, acks: map[int]ack{}, failures: map[string]int{}}
}

// verdict says what a poster does next with a delivery.
type verdict int

const (
	done  verdict = iota // acknowledged, or refused for good (a problem)
	retry                // 503 or no answer: the provider retries
)

// record books the answer a delivery got.
func (l *ledger) record(i int, d delivery, a answer) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deliveries[i] = d
	l.sent++
	switch {
	case a.err == nil && a.status == http.StatusOK:
		l.ok++
		if len(a.ok.Events) != 1 {
			l.problems = append(l.problems, fmt.Sprintf("%s: 200 with %d events, want 1: %s", d.name, len(a.ok.Events), clip(a.body)))
			return done
		}
		got := ack{a.ok.Events[0].ID, a.ok.Events[0].Sequence}
		if prev, seen := l.acks[i]; seen && prev != got {
			l.problems = append(l.problems, fmt.Sprintf("%s: acknowledged as %s at sequence %d, later as %s at %d",
				d.name, prev.id, prev.seq, got.id, got.seq))
		} else if !seen {
			l.acks[i] = got
		}
		return done
	case a.err != nil || a.status == http.StatusServiceUnavailable:
		l.failures[a.outcome()]++
		return retry
	default:
		l.failures[a.outcome()]++
		l.problems = append(l.problems, fmt.Sprintf("%s: %d %s (%s)", d.name, a.status, a.code, clip(a.body)))
		return done
	}
}

// acked is the number of deliveries acknowledged so far.
func (l *ledger) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// snapshot copies the acknowledgements.
func (l *ledger) snapshot() (map[int]delivery, map[int]ack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ds := make(map[int]delivery, len(l.deliveries))
	for i, d := range l.deliveries {
		ds[i] = d
	}
	as := make(map[int]ack, len(l.acks))
	for i, a := range l.acks {
		as[i] = a
	}
	return ds, as
}

// reportProblems fails the test with every problem recorded.
func (l *ledger) reportProblems(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range l.problems {
		if i == 20 {
			t.Errorf("… and %d more problems", len(l.problems)-20)
			break
		}
		t.Error(p)
	}
}

// fill copies the ledger's counts into the scenario's figures.
func (l *ledger) fill(f *figures) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f.Sent += l.sent
	f.OK += l.ok
	for k, v := range l.failures {
		f.Failures[k] += v
	}
}

// loader posts deliveries from a mix with a few goroutines, like providers
// do: every delivery that got a 503 or no answer is retried (after a short
// pause) until it is acknowledged, on whichever gateway target returns at
// that moment.
type loader struct {
	led     *ledger
	gen     func(i int) delivery
	client  *http.Client
	targets func() []string // base URLs of the gateways up now; none while down
	// first is the number of the first delivery it generates.
	first int
	// limit stops generating new deliveries after that many; 0: no limit.
	limit int
	// pace is the pause of each poster between two requests.
	pace time.Duration

	producing atomic.Bool
	next      atomic.Int64 // next new delivery
	mu        sync.Mutex
	retries   []int // deliveries to send again
	inFlight  int
}

// run starts workers posters; it returns a function that stops generating
// new deliveries (a loader with a limit: once it generated that many) and
// waits until every generated one was acknowledged (or ctx ended).
func (l *loader) run(ctx context.Context, workers int) (drain func()) {
	l.producing.Store(true)
	var wg sync.WaitGroup
	for w := range workers {
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Go(func() { l.work(ctx, rng) })
	}
	return func() {
		l.producing.Store(false)
		wg.Wait()
	}
}

// take returns the next delivery to send: a retry first, else a new one.
// It reports false when there is nothing to do now, and finished when there
// never will be again. A loader with a limit generates up to it whether or
// not it was drained.
func (l *loader) take() (i int, ok, finished bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.retries) > 0 {
		i, l.retries = l.retries[0], l.retries[1:]
		l.inFlight++
		return i, true, false
	}
	if l.limit > 0 || l.producing.Load() {
		n := int(l.next.Add(1)) - 1
		if l.limit == 0 || n < l.limit {
			l.inFlight++
			return l.first + n, true, false
		}
	}
	exhausted := l.limit > 0 || !l.producing.Load()
	return 0, false, exhausted && l.inFlight == 0
}

func (l *loader) finish(i int, again bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	if again {
		l.retries = append(l.retries, i)
	}
}

func (l *loader) work(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		i, ok, finished := l.take()
		if finished {
			return
		}
		if !ok {
			sleepCtx(ctx, 10*time.Millisecond)
			continue
		}
		targets := l.targets()
		if len(targets) == 0 {
			l.finish(i, true)
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		d := l.gen(i)
		a := post(ctx, l.client, targets[rng.IntN(len(targets))], d)
		if ctx.Err() != nil {
			l.finish(i, true)
			return
		}
		v := l.led.record(i, d, a)
		l.finish(i, v == retry)
		if v == retry {
			sleepCtx(ctx, 20*time.Millisecond) // the provider's retry delay
		} else if l.pace > 0 {
			sleepCtx(ctx, l.pace)
		}
	}
}

// generated is how many deliveries the loader has generated.
func (l *loader) generated() int {
	n := int(l.next.Load())
	if l.limit > 0 {
		n = min(n, l.limit)
	}
	return n
}

// pending lists the deliveries not yet acknowledged, for a failure message.
func (l *loader) pending() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.retries)
}
