package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookline/hookline/adapters"
	"github.com/hookline/hookline/adapters/finicity"
	"github.com/hookline/hookline/adapters/swyft"
	"github.com/hookline/hookline/adapters/truv"
)

// fuzzProviders are the webhook paths FuzzIngest posts to, in the order of
// its provider argument.
var fuzzProviders = []string{"truv", "finicity", "swyft"}

// FuzzIngest sends arbitrary bodies and content types to every provider's
// endpoint, signed the way the provider signs (or not), through the whole
// handler with a store that keeps nothing. Whatever the input, the answer
// is a JSON body with a 200 (with events or a ping), or a 4xx error with a
// code, a message and a request id; never a 5xx, never a panic, and a
// correctly signed delivery is never refused as unauthenticated.
//
// go test ./server/ -run '^$' -fuzz '^FuzzIngest$' -fuzztime 60s -parallel 1
func FuzzIngest(f *testing.F) {
	mk := func(fac adapters.Factory, secret string) *Source {
		a, err := fac.New(adapters.Config{Source: "default", Secrets: [][]byte{[]byte(secret)}})
		if err != nil {
			f.Fatal(err)
		}
		return &Source{Provider: fac.Name, Name: "default", Adapter: a}
	}
	in, err := NewIngest([]*Source{
		mk(truv.Factory, testTruvSecret), mk(finicity.Factory, testFinicitySecret), mk(swyft.Factory, testSwyftAuth),
	}, &discardStore{}, slog.New(slog.DiscardHandler), IngestOptions{MaxBodyBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	in.Register(mux)

	for i, p := range fuzzProviders {
		files, err := filepath.Glob(filepath.Join("..", "adapters", p, "testdata", "fixtures", "*.json"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no %s fixtures: %v", p, err)
		}
		for _, file := range files {
			body, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), body, "application/json", true)
		}
	}
	f.Add(uint8(0), []byte(`{"event_type":"order-status-updated"}`), "text/plain", true)
	f.Add(uint8(1), []byte(`{"eventType":"ping"}`), "", false)
	f.Add(uint8(2), []byte(`[]`), "application/json; charset=utf-8", true)

	f.Fuzz(func(t *testing.T, provider uint8, body []byte, contentType string, sign bool) {
		p := fuzzProviders[int(provider)%len(fuzzProviders)]
		req := httptest.NewRequest(http.MethodPost, "/webhooks/"+p, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if sign {
			switch p {
			case "truv":
				req.Header.Set("X-Webhook-Sign", signTruv(testTruvSecret, body))
			case "finicity":
				req.Header.Set("X-Finicity-Signature", signFinicity(testFinicitySecret, body))
			case "swyft":
				req.Header.Set("Authorization", testSwyftAuth)
			}
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)

		code := rec.Code
		if code >= 500 {
			t.Fatalf("%s: %d %s", p, code, rec.Body)
		}
		if sign && code == http.StatusUnauthorized {
			t.Fatalf("%s: a correctly signed delivery was refused: %s", p, rec.Body)
		}
		if code == http.StatusOK {
			var acc Accepted
			if err := json.Unmarshal(rec.Body.Bytes(), &acc); err != nil || acc.RequestID == "" || (len(acc.Events) == 0) != acc.Ping {
				t.Fatalf("%s: 200 with %s (%v)", p, rec.Body, err)
			}
			for _, ev := range acc.Events {
				if ev.ID == "" || ev.Type == "" || ev.Sequence == 0 {
					t.Fatalf("%s: accepted event %+v", p, ev)
				}
			}
			return
		}
		var eb errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" || eb.Error.RequestID == "" {
			t.Fatalf("%s: %d with %s (%v)", p, code, rec.Body, err)
		}
	})
}
