package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"github.com/hookline/hookline/internal/testkit"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
	"github.com/hookline/hookline/internal/testpki"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// TestTLSListeners runs the gateway with --tls-cert/--tls-key: webhooks,
// REST and gRPC are served over TLS only, and a renewed certificate written
// over the files is served to new connections without a restart.
func TestTLSListeners(t *testing.T) {
	defer func(d time.Duration) { certCheckInterval = d }(certCheckInterval)
	certCheckInterval = 0

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookline.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t)
	first := ca.Issue(t, "server", 1, true)
	certFile, keyFile := first.CertFile, first.KeyFile

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"--config", cfgPath, "--data-dir", filepath.Join(dir, "data"),
			"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile},
			func(k string) string { return testEnv[k] }, pw, logs)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("gateway did not start: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`http=(\S+) grpc=(\S+) .* tls=on`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start line %q does not say tls=on", line)
	}
	httpAddr, grpcAddr := m[1], m[2]

	// A new connection per request, so each sees the certificate served now.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, DisableKeepAlives: true}}
	testkit.WaitFor(t, 20*time.Second, "readiness over HTTPS", func() bool {
		resp, err := c.Get("https://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	d := signedFixtures(t)[0]
	req, _ := http.NewRequest(http.MethodPost, "https://"+httpAddr+d.path, bytes.NewReader(d.body))
	req.Header = d.header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("webhook over HTTPS: %d (TLS %v)", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served next to TLS")
		}
	}

	conn, err := grpc.NewClient("passthrough:///"+grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+apiToken)
	list, err := hooklinev1.NewEventServiceClient(conn).ListEvents(gctx, &hooklinev1.ListEventsRequest{})
	if err != nil || len(list.GetEvents()) == 0 {
		t.Fatalf("ListEvents over gRPC with TLS: %v, %v", list, err)
	}
	req, _ = http.NewRequest(http.MethodGet, "https://"+httpAddr+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("REST over HTTPS: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Renewal: new connections get the new certificate.
	ca.Issue(t, "server", 2, true)
	testkit.WaitFor(t, 10*time.Second, "the renewed certificate to be served", func() bool {
		resp, err := c.Get("https://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 2
	})
	if !strings.Contains(logs.String(), "tls_reloaded") {
		t.Errorf("no tls_reloaded log line")
	}
}
