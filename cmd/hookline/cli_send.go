package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/registry"
)

// DefaultSendURL is where `hookline send` posts: the gateway's default
// --http-addr.
const DefaultSendURL = "http://127.0.0.1:8080"

const sendUsage = `
Usage:
  hookline send [flags] PROVIDER EVENT_TYPE     post a built-in sample
  hookline send [flags] --file PATH PROVIDER    post a body of your own
  hookline send --list [PROVIDER]               list the samples

Signs a webhook body the way the provider signs it (Truv: X-Webhook-Sign
v1=HMAC-SHA256; Finicity: X-Finicity-Signature HMAC-SHA256; Swyft: the
static Authorization value) and posts it to POST /webhooks/PROVIDER[/SOURCE]
of a gateway. Prints the HTTP status to stderr and the gateway's JSON answer
to stdout; exits 1 when the answer is not 2xx.

A sample is a realistic delivery of one event type the provider documents,
with fresh ids (the event id, and the order, task, link, customer ids) and
the current time each time, so each send is a new event. --id fixes the event
id (and derives the other ids from it): sending twice is then a provider's
retry, and the second answer says "duplicate":true.

The secret is --secret, else $HOOKLINE_SEND_SECRET, else the development
secret of config/dev.yaml (truv: dev-truv-access-secret, finicity:
dev-finicity-partner-secret, swyft: "Bearer dev-swyft-token"), so that
'make run' in one terminal and 'hookline send truv order-status-updated' in
another work with no flags at all. Providers: truv, finicity (or mastercard),
swyft.

Examples:
  hookline send --list
  hookline send truv order-status-updated
  hookline send finicity done
  hookline send swyft order_status_change --url https://gateway.example.com --ca ca.pem
  hookline send truv order-created --id 0aac461e7b774a38a72fd9c7c0eef8ee     # twice: a duplicate
  hookline send finicity report_done --source reports                      # POST /webhooks/finicity/reports
  HOOKLINE_SEND_SECRET=... hookline send --file body.json truv`

// devSecret is the development secret config/dev.yaml gives a provider's
// default source (the Makefile's run target exports it);
// TestDevSecretsMatchDevConfig keeps them equal.
func devSecret(provider string) string {
	switch provider {
	case "truv":
		return "dev-truv-access-secret"
	case "finicity":
		return "dev-finicity-partner-secret"
	case "swyft":
		return "Bearer dev-swyft-token"
	}
	return ""
}

// runSend is `hookline send`.
func runSend(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", sendUsage, stderr)
	base := fs.String("url", DefaultSendURL, "base `URL` of the gateway's HTTP listener [$HOOKLINE_SEND_URL]")
	source := fs.String("source", "", "post to /webhooks/PROVIDER/`NAME` (a named source) instead of the default source")
	secret := fs.String("secret", "", "the source's secret (Swyft: the whole Authorization value) [$HOOKLINE_SEND_SECRET; default: the dev secret of config/dev.yaml]")
	file := fs.String("file", "", "post the body in `PATH` instead of a sample, signed the same way")
	contentType := fs.String("content-type", "application/json", "Content-Type of the request")
	id := fs.String("id", "", "use `ID` as the sample's provider event id (webhook_id, eventId, event_id) and derive its other ids from it")
	list := fs.Bool("list", false, "list the samples (provider, event type, unified type, description) and exit")
	ca := fs.String("ca", "", "PEM `file` of the CA that signed an https gateway's certificate")
	timeout := fs.Duration("timeout", DefaultTimeout, "time limit of the request")
	dryRun := fs.Bool("dry-run", false, "print the signed request (headers and body) instead of sending it")
	if v := getenv("HOOKLINE_SEND_URL"); v != "" {
		*base = v
	}
	pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	if *list {
		return listSamples(stdout, pos)
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErrorf("send: name a provider (%s)", strings.Join(providerNames(), ", "))
	}
	f, ok := registry.Lookup(strings.ToLower(pos[0]))
	if !ok {
		return usageErrorf("send: unknown provider %q (known: %s)", pos[0], strings.Join(providerNames(), ", "))
	}

	var body []byte
	what := f.Name
	switch {
	case *file != "":
		if len(pos) != 1 {
			return usageErrorf("send --file takes the provider only, got %q", pos)
		}
		if *id != "" {
			return usageErrorf("--id applies to samples, not to --file")
		}
		if body, err = os.ReadFile(*file); err != nil {
			return usageErrorf("--file: %v", err)
		}
		what += " " + *file
	case len(pos) != 2:
		return usageErrorf("usage: hookline send PROVIDER EVENT_TYPE (hookline send --list shows them)")
	default:
		sm, err := findSample(f, pos[1])
		if err != nil {
			return err
		}
		body = sm.Body(sampleParams(*id, time.Now()))
		what += " " + sm.Name
	}

	key := *secret
	if key == "" {
		key = getenv("HOOKLINE_SEND_SECRET")
	}
	if key == "" {
		key = devSecret(f.Name)
	}
	target, err := webhookURL(*base, f.Name, *source)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return usageErrorf("--url: %v", err)
	}
	req.Header.Set("Content-Type", *contentType)
	req.Header.Set("User-Agent", "hookline-send")
	f.Sign(req.Header, body, []byte(key))
	if *dryRun {
		fmt.Fprintf(stdout, "POST %s\n", target)
		_ = req.Header.Write(stdout)
		fmt.Fprintf(stdout, "\n%s\n", body)
		return nil
	}

	client := &http.Client{Timeout: *timeout}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return usageErrorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usageErrorf("--ca %s holds no PEM certificate", *ca)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("cannot reach the gateway at %s: connection refused. Is it running? Start one with `make run`, or point --url (or HOOKLINE_SEND_URL) at yours", *base)
		}
		return fmt.Errorf("posting to %s: %w", target, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", target, err)
	}
	fmt.Fprintf(stderr, "%s: POST %s: %s\n", what, target, resp.Status)
	stdout.Write(bytes.TrimRight(answer, "\n"))
	fmt.Fprintln(stdout)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return fmt.Errorf("the gateway answered %s%s", resp.Status, answerHint(resp.StatusCode, answer, f.Name, *source))
}

