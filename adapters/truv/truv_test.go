package truv

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
)

func sign(body, secret []byte) http.Header {
	return http.Header{"X-Webhook-Sign": {"v1=" + hex.EncodeToString(adapters.HMACSHA256(secret, body))}}
}

func badAuth() map[string]func(http.Header) {
	m := adaptertest.StandardBadAuth(SignatureHeader)
	m["no-prefix"] = func(h http.Header) {
		h.Set(SignatureHeader, strings.TrimPrefix(h.Get(SignatureHeader), "v1="))
	}
	m["v2-prefix"] = func(h http.Header) {
		h.Set(SignatureHeader, "v2="+strings.TrimPrefix(h.Get(SignatureHeader), "v1="))
	}
	return m
}

var suite = adaptertest.Suite{
	Factory:   Factory,
	Sign:      sign,
	SignsBody: true,
	BadAuth:   badAuth(),
	Dir:       "testdata",
	UnknownEventBody: []byte(`{"webhook_id":"5d0c6f1e2a3b4c5d6e7f8091a2b3c4d5","event_type":"payroll-report-ready",` +
		`"event_created_at":"2024-07-11T21:59:40.601173Z","updated_at":"2024-07-11T21:59:40.601219+00:00",` +
		`"order_id":"cc9858565214fce7497537b5cfce26f1"}`),
}

func TestGoldens(t *testing.T)     { adaptertest.RunGoldens(t, suite) }
func TestConformance(t *testing.T) { adaptertest.RunConformance(t, suite) }

func FuzzNormalize(f *testing.F) { adaptertest.FuzzNormalize(f, suite) }
func FuzzVerify(f *testing.F)    { adaptertest.FuzzVerify(f, suite, SignatureHeader) }

func TestFactory(t *testing.T) {
	if Factory.Name != "truv" || len(Factory.Aliases) != 0 {
		t.Errorf("Name %q, Aliases %v; want truv and none", Factory.Name, Factory.Aliases)
	}
	if _, err := Factory.New(adapters.Config{Source: "s", AllowUnauthenticated: true}); err != nil {
		t.Errorf("New with AllowUnauthenticated and no secrets: %v", err)
	}
	if _, err := Factory.New(adapters.Config{Source: "s"}); !errors.Is(err, adapters.ErrNoSecrets) {
		t.Errorf("New without secrets = %v, want ErrNoSecrets", err)
	}
	if _, err := Factory.New(adapters.Config{Source: "s", Secrets: [][]byte{[]byte("k")}, Options: map[string]string{"session_field": "x"}}); err == nil {
		t.Error("New with an option succeeded; truv takes none")
	}
}

