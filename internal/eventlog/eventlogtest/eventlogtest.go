// Package eventlogtest opens an embedded event log for tests with its NATS
// server at hand: to publish around the log, look at its connections, or
// stop the store under it. Only tests import it (arch_test.go).
package eventlogtest

import (
	"context"
	"sync"
	"testing"

	"github.com/hookline/hookline/internal/eventlog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Log is an event log and, when embedded, the server it runs on.
type Log struct {
	*eventlog.Log
	// NATS is the embedded server the log runs on; nil on an external one.
	NATS *server.Server

	once sync.Once
}

// Open starts an embedded NATS server for opts (in a new temporary
// directory unless opts.DataDir is set) and opens the log on it, as the
// gateway does; with opts.URL it opens the log on that external server.
// Close closes both; so does the test's cleanup.
func Open(t testing.TB, opts eventlog.Options) *Log {
	t.Helper()
	if opts.URL != "" {
		l, err := eventlog.Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		kl := &Log{Log: l}
		t.Cleanup(kl.Close)
		return kl
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	ns, err := eventlog.StartEmbedded(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Server = ns
	l, err := eventlog.Open(context.Background(), opts)
	if err != nil {
		ns.Shutdown()
		t.Fatal(err)
	}
	kl := &Log{Log: l, NATS: ns}
	t.Cleanup(kl.Close)
	return kl
}

// JetStream returns a JetStream client of its own on the log's embedded
// server, to publish or purge around the log; the test's cleanup closes its
// connection.
func (l *Log) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	if l.NATS == nil {
		t.Fatal("eventlogtest: JetStream needs an embedded log")
	}
	nc, err := nats.Connect("", nats.InProcessServer(l.NATS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Close closes the log, then stops its server after it has flushed its
// files. It is safe to call more than once.
func (l *Log) Close() {
	l.once.Do(func() {
		l.Log.Close()
		if l.NATS != nil {
			l.NATS.Shutdown()
			l.NATS.WaitForShutdown()
		}
	})
}
