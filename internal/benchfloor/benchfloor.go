// Package benchfloor holds the baselines the ingest benchmarks measure
// the gateway against, so that the in-process benchmarks (server) and the
// out-of-process harness (scripts/benchhelper, scripts/bench.sh) measure
// the same thing:
//
//   - Noop: a handler that reads the body and answers what the gateway
//     answers, doing nothing else (the HTTP exchange alone);
//   - Handler with Publisher: the floor, each body appended unchanged to a
//     JetStream stream with the delivery's signature as its de-duplication
//     id and answered once acknowledged (the durability rule alone).
//
// Nothing here is used by the gateway itself.
package benchfloor

import (
	"io"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
)

// IDHeader carries each delivery's de-duplication id: the signature
// header of the Truv deliveries the benchmarks send, distinct per delivery.
const IDHeader = "X-Webhook-Sign"

// Answer is the body both baselines answer with, shaped like the
// gateway's answer to a new delivery of one event.
var Answer = []byte(`{"request_id":"req_0000000000000_1","duplicate":false,"events":[{"id":"evt_00000000000000000000000000000000",` +
	`"type":"EVENT_TYPE_ORDER_STATUS_CHANGED","sequence":1,"duplicate":false}]}` + "\n")

// Append stores one body under its de-duplication id and returns once it
// is stored.
type Append func(body []byte, id string) error

func answer(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(Answer)
}

// Noop reads the body and answers Answer.
func Noop() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		answer(w)
	})
}

// Handler reads the body, stores it with appendOne under the IDHeader
// value and answers Answer; 503 with the error when the append fails.
func Handler(appendOne Append) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A fresh buffer per delivery: the publish may be resent from it
		// (JetStream's client retries when the stream has no responder).
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := appendOne(body, r.Header.Get(IDHeader)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		answer(w)
	})
}

// Publisher appends each body to subject with one asynchronous publish
// and waits for its own acknowledgement, as the gateway's log does.
func Publisher(js jetstream.JetStream, subject string) Append {
	return func(body []byte, id string) error {
		fut, err := js.PublishAsync(subject, body, jetstream.WithMsgID(id))
		if err != nil {
			return err
		}
		select {
		case <-fut.Ok():
			return nil
		case err := <-fut.Err():
			return err
		}
	}
}
