// Command benchhelper serves scripts/bench.sh: it signs Truv deliveries,
// serves the no-op baseline handler and the JetStream floor handler, and
// drives a fixed-rate (open-loop) load to measure latency percentiles. It
// talks to loopback addresses it is given and nothing else.
//
//	benchhelper sign PREFIX N SECRET       N signed deliveries, "v1=<hex> <body>" per line
//	benchhelper noop                       serve a no-op handler on 127.0.0.1:0, print the address
//	benchhelper floor DIR [NATS_URL]       serve the floor handler on 127.0.0.1:0 (embedded
//	                                       JetStream stored in DIR, or the external server
//	                                       at NATS_URL), print the address
//	benchhelper floor-fast DIR [NATS_URL]  the same, concurrent deliveries appended together
//	                                       as one fast batch with one acknowledgement
//	benchhelper floor-atomic DIR [NATS_URL]
//	                                       the same with atomic batches
//	benchhelper paced ADDR RATE SECS CONNS FILE
//	                                       POST FILE's deliveries to ADDR/webhooks/truv at RATE
//	                                       per second for SECS seconds over CONNS connections;
//	                                       print the latency percentiles (also p99 of the
//	                                       last third of the requests)
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/internal/benchfloor"
	"github.com/hookline/hookline/internal/eventlog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "sign":
		err = sign(os.Args[2:])
	case "noop":
		err = noop()
	case "floor", "floor-fast", "floor-atomic":
		if len(os.Args) != 3 && len(os.Args) != 4 {
			usage()
		}
		url := ""
		if len(os.Args) == 4 {
			url = os.Args[3]
		}
		err = floor(os.Args[2], url, strings.TrimPrefix(strings.TrimPrefix(os.Args[1], "floor"), "-"))
	case "paced":
		err = paced(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchhelper:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchhelper sign PREFIX N SECRET | noop | floor DIR [NATS_URL] | floor-fast|floor-atomic DIR [NATS_URL] | paced ADDR RATE SECS CONNS FILE")
	os.Exit(2)
}

// sign writes n distinct Truv order deliveries signed with secret, four per
// order.
func sign(args []string) error {
	if len(args) != 3 {
		usage()
	}
	prefix, secret := args[0], args[2]
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	for i := range n {
		body := fmt.Sprintf(`{"webhook_id":"%s%028d","event_type":"order-status-updated",`+
			`"event_created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","product":"income",`+
			`"order_id":"%s-order-%d","order_number":"4138538","status":"completed","user_id":"adbe707dddee4334bffaeb5866272740"}`,
			prefix, i, prefix, i/4)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		fmt.Fprintf(w, "v1=%s %s\n", hex.EncodeToString(m.Sum(nil)), body)
	}
	return w.Flush()
}

// noop answers every request with a fixed body shaped like the gateway's.
func noop() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	return http.Serve(ln, benchfloor.Noop())
}

// answer writes the no-op handler's 200: a body shaped like the gateway's.
// floor serves the least a handler can do under the ingest issue's rule
// "answer only what is stored": read the body, append it as it is to
// the gateway's stream on an embedded JetStream server with the gateway's
// default options (file storage, fsync every second, 30 s duplicate
// window) and a de-duplication id (the signature header, distinct per
// delivery), wait for the acknowledgement, answer. No verification,
// normalization, index, log reader or subscribers. Its rate over the
// no-op handler's is the best ratio any gateway storing each delivery in
// JetStream could reach on the machine.
//
// With batch "fast" or "atomic" it is the same rule with the
// acknowledgements shared: the deliveries waiting at a moment are appended
// together as one batch (JetStream's batch publishing, through orbit.go's
// jetstreamext: a fast batch, or an atomic one), each with its own
// de-duplication id, and each is answered once the batch's acknowledgement
// says all of them are stored. floorBatchers batches may be in flight at
// once.
func floor(dir, url, batch string) error {
	ctx := context.Background()
	opts := eventlog.Options{DataDir: dir, URL: url}
	var nc *nats.Conn
	var err error
	if url == "" {
		ns, err := eventlog.StartEmbedded(opts)
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		opts.Server = ns
		nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("benchhelper-floor"))
		if err != nil {
			return err
		}
	} else if nc, err = nats.Connect(url, nats.Name("benchhelper-floor")); err != nil {
		return err
	}
	defer nc.Close()
	// Open creates the gateway's stream, with its settings.
	lg, err := eventlog.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer lg.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	subject := lg.SubjectPrefix() + ".floor"
	appendOne := benchfloor.Publisher(js, subject)
	if batch != "" {
		if appendOne, err = batchAppender(ctx, js, subject, batch == "atomic"); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	return http.Serve(ln, benchfloor.Handler(appendOne))
}

// Batched floor settings: how many batches may be in flight, and the most
// deliveries one may hold (the server's default limit is 1 000).
const (
	floorBatchers = 4
	floorMaxBatch = 256
)

