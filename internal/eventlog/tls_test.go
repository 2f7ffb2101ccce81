package eventlog

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/testpki"
	"github.com/nats-io/nats-server/v2/server"
)

// TestExternalClusterTLS: an external NATS server that requires TLS with a
// private CA and client certificates (mutual TLS) is reachable with
// TLSCAFile and the client certificate; without the CA the server is not
// trusted, and without the certificate the server refuses the client.
func TestExternalClusterTLS(t *testing.T) {
	ca := testpki.NewCA(t)
	srv, cli := ca.Issue(t, "server", 2, true), ca.Issue(t, "client", 3, false)
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		MaxPayload: int32(PayloadFor(DefaultMaxBodyBytes)),
		TLS:        true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientCAs: ca.Pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	url := fmt.Sprintf("tls://127.0.0.1:%d", ns.Addr().(*net.TCPAddr).Port)
	ctx := context.Background()

	for name, opts := range map[string]Options{
		"no CA":                 {URL: url, TLSCertFile: cli.CertFile, TLSKeyFile: cli.KeyFile},
		"no client certificate": {URL: url, TLSCAFile: ca.File},
	} {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l, err := Open(octx, opts)
		if err == nil {
			l.Close()
			t.Errorf("%s: Open succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		cancel()
	}

	l, err := Open(ctx, Options{URL: url, TLSCAFile: ca.File, TLSCertFile: cli.CertFile, TLSKeyFile: cli.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.Append(ctx, testEvent("evt_tls", hooklinev1.Provider_PROVIDER_TRUV, "o"))
	if err != nil || res.Sequence != 1 {
		t.Fatalf("append over TLS = %+v, %v", res, err)
	}
}
