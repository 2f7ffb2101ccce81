package truv

import (
	"embed"
	"encoding/hex"
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

// Sign implements adapters.SignFunc the way Truv signs: X-Webhook-Sign is
// "v1=" and the lower-case hex HMAC-SHA256 of the raw body under the access
// secret.
func Sign(h http.Header, body, secret []byte) {
	h.Set(SignatureHeader, signaturePrefix+hex.EncodeToString(adapters.HMACSHA256(secret, body)))
}

// sampleTable lists one fixture for each of the 19 event types Truv
// documents (the 17 of its webhook API's events enum, and order-finalized
// and certification-completed).
var sampleTable = []struct {
	name, desc string
	typ        hooklinev1.EventType
}{
	{"order-created", "an order was created", hooklinev1.EventType_EVENT_TYPE_ORDER_CREATED},
	{"order-status-updated", "an order's status changed (here: completed)", hooklinev1.EventType_EVENT_TYPE_ORDER_STATUS_CHANGED},
	{"order-refresh-failed", "refreshing an order's data failed (login_error)", hooklinev1.EventType_EVENT_TYPE_ORDER_REFRESH_FAILED},
	{"order-finalized", "an order was finalized", hooklinev1.EventType_EVENT_TYPE_ORDER_FINALIZED},
	{"certification-completed", "the borrower certified an order", hooklinev1.EventType_EVENT_TYPE_ORDER_CERTIFICATION_COMPLETED},
	{"task-status-updated", "a Bridge task changed status (here: done)", hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED},
	{"link-connected", "a user connected a payroll or bank account", hooklinev1.EventType_EVENT_TYPE_LINK_CONNECTED},
	{"link-disconnected", "a link lost its connection", hooklinev1.EventType_EVENT_TYPE_LINK_DISCONNECTED},
	{"link-deleted", "a link was deleted", hooklinev1.EventType_EVENT_TYPE_LINK_DELETED},
	{"employment-created", "employment data was retrieved", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED},
	{"employment-updated", "employment data was refreshed", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED},
	{"profile-created", "profile data was retrieved", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED},
	{"profile-updated", "profile data was refreshed", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED},
	{"statements-created", "pay statements were retrieved", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED},
	{"statements-updated", "pay statements were refreshed", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED},
	{"shifts-created", "shift data was retrieved", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED},
	{"shifts-updated", "shift data was refreshed", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED},
	{"bank-accounts-created", "bank accounts were retrieved", hooklinev1.EventType_EVENT_TYPE_DATA_CREATED},
	{"bank-accounts-updated", "bank accounts were refreshed", hooklinev1.EventType_EVENT_TYPE_DATA_UPDATED},
}

// Samples returns a sample of every event type Truv documents, each built
// from the fixture of the same name with a fresh webhook_id, order_id,
// task_id, link_id and user_id, and event_created_at and updated_at set to
// the sample time.
func Samples() []adapters.Sample {
	out := make([]adapters.Sample, 0, len(sampleTable))
	for _, s := range sampleTable {
		fixture, _ := fixtures.ReadFile(path.Join("testdata/fixtures", s.name+".json")) // names are checked by adaptertest
		out = append(out, adapters.Sample{Name: s.name, Description: s.desc, Type: s.typ, Body: sampleBody(fixture)})
	}
	return out
}

// sampleBody returns the body builder of one fixture.
func sampleBody(fixture []byte) func(adapters.SampleParams) []byte {
	var old struct {
		WebhookID      string `json:"webhook_id"`
		OrderID        string `json:"order_id"`
		TaskID         string `json:"task_id"`
		LinkID         string `json:"link_id"`
		UserID         string `json:"user_id"`
		EventCreatedAt string `json:"event_created_at"`
		UpdatedAt      string `json:"updated_at"`
	}
	_ = json.Unmarshal(fixture, &old) // a field of another type stays unreplaced
	return func(p adapters.SampleParams) []byte {
		eventID := p.EventID
		if eventID == "" {
			eventID = p.Hex("webhook_id", 32)
		}
		t := p.Time.UTC()
		repl := map[string]string{
			old.WebhookID:      eventID,
			old.OrderID:        p.Hex("order_id", 32),
			old.TaskID:         p.Hex("task_id", 32),
			old.LinkID:         p.Hex("link_id", 32),
			old.UserID:         p.Hex("user_id", 32),
			old.EventCreatedAt: t.Format("2006-01-02T15:04:05.000000Z"),
			old.UpdatedAt:      t.Format("2006-01-02T15:04:05.000000+00:00"),
		}
		delete(repl, "")
		return adapters.ReplaceJSONStrings(fixture, repl)
	}
}
