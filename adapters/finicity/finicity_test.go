package finicity_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/adaptertest"
	"github.com/hookline/hookline/adapters/finicity"
)

// sign authenticates body the way Finicity does: bare lowercase hex
// HMAC-SHA256 of the body in X-Finicity-Signature.
func sign(body, secret []byte) http.Header {
	return http.Header{"X-Finicity-Signature": {hex.EncodeToString(adapters.HMACSHA256(secret, body))}}
}

// suite is the main suite: no options, fixtures under testdata/.
func suite() adaptertest.Suite {
	bad := adaptertest.StandardBadAuth("X-Finicity-Signature")
	bad["v1-prefixed"] = func(h http.Header) {
		h.Set("X-Finicity-Signature", "v1="+h.Get("X-Finicity-Signature"))
	}
	return adaptertest.Suite{
		Factory:   finicity.Factory,
		Sign:      sign,
		SignsBody: true,
		BadAuth:   bad,
		Dir:       "testdata",
		UnknownEventBody: []byte(`{"customerId":"6030781868","eventType":"accountsRefreshed",` +
			`"eventId":"1688829099999-0123456789abcdef01234567","payload":{}}`),
	}
}

// sessionFieldSuite runs the session-key fixtures with session_field set.
func sessionFieldSuite() adaptertest.Suite {
	s := suite()
	s.Options = map[string]string{finicity.OptionSessionField: "sessionId"}
	s.Dir = "testdata/session_field"
	return s
}

func TestGoldens(t *testing.T)             { adaptertest.RunGoldens(t, suite()) }
func TestGoldensSessionField(t *testing.T) { adaptertest.RunGoldens(t, sessionFieldSuite()) }
func TestConformance(t *testing.T)         { adaptertest.RunConformance(t, suite()) }
func TestConformanceSessionField(t *testing.T) {
	adaptertest.RunConformance(t, sessionFieldSuite())
}

func FuzzNormalize(f *testing.F) { adaptertest.FuzzNormalize(f, suite()) }
func FuzzVerify(f *testing.F)    { adaptertest.FuzzVerify(f, suite(), "X-Finicity-Signature") }

// FuzzVerifyReserialize feeds arbitrary bodies to an adapter with
// reserialize_fallback. A JSON body signed over its compact form must verify;
// a body json.Compact rejects gets no fallback, so a signature over anything
// but its raw bytes must fail. Verify must never panic.
func FuzzVerifyReserialize(f *testing.F) {
	for _, fx := range suite().Fixtures(f) {
		f.Add(fx.Body)
	}
	f.Add([]byte("{\n  \"eventType\": \"ping\"\n}"))
	a := newAdapter(f, map[string]string{finicity.OptionReserializeFallback: "true"})
	f.Fuzz(func(t *testing.T, body []byte) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err != nil {
			signed := append(append([]byte(nil), body...), ' ')
			err := a.Verify(&adapters.Delivery{Header: sign(signed, adaptertest.Secret), Body: body})
			if !errors.Is(err, adapters.ErrUnauthenticated) {
				t.Fatalf("non-JSON body with a foreign signature: Verify = %v, want ErrUnauthenticated", err)
			}
			return
		}
		err := a.Verify(&adapters.Delivery{Header: sign(compact.Bytes(), adaptertest.Secret), Body: body})
		if err != nil {
			t.Fatalf("a JSON body signed over its compact form was rejected: %v", err)
		}
	})
}

func newAdapter(tb testing.TB, options map[string]string) adapters.Adapter {
	tb.Helper()
	a, err := finicity.Factory.New(adapters.Config{
		Source:  "test",
		Secrets: [][]byte{adaptertest.Secret},
		Options: options,
	})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return a
}

func TestFactory(t *testing.T) {
	f := finicity.Factory
	if f.Provider.String() != "PROVIDER_FINICITY" || f.Name != "finicity" ||
		len(f.Aliases) != 1 || f.Aliases[0] != "mastercard" {
		t.Errorf("Factory = %v %q %q, want PROVIDER_FINICITY \"finicity\" [\"mastercard\"]", f.Provider, f.Name, f.Aliases)
	}
}

