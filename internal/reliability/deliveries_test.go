package reliability

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// delivery is one webhook request, signed the way its provider signs.
type delivery struct {
	// name identifies the delivery in failure messages.
	name     string
	provider string // truv, finicity or swyft
	path     string
	header   http.Header
	body     []byte
	// key is the order id or session key the event is about, and kind says
	// which ("order" or "session").
	key, kind string
	// at is the provider's own time of the event, which orders the state.
	at time.Time
}

// Providers' signature and authorization headers.
const (
	truvSignHeader     = "X-Webhook-Sign"
	finicitySignHeader = "X-Finicity-Signature"
	finicityAltHeader  = "X-Signature"
	swyftAuthHeader    = "Authorization"
)

// hmacHex is the hex HMAC-SHA256 of body under secret.
func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// jsonHeader is a header with Content-Type: application/json.
func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// signTruv returns a Truv delivery of body: `X-Webhook-Sign: v1=<hex>`.
func signTruv(name string, body []byte) delivery {
	h := jsonHeader()
	h.Set(truvSignHeader, "v1="+hmacHex(truvSecret, body))
	return delivery{name: name, provider: "truv", path: "/webhooks/truv", header: h, body: body}
}

// signFinicity returns a Finicity delivery of body:
// `X-Finicity-Signature: <hex>`.
func signFinicity(name string, body []byte) delivery {
	h := jsonHeader()
	h.Set(finicitySignHeader, hmacHex(finicitySecret, body))
	return delivery{name: name, provider: "finicity", path: "/webhooks/finicity", header: h, body: body}
}

// signSwyft returns a Swyft delivery of body: the static Authorization
// header (Swyft signs nothing).
func signSwyft(name string, body []byte) delivery {
	h := jsonHeader()
	h.Set(swyftAuthHeader, swyftAuth)
	return delivery{name: name, provider: "swyft", path: "/webhooks/swyft", header: h, body: body}
}

// resign signs d's (changed) body again the way its provider signs.
func resign(d delivery) delivery {
	var out delivery
	switch d.provider {
	case "truv":
		out = signTruv(d.name, d.body)
	case "finicity":
		out = signFinicity(d.name, d.body)
	default:
		out = signSwyft(d.name, d.body)
	}
	out.path, out.key, out.kind, out.at = d.path, d.key, d.kind, d.at
	return out
}

// Statuses the generated deliveries cycle through.
var (
	truvStatuses     = []string{"pending", "sent", "completed", "error", "canceled", "expired"}
	finicityTypes    = []string{"started", "adding", "discovered", "processing", "done", "unableToConnect"}
	swyftStatuses    = []string{"Under Review", "Active", "Processing", "Complete", "Cancelled"}
	deliveryTimeBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// mix generates unique signed deliveries, a third each of Truv orders,
// Finicity sessions and Swyft orders. Delivery i is the same on every call
// (a retry sends the same bytes). Each order or session gets several
// events whose provider times are spread at random, so that the latest by
// provider time is rarely the last one posted.
type mix struct {
	// run makes ids unique to one scenario.
	run string
	// keys is the number of orders or sessions per provider.
	keys int
	// pad, when > 0, adds an ignored string field of that many bytes to
	// every padEvery-th delivery.
	pad, padEvery int
}

// at returns delivery i: provider i%3, key (i/3)%keys.
func (m mix) at(i int) delivery {
	keys := max(m.keys, 1)
	k := (i / 3) % keys
	// A provider time unique to i within its key: whole seconds (Swyft has
	// no finer ones), shuffled by a hash of i.
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", m.run, i))
	offset := time.Duration(binary.BigEndian.Uint32(h[:4])%(1<<24)) * time.Second
	at := deliveryTimeBase.Add(offset)
	padding := ""
	if m.pad > 0 && m.padEvery > 0 && i%m.padEvery == 0 {
		padding = fmt.Sprintf(`,"reliability_padding":%q`, strings.Repeat("p", m.pad))
	}
	var d delivery
	switch i % 3 {
	case 0:
		key := fmt.Sprintf("%s-truv-%d", m.run, k)
		body := fmt.Appendf(nil, `{"webhook_id":%q,"event_type":"order-status-updated","event_created_at":%q,"updated_at":%q,`+
			`"product":"income","order_id":%q,"order_number":"%d","status":%q%s}`,
			hex.EncodeToString(h[4:20]), at.Format(time.RFC3339Nano), at.Format("2006-01-02T15:04:05.000000+00:00"),
			key, i, truvStatuses[i%len(truvStatuses)], padding)
		d = signTruv(fmt.Sprintf("truv#%d", i), body)
		d.key, d.kind = key, "order"
	case 1:
		key := fmt.Sprintf("%s-fin-%d", m.run, k)
		body := fmt.Appendf(nil, `{"customerId":%q,"eventType":%q,"eventId":"%013d-%s","payload":{"institutionId":"102176"}%s}`,
			key, finicityTypes[i%len(finicityTypes)], at.UnixMilli(), hex.EncodeToString(h[4:16]), padding)
		d = signFinicity(fmt.Sprintf("finicity#%d", i), body)
		d.key, d.kind = key, "session"
	default:
		key := fmt.Sprintf("%s-swyft-%d", m.run, k)
		st := swyftStatuses[i%len(swyftStatuses)]
		body := fmt.Appendf(nil, `{"event_id":"%s-%d","event":{"name":"order_status_change","changed_field":"status","old_status":"Created","new_status":%q},`+
			`"order":{"id":%d,"uuid":%q,"service":"ein","status":%q,"processing_status":"Under Review","updated_at":%q}%s}`,
			m.run, i, st, i, key, st, at.Format(time.DateTime), padding)
		d = signSwyft(fmt.Sprintf("swyft#%d", i), body)
		d.key, d.kind = key, "order"
	}
	d.at = at
	return d
}