// webhookURL is base + /webhooks/provider[/source].
func webhookURL(base, provider, source string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageErrorf("--url %q: want http://host:port or https://host:port", base)
	}
	p := "/webhooks/" + provider
	if source != "" {
		p += "/" + url.PathEscape(source)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	return u.String(), nil
}

// answerHint says what to do about a rejected delivery.
func answerHint(code int, answer []byte, provider, source string) string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(answer, &e)
	msg := ""
	if e.Error.Message != "" {
		msg = ": " + e.Error.Message
	}
	switch code {
	case http.StatusUnauthorized:
		return msg + " (the secret does not match the source's: pass --secret or HOOKLINE_SEND_SECRET; without either the dev secret of config/dev.yaml is used)"
	case http.StatusNotFound:
		if source != "" {
			return msg + fmt.Sprintf(" (is source %q of %s in the gateway's --config?)", source, provider)
		}
		return msg + fmt.Sprintf(" (does the gateway's --config have a %s source?)", provider)
	}
	return msg
}

// sampleParams returns the parameters of one send: with an id, the event
// id and a seed derived from it (so a second send is a retry of the first);
// without, fresh randomness.
func sampleParams(id string, now time.Time) adapters.SampleParams {
	p := adapters.SampleParams{EventID: id, Time: now}
	if id == "" {
		_, _ = rand.Read(p.Seed[:]) // crypto/rand never fails on supported platforms
		return p
	}
	copy(p.Seed[:], (adapters.SampleParams{}).Hex("send --id "+id, 32))
	return p
}

// findSample returns the provider's sample of that name, ignoring case.
func findSample(f adapters.Factory, name string) (adapters.Sample, error) {
	var names []string
	for _, s := range f.Samples() {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return adapters.Sample{}, usageErrorf("send: %s has no sample %q; its samples: %s (hookline send --list %s describes them)",
		f.Name, name, strings.Join(names, ", "), f.Name)
}

// listSamples prints the samples of every provider, or of those named.
func listSamples(w io.Writer, providers []string) error {
	factories := registry.Factories()
	if len(providers) > 0 {
		factories = factories[:0:0]
		for _, p := range providers {
			f, ok := registry.Lookup(strings.ToLower(p))
			if !ok {
				return usageErrorf("send --list: unknown provider %q (known: %s)", p, strings.Join(providerNames(), ", "))
			}
			factories = append(factories, f)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tEVENT TYPE\tUNIFIED TYPE\tDESCRIPTION")
	for _, f := range factories {
		for _, s := range f.Samples() {
			typ := strings.TrimPrefix(s.Type.String(), "EVENT_TYPE_")
			if s.Ping {
				typ = "(ping)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, s.Name, typ, s.Description)
		}
	}
	return tw.Flush()
}