func TestNewConfig(t *testing.T) {
	valid := func() adapters.Config {
		return adapters.Config{Source: "test", Secrets: [][]byte{adaptertest.Secret}}
	}
	tests := []struct {
		name    string
		mutate  func(c *adapters.Config)
		wantErr bool
	}{
		{"valid", func(*adapters.Config) {}, false},
		{"session field", func(c *adapters.Config) { c.Options = map[string]string{"session_field": "sessionId"} }, false},
		{"reserialize true", func(c *adapters.Config) { c.Options = map[string]string{"reserialize_fallback": "true"} }, false},
		{"reserialize false", func(c *adapters.Config) { c.Options = map[string]string{"reserialize_fallback": "false"} }, false},
		{"reserialize yes", func(c *adapters.Config) { c.Options = map[string]string{"reserialize_fallback": "yes"} }, true},
		{"reserialize TRUE", func(c *adapters.Config) { c.Options = map[string]string{"reserialize_fallback": "TRUE"} }, true},
		{"reserialize empty", func(c *adapters.Config) { c.Options = map[string]string{"reserialize_fallback": ""} }, true},
		{"unknown option", func(c *adapters.Config) { c.Options = map[string]string{"sessionField": "x"} }, true},
		{"no secrets", func(c *adapters.Config) { c.Secrets = nil }, true},
		{"unauthenticated", func(c *adapters.Config) { c.Secrets, c.AllowUnauthenticated = nil, true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			_, err := finicity.Factory.New(cfg)
			if (err != nil) != tt.wantErr {
				t.Errorf("New = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

var startedBody = []byte(`{"customerId":"6030781868","eventType":"started",` +
	`"eventId":"1688828990123-a1f4e86d81aea57916fa5d65","payload":{}}`)

func TestVerify(t *testing.T) {
	good := hex.EncodeToString(adapters.HMACSHA256(adaptertest.Secret, startedBody))
	wrong := hex.EncodeToString(adapters.HMACSHA256([]byte("wrong-secret"), startedBody))
	tests := []struct {
		name   string
		header http.Header
		wantOK bool
	}{
		{"X-Finicity-Signature", http.Header{"X-Finicity-Signature": {good}}, true},
		{"X-Signature only", http.Header{"X-Signature": {good}}, true},
		{"both, first wrong", http.Header{"X-Finicity-Signature": {wrong}, "X-Signature": {good}}, false},
		{"both, second wrong", http.Header{"X-Finicity-Signature": {good}, "X-Signature": {wrong}}, true},
		{"first empty, second valid", http.Header{"X-Finicity-Signature": {""}, "X-Signature": {good}}, true},
		{"uppercase hex", http.Header{"X-Finicity-Signature": {strings.ToUpper(good)}}, true},
		{"surrounding whitespace", http.Header{"X-Finicity-Signature": {" " + good + "\t"}}, true},
		{"v1 prefix", http.Header{"X-Finicity-Signature": {"v1=" + good}}, false},
		{"wrong secret", http.Header{"X-Finicity-Signature": {wrong}}, false},
		{"X-Signature wrong", http.Header{"X-Signature": {wrong}}, false},
		{"no header", http.Header{}, false},
		{"not hex", http.Header{"X-Finicity-Signature": {strings.Repeat("zz", 32)}}, false},
		{"too long", http.Header{"X-Finicity-Signature": {good + "00"}}, false},
	}
	a := newAdapter(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Verify(&adapters.Delivery{Header: tt.header, Body: startedBody})
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("Verify = %v, want nil", err)
			case !tt.wantOK && !errors.Is(err, adapters.ErrUnauthenticated):
				t.Errorf("Verify = %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestVerifyUnauthenticatedSource(t *testing.T) {
	open, err := finicity.Factory.New(adapters.Config{Source: "reports", AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Verify(&adapters.Delivery{Header: http.Header{}, Body: startedBody}); err != nil {
		t.Errorf("unauthenticated source: Verify = %v, want nil", err)
	}
	// AllowUnauthenticated with secrets still checks them.
	mixed, err := finicity.Factory.New(adapters.Config{Source: "mixed", AllowUnauthenticated: true,
		Secrets: [][]byte{adaptertest.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mixed.Verify(&adapters.Delivery{Header: http.Header{}, Body: startedBody}); !errors.Is(err, adapters.ErrUnauthenticated) {
		t.Errorf("source with secrets: Verify without a signature = %v, want ErrUnauthenticated", err)
	}
}

func TestReserializeFallback(t *testing.T) {
	pretty := []byte("{\n  \"customerId\": \"6030781868\",\n  \"eventType\": \"started\",\n" +
		"  \"eventId\": \"1688828990123-a1f4e86d81aea57916fa5d65\",\n  \"payload\": {}\n}\n")
	var compact bytes.Buffer
	if err := json.Compact(&compact, pretty); err != nil {
		t.Fatal(err)
	}
	other := []byte(`{"customerId":"6030781869","eventType":"started","eventId":"1688828990123-a1f4e86d81aea57916fa5d65","payload":{}}`)
	tests := []struct {
		name     string
		fallback string
		body     []byte
		signed   []byte
		wantOK   bool
	}{
		{"compact signature, fallback off", "false", pretty, compact.Bytes(), false},
		{"compact signature, no option", "", pretty, compact.Bytes(), false},
		{"compact signature, fallback on", "true", pretty, compact.Bytes(), true},
		{"raw signature, fallback on", "true", pretty, pretty, true},
		{"other content, fallback on", "true", pretty, other, false},
		{"not JSON, fallback on", "true", []byte("<a> <b/> </a>"), []byte("<a><b/></a>"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := map[string]string{}
			if tt.fallback != "" {
				opts[finicity.OptionReserializeFallback] = tt.fallback
			}
			a := newAdapter(t, opts)
			err := a.Verify(&adapters.Delivery{Header: sign(tt.signed, adaptertest.Secret), Body: tt.body})
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("Verify = %v, want nil", err)
			case !tt.wantOK && !errors.Is(err, adapters.ErrUnauthenticated):
				t.Errorf("Verify = %v, want ErrUnauthenticated", err)
			}
		})
	}
}