// TestSecretsCopied checks the adapter does not alias the caller's secret.
func TestSecretsCopied(t *testing.T) {
	secret := []byte("test-secret-0123456789")
	a, err := Factory.New(adapters.Config{Source: "test", Secrets: [][]byte{secret}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event_type":"link-deleted","link_id":"x"}`)
	d := &adapters.Delivery{Header: sign(body, []byte("test-secret-0123456789")), Body: body}
	secret[0] = 'X'
	if err := a.Verify(d); err != nil {
		t.Fatalf("Verify after the caller changed its secret slice: %v", err)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"webhook_id":"0aac461e7b774a38a72fd9c7c0eef8ee","event_type":"order-created","order_id":"o1"}`)
	digest := hex.EncodeToString(adapters.HMACSHA256(adaptertest.Secret, body))
	wrong := hex.EncodeToString(adapters.HMACSHA256([]byte("another-secret"), body))
	tests := []struct {
		name    string
		header  http.Header
		wantErr string // "" means Verify succeeds
	}{
		{"lowercase hex", hdr("X-Webhook-Sign", "v1="+digest), ""},
		{"uppercase hex", hdr("X-Webhook-Sign", "v1="+strings.ToUpper(digest)), ""},
		{"uppercase prefix and spaces", hdr("X-Webhook-Sign", "  V1="+digest+" \t"), ""},
		{"uppercase prefix and hex", hdr("X-Webhook-Sign", "V1="+strings.ToUpper(digest)), ""},
		{"lower-case header name", hdr("x-webhook-sign", "v1="+digest), ""},
		{"upper-case header name", hdr("X-WEBHOOK-SIGN", "v1="+digest), ""},
		{"missing", http.Header{}, "missing X-Webhook-Sign header"},
		{"empty", hdr("X-Webhook-Sign", ""), "missing X-Webhook-Sign header"},
		{"blank", hdr("X-Webhook-Sign", "   "), "missing X-Webhook-Sign header"},
		{"no prefix", hdr("X-Webhook-Sign", digest), "does not start with v1="},
		{"v2 prefix", hdr("X-Webhook-Sign", "v2="+digest), "does not start with v1="},
		{"sha256 prefix", hdr("X-Webhook-Sign", "sha256="+digest), "does not start with v1="},
		{"prefix only", hdr("X-Webhook-Sign", "v1="), "not a hex HMAC-SHA256 digest"},
		{"short", hdr("X-Webhook-Sign", "v1="+digest[:62]), "not a hex HMAC-SHA256 digest"},
		{"long", hdr("X-Webhook-Sign", "v1="+digest+"00"), "not a hex HMAC-SHA256 digest"},
		{"not hex", hdr("X-Webhook-Sign", "v1="+strings.Repeat("zz", 32)), "not a hex HMAC-SHA256 digest"},
		{"two signatures", hdr("X-Webhook-Sign", "v1="+digest+",v1="+digest), "not a hex HMAC-SHA256 digest"},
		{"wrong secret", hdr("X-Webhook-Sign", "v1="+wrong), "signature does not match"},
		{"other header", hdr("X-Truv-Signature", "v1="+digest), "missing X-Webhook-Sign header"},
	}
	a := suite.New(t, adaptertest.Secret)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Verify(&adapters.Delivery{Header: tt.header, Body: body})
			checkVerifyErr(t, err, tt.wantErr)
		})
	}
}

// hdr returns a header with one field, set the way net/http stores a
// received header (canonical name).
func hdr(name, value string) http.Header {
	h := http.Header{}
	h.Set(name, value)
	return h
}

func checkVerifyErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("Verify = %v, want success", err)
	case want == "":
	case !errors.Is(err, adapters.ErrUnauthenticated):
		t.Fatalf("Verify = %v, want ErrUnauthenticated", err)
	case !strings.Contains(err.Error(), want):
		t.Fatalf("Verify = %q, want a reason containing %q", err, want)
	case strings.Contains(err.Error(), "0aac461e"):
		t.Fatalf("reason %q leaks payload", err)
	}
}

func TestVerifyRotation(t *testing.T) {
	body := []byte(`{"event_type":"link-deleted","link_id":"l1"}`)
	a := suite.New(t, []byte("old-secret"), []byte("new-secret"))
	for _, s := range []string{"old-secret", "new-secret"} {
		if err := a.Verify(&adapters.Delivery{Header: sign(body, []byte(s)), Body: body}); err != nil {
			t.Errorf("secret %s: %v", s, err)
		}
	}
}

func TestVerifyUnauthenticated(t *testing.T) {
	body := []byte(`{"event_type":"link-deleted","link_id":"l1"}`)
	open, err := Factory.New(adapters.Config{Source: "s", AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Verify(&adapters.Delivery{Header: http.Header{}, Body: body}); err != nil {
		t.Errorf("AllowUnauthenticated without secrets: Verify = %v, want nil", err)
	}
	// With secrets configured the flag does not switch verification off.
	both, err := Factory.New(adapters.Config{Source: "s", AllowUnauthenticated: true, Secrets: [][]byte{adaptertest.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	if err := both.Verify(&adapters.Delivery{Header: http.Header{}, Body: body}); !errors.Is(err, adapters.ErrUnauthenticated) {
		t.Errorf("AllowUnauthenticated with secrets and no header: Verify = %v, want ErrUnauthenticated", err)
	}
}
