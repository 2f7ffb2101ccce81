package swyft

import (
	"embed"
	"encoding/json"
	"net/http"
	"path"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// fixtures are the recorded deliveries the tests run on; the samples are
// built from them so that each sample is a body whose golden file already
// pins its mapping.
//
//go:embed testdata/fixtures/*.json
var fixtures embed.FS

// Sign implements adapters.SignFunc for Swyft, which signs nothing: the
// secret is the whole Authorization header value agreed with Swyft (for
// example "Bearer s3cr3t"), sent as it is.
func Sign(h http.Header, _, secret []byte) {
	h.Set(AuthorizationHeader, string(secret))
}

// sampleTable lists one fixture for each of the 2 event types Swyft
// documents, in the top-level shape of its webhooks page.
var sampleTable = []struct {
	name, fixture, desc string
	typ                 hooklinev1.EventType
}{
	{"order_status_change", "order_status_change_top_level", "an order's status changed (here: Active to Cancelled)",
		hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED},
	{"order_processing_status_change", "order_processing_status_change_top_level", "an order's processing status changed (here: Under Review to Processing)",
		hooklinev1.EventType_EVENT_TYPE_ORDER_PROCESSING_STATUS_CHANGED},
}

// Samples returns a sample of both event types Swyft documents, each built
// from a fixture with a fresh event_id (10 digits) and order uuid, and the
// order's updated_at set to the sample time (in UTC, Swyft's zone-less
// format).
func Samples() []adapters.Sample {
	out := make([]adapters.Sample, 0, len(sampleTable))
	for _, s := range sampleTable {
		fixture, _ := fixtures.ReadFile(path.Join("testdata/fixtures", s.fixture+".json")) // names are checked by adaptertest
		out = append(out, adapters.Sample{Name: s.name, Description: s.desc, Type: s.typ, Body: sampleBody(fixture)})
	}
	return out
}

// sampleBody returns the body builder of one fixture.
func sampleBody(fixture []byte) func(adapters.SampleParams) []byte {
	type order struct {
		UUID      string `json:"uuid"`
		UpdatedAt string `json:"updated_at"`
	}
	var old struct {
		EventID string `json:"event_id"`
		Order   order  `json:"order"`
		Data    struct {
			Order order `json:"order"`
		} `json:"data"`
	}
	_ = json.Unmarshal(fixture, &old) // a field of another type stays unreplaced
	if old.Order.UUID == "" {
		old.Order = old.Data.Order
	}
	return func(p adapters.SampleParams) []byte {
		eventID := p.EventID
		if eventID == "" {
			eventID = p.Digits("event_id", 10)
		}
		repl := map[string]string{
			old.EventID:         eventID,
			old.Order.UUID:      p.UUID("order"),
			old.Order.UpdatedAt: p.Time.UTC().Format("2006-01-02 15:04:05"),
		}
		delete(repl, "")
		return adapters.ReplaceJSONStrings(fixture, repl)
	}
}