// batchAppender allows batches on the stream and returns an append
// function that hands each delivery to one of floorBatchers goroutines:
// each takes the deliveries queued when it is free, publishes them as one
// batch (atomic, or fast) and wakes their handlers with the batch's result.
func batchAppender(ctx context.Context, js jetstream.JetStream, subject string, atomic bool) (benchfloor.Append, error) {
	st, err := js.Stream(ctx, eventlog.DefaultStream)
	if err != nil {
		return nil, err
	}
	cfg := st.CachedInfo().Config
	cfg.AllowAtomicPublish, cfg.AllowBatchPublish = atomic, !atomic
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("allowing batches: %w", err)
	}
	publish := func(msgs []*nats.Msg) error {
		_, err := jetstreamext.PublishMsgBatch(ctx, js, msgs, jetstreamext.BatchFlowControl{AckTimeout: 10 * time.Second})
		return err
	}
	if !atomic {
		publish = func(msgs []*nats.Msg) error {
			fp, err := jetstreamext.NewFastPublisher(js, jetstreamext.FastPublishFlowControl{Flow: floorMaxBatch, AckTimeout: 10 * time.Second})
			if err != nil {
				return err
			}
			for _, m := range msgs[:len(msgs)-1] {
				if _, err := fp.AddMsg(m); err != nil {
					return err
				}
			}
			_, err = fp.CommitMsg(ctx, msgs[len(msgs)-1])
			return err
		}
	}
	type pending struct {
		msg  *nats.Msg
		done chan error
	}
	queue := make(chan pending, 4096)
	for range floorBatchers {
		go func() {
			batch := make([]pending, 0, floorMaxBatch)
			msgs := make([]*nats.Msg, 0, floorMaxBatch)
			for p := range queue {
				batch, msgs = append(batch[:0], p), append(msgs[:0], p.msg)
			more:
				for len(batch) < floorMaxBatch {
					select {
					case p := <-queue:
						batch, msgs = append(batch, p), append(msgs, p.msg)
					default:
						break more
					}
				}
				err := publish(msgs)
				for _, p := range batch {
					p.done <- err
				}
			}
		}()
	}
	return func(body []byte, id string) error {
		m := nats.NewMsg(subject)
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, id)
		done := make(chan error, 1)
		queue <- pending{m, done}
		return <-done
	}, nil
}

// paced sends request i at start + i/rate, open loop: request i goes on
// connection i mod conns, and its latency runs from the time it was due, so
// a slow answer that delays the requests queued behind it counts against
// them too. Requests are written and answers read on raw keep-alive
// connections, which costs the generator far less CPU than net/http's
// client: on two shared cores the generator's own overhead otherwise shows
// up in the percentiles.
func paced(args []string) error {
	if len(args) != 5 {
		usage()
	}
	addr := args[0]
	rate, err1 := strconv.ParseFloat(args[1], 64)
	secs, err2 := strconv.ParseFloat(args[2], 64)
	conns, err3 := strconv.Atoi(args[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	if rate <= 0 || secs <= 0 || conns <= 0 {
		return errors.New("RATE, SECS and CONNS must be positive")
	}
	reqs, err := loadRequests(args[4], addr)
	if err != nil {
		return err
	}
	n := int(rate * secs)
	if n > len(reqs) {
		return fmt.Errorf("%d requests needed, %s holds %d", n, args[4], len(reqs))
	}
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := time.Now().Add(100 * time.Millisecond)
	for c := range conns {
		wg.Go(func() {
			if err := pacedConn(addr, reqs, lat, c, conns, start, interval); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	elapsed := time.Since(start)
	// The last third separately: in a long run it shows the steady state,
	// once the gateway's heap has stopped growing with the duplicate window.
	last := slices.Clone(lat[n-n/3:])
	slices.Sort(last)
	slices.Sort(lat)
	fmt.Printf("sent %d in %.1fs (%.0f req/s) p50-ms %.2f p90-ms %.2f p99-ms %.2f p999-ms %.2f max-ms %.2f last-third-p99-ms %.2f\n",
		n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), quantileMS(lat, 0.50), quantileMS(lat, 0.90),
		quantileMS(lat, 0.99), quantileMS(lat, 0.999), quantileMS(lat, 1), quantileMS(last, 0.99))
	return nil
}

// quantileMS returns the q-quantile of sorted latencies in milliseconds.
func quantileMS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]) / 1e6
}

func pacedConn(addr string, reqs [][]byte, lat []time.Duration, first, step int, start time.Time, interval time.Duration) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	rd := bufio.NewReaderSize(conn, 16<<10)
	for i := first; i < len(lat); i += step {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if _, err := conn.Write(reqs[i]); err != nil {
			return err
		}
		if err := readResponse(rd); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		lat[i] = time.Since(due)
	}
	return nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length and fails
// unless its status is 2xx.
func readResponse(rd *bufio.Reader) error {
	status, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if len(status) < 12 || status[9] != '2' {
		return fmt.Errorf("answer %q", strings.TrimSpace(status))
	}
	length := -1
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return errors.New("answer without Content-Length")
	}
	_, err = rd.Discard(length)
	return err
}

// loadRequests turns the lines of a `sign` file into raw requests.
func loadRequests(path, addr string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reqs [][]byte
	for line := range bytes.Lines(data) {
		sig, body, ok := bytes.Cut(bytes.TrimRight(line, "\n"), []byte(" "))
		if !ok {
			return nil, fmt.Errorf("%s: line %d is not \"signature body\"", path, len(reqs)+1)
		}
		reqs = append(reqs, fmt.Appendf(nil, "POST /webhooks/truv HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
			"X-Webhook-Sign: %s\r\nContent-Length: %d\r\n\r\n%s", addr, sig, len(body), body))
	}
	return reqs, nil
}
