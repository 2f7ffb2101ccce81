package finicity

import (
	"bytes"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// Sign implements adapters.SignFunc the way Finicity signs Connect events:
// X-Finicity-Signature is the bare lower-case hex HMAC-SHA256 of the raw
// body under the partner secret. (Report callbacks are unsigned; a signed
// one is still accepted by a source that allows unauthenticated
// deliveries.)
func Sign(h http.Header, body, secret []byte) {
	h.Set(HeaderSignature, hex.EncodeToString(adapters.HMACSHA256(secret, body)))
}

// sampleTable lists one fixture for each of the 20 event types Finicity
// documents: 16 Connect events (ping included) and 4 report callbacks. The
// sample is named after the fixture.
var sampleTable = []struct {
	name, desc string
	typ        hooklinev1.EventType
	ping       bool
}{
	{"started", "a Connect session started", hooklinev1.EventType_EVENT_TYPE_SESSION_STARTED, false},
	{"institutionSupported", "the consumer chose a supported institution", hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_SELECTED, false},
	{"institutionNotSupported", "the consumer chose an institution Connect does not support", hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_NOT_SUPPORTED, false},
	{"institutionNotFound", "the consumer's institution search found nothing", hooklinev1.EventType_EVENT_TYPE_SESSION_INSTITUTION_NOT_FOUND, false},
	{"adding", "the consumer submitted credentials", hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, false},
	{"credentialsUpdated", "the consumer updated credentials", hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_SUBMITTED, false},
	{"invalidCredentials", "the institution refused the credentials", hooklinev1.EventType_EVENT_TYPE_SESSION_CREDENTIALS_INVALID, false},
	{"mfa", "the institution asked for multi-factor authentication", hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_CHALLENGED, false},
	{"mfaUpdated", "the consumer answered the MFA challenge", hooklinev1.EventType_EVENT_TYPE_SESSION_MFA_ANSWERED, false},
	{"discovered", "accounts were discovered at the institution", hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DISCOVERED, false},
	{"added", "accounts were added (with balances)", hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_ADDED, false},
	{"accountsDeleted", "the consumer removed accounts", hooklinev1.EventType_EVENT_TYPE_SESSION_ACCOUNTS_DELETED, false},
	{"processing", "Connect is processing the accounts", hooklinev1.EventType_EVENT_TYPE_SESSION_PROCESSING, false},
	{"done", "the Connect session completed", hooklinev1.EventType_EVENT_TYPE_SESSION_COMPLETED, false},
	{"unableToConnect", "Connect could not reach the institution", hooklinev1.EventType_EVENT_TYPE_SESSION_FAILED, false},
	{"ping", "liveness probe when a Connect URL is generated (answered, not stored)", hooklinev1.EventType_EVENT_TYPE_UNSPECIFIED, true},
	{"report_inProgress", "report callback: a report is being generated", hooklinev1.EventType_EVENT_TYPE_REPORT_IN_PROGRESS, false},
	{"report_done", "report callback: a report is ready", hooklinev1.EventType_EVENT_TYPE_REPORT_COMPLETED, false},
	{"report_failed", "report callback: generating a report failed", hooklinev1.EventType_EVENT_TYPE_REPORT_FAILED, false},
	{"report_primaryFieldUpdate", "report callback: a report's primary fields changed", hooklinev1.EventType_EVENT_TYPE_REPORT_UPDATED, false},
}

// Samples returns a sample of every event type Finicity documents, each
// built from the fixture of the same name: Connect events get a fresh
// eventId (the sample time's milliseconds, a hyphen and 24 hex digits),
// customerId and consumerId; report callbacks a fresh report id,
// customerId and consumerId. The ping is sent as it is.
func Samples() []adapters.Sample {
	out := make([]adapters.Sample, 0, len(sampleTable))
	for _, s := range sampleTable {
		fixture, _ := fixtures.ReadFile(path.Join("testdata/fixtures", s.name+".json")) // names are checked by adaptertest
		out = append(out, adapters.Sample{Name: s.name, Description: s.desc, Type: s.typ, Ping: s.ping, Body: sampleBody(fixture)})
	}
	return out
}

// sampleBody returns the body builder of one fixture.
func sampleBody(fixture []byte) func(adapters.SampleParams) []byte {
	var old struct {
		EventID    string          `json:"eventId"`
		ReportID   string          `json:"id"`
		CustomerID json.RawMessage `json:"customerId"` // a string in Connect events, a number in reports
		ConsumerID string          `json:"consumerId"`
		EventType  string          `json:"eventType"`
	}
	_ = json.Unmarshal(fixture, &old) // a field of another type stays unreplaced
	if old.EventType == "ping" {
		return func(adapters.SampleParams) []byte { return bytes.Clone(fixture) }
	}
	return func(p adapters.SampleParams) []byte {
		customerID := p.Digits("customerId", 10)
		repl := map[string]string{old.ConsumerID: p.Hex("consumerId", 32)}
		switch {
		case old.EventID != "":
			eventID := p.EventID
			if eventID == "" {
				eventID = fmt.Sprintf("%d-%s", p.Time.UnixMilli(), p.Hex("eventId", 24))
			}
			repl[old.EventID] = eventID
		case old.ReportID != "":
			reportID := p.EventID
			if reportID == "" {
				reportID = p.Hex("reportId", 12)
			}
			repl[old.ReportID] = reportID
		}
		var oldCustomer string
		if json.Unmarshal(old.CustomerID, &oldCustomer) == nil {
			repl[oldCustomer] = customerID
		}
		delete(repl, "")
		body := adapters.ReplaceJSONStrings(fixture, repl)
		if n := bytes.TrimSpace(old.CustomerID); len(n) > 0 && n[0] != '"' {
			// A report's numeric customerId.
			body = bytes.Replace(body, append([]byte(`"customerId":`), n...), []byte(`"customerId":`+customerID), 1)
		}
		return body
	}
}
