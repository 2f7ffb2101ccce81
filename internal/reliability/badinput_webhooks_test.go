package reliability

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// Fixes being made to the gateway while this suite was written; a case
// that names one is expected to fail until it is merged.
const (
	fixLongIDs   = "long ids (5 000 and 50 000 characters, full of dots)"
	fixUTF8IDs   = "ids that differ only in invalid UTF-8 or lone surrogates"
	fixTruncated = "truncated bodies (400 bad_request instead of 500)"
	fixPaths     = "path tricks (404 not_found instead of a redirect)"
	fixEncoded   = "encoded slashes in webhook paths (404 not_found instead of unknown_provider)"
	fixBodyCap   = "a body at --max-body-bytes (200 instead of 503)"
	fixFilters   = "filter limits (1024 bytes a value, 1000 values a list)"
	fixPageBytes = "pages bounded to 2 MiB (next_page_token instead of 429)"
)

// webhookCase is one request to a webhook endpoint: a valid delivery of
// provider from, changed by mutate (the delivery: headers, body) and wire
// (the request: method, target, framing), and the answer it must get.
type webhookCase struct {
	name   string
	from   string
	mutate func(e *corpusEnv, d *delivery)
	wire   func(r *request)
	status int
	code   string // error.code of a non-200 answer
	fix    string // a fix in progress this case waits for
	// check runs further checks on a 200 answer.
	check func(t *testing.T, e *corpusEnv, r request, a answer)
}

func runWebhookCases(t *testing.T, e *corpusEnv) []caseResult {
	var out []caseResult
	for _, c := range webhookCases() {
		out = append(out, checkedRun(t, e, c.name, c.fix, func(t *testing.T) {
			d := e.validDelivery(c.from)
			if c.mutate != nil {
				c.mutate(e, &d)
			}
			r := d.request()
			if c.wire != nil {
				c.wire(&r)
			}
			a := e.send(t, r)
			if a.status != c.status || (c.status != http.StatusOK && a.code != c.code) {
				t.Fatalf("got %d %q (%s), want %d %q", a.status, a.code, clip(a.body), c.status, c.code)
			}
			if c.check != nil {
				c.check(t, e, r, a)
			}
		}))
	}
	return out
}

// Mutations.

// setBody replaces the body and signs it again, as the provider would have.
func setBody(d *delivery, b []byte) {
	d.body = b
	*d = resign(*d)
}

// setHeader sets (or with no values deletes) a header.
func setHeader(k string, vs ...string) func(*corpusEnv, *delivery) {
	return func(_ *corpusEnv, d *delivery) {
		d.header.Del(k)
		for _, v := range vs {
			d.header.Add(k, v)
		}
	}
}

// truvSig changes the Truv signature header with edit, given the
// correct hex digest of the body.
func truvSig(edit func(hexSig string) string) func(*corpusEnv, *delivery) {
	return func(_ *corpusEnv, d *delivery) {
		d.header.Set(truvSignHeader, edit(hmacHex(truvSecret, d.body)))
	}
}

// finicitySig changes the Finicity signature header the same way.
func finicitySig(edit func(hexSig string) string) func(*corpusEnv, *delivery) {
	return func(_ *corpusEnv, d *delivery) {
		d.header.Set(finicitySignHeader, edit(hmacHex(finicitySecret, d.body)))
	}
}

// tamper changes the case of the body's last letter after it was signed
// (the JSON stays valid).
func tamper(_ *corpusEnv, d *delivery) {
	d.body = bytes.Clone(d.body)
	for i := len(d.body) - 1; i >= 0; i-- {
		if c := d.body[i]; c >= 'a' && c <= 'z' {
			d.body[i] = c - 'a' + 'A'
			return
		}
	}
}

// truvWithBody gives a Truv delivery the body made by mk, signed.
func truvWithBody(mk func(e *corpusEnv) []byte) func(*corpusEnv, *delivery) {
	return func(e *corpusEnv, d *delivery) { setBody(d, mk(e)) }
}

// truvExtra adds members to a new valid Truv body.
func truvExtra(extra string) func(*corpusEnv, *delivery) {
	return truvWithBody(func(e *corpusEnv) []byte { return truvBody(q(hexID(e.uid("wh"))), q(e.uid("order")), extra) })
}

// longID is an id of exactly n bytes that starts with seed; with dots it
// is full of `.` (a NATS subject separator).
func longID(seed string, n int, dots bool) string {
	fill := "x"
	if dots {
		fill = "a."
	}
	s := seed + "-" + strings.Repeat(fill, n/len(fill)+1)
	return s[:n]
}

// gzipped and deflated compress b.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func deflated(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// paddedTruv is a signed Truv body of exactly n bytes, padded with an
// ignored string field.
func paddedTruv(e *corpusEnv, n int) []byte {
	empty := truvBody(q(hexID(e.uid("wh"))), q(e.uid("order")), `,"reliability_padding":""`)
	pad := n - len(empty)
	if pad < 0 {
		pad = 0
	}
	return bytes.Replace(empty, []byte(`"reliability_padding":""`), fmt.Appendf(nil, `"reliability_padding":"%s"`, strings.Repeat("p", pad)), 1)
}

// Checks.

// allowPOST checks a 405's Allow header.
func allowPOST(t *testing.T, _ *corpusEnv, _ request, a answer) {
	t.Helper()
	if got := a.header.Get("Allow"); got != http.MethodPost {
		t.Errorf("Allow: %q, want POST", got)
	}
}

// retriedIsDuplicate sends the same request again: it must be a duplicate
// of the same event and sequence.
func retriedIsDuplicate(t *testing.T, e *corpusEnv, r request, first answer) {
	t.Helper()
	a := e.send(t, r)
	if a.status != http.StatusOK || !a.ok.Duplicate || len(a.ok.Events) != 1 || len(first.ok.Events) != 1 ||
		a.ok.Events[0].ID != first.ok.Events[0].ID || a.ok.Events[0].Sequence != first.ok.Events[0].Sequence {
		t.Errorf("DUPLICATE: the same delivery again answered %d %s; first answer %s", a.status, clip(a.body), clip(first.body))
	}
}

// storedEvent reads the answer's event back with GetEvent.
func storedEvent(t *testing.T, e *corpusEnv, a answer) *hooklinev1.Event {
	t.Helper()
	if len(a.ok.Events) != 1 {
		t.Fatalf("answer has %d events, want 1", len(a.ok.Events))
	}
	ctx, cancel := withTimeout()
	defer cancel()
	e.gw.waitIndexed(t, a.ok.Events[0].Sequence)
	resp, err := e.api.GetEvent(ctx, &hooklinev1.GetEventRequest{Id: a.ok.Events[0].ID})
	if err != nil {
		t.Fatalf("GetEvent %s: %v", a.ok.Events[0].ID, err)
	}
	return resp.GetEvent()
}

// orderReadable checks that GetOrder finds *key with the answer's event.
func orderReadable(key *string) func(*testing.T, *corpusEnv, request, answer) {
	return func(t *testing.T, e *corpusEnv, r request, a answer) {
		t.Helper()
		ev := storedEvent(t, e, a)
		ctx, cancel := withTimeout()
		defer cancel()
		resp, err := e.api.GetOrder(ctx, &hooklinev1.GetOrderRequest{OrderId: *key})
		switch {
		case err != nil:
			t.Errorf("GetOrder of the %d-byte order id: %v", len(*key), err)
		case resp.GetOrder().GetLastEventId() != ev.GetId() || resp.GetOrder().GetOrderId() != *key:
			t.Errorf("GetOrder of the %d-byte order id: last event %s, id of %d bytes; want %s and the same id",
				len(*key), resp.GetOrder().GetLastEventId(), len(resp.GetOrder().GetOrderId()), ev.GetId())
		}
		retriedIsDuplicate(t, e, r, a)
	}
}

// sessionReadable checks that GetSession finds *key with the answer's
// event.
func sessionReadable(key *string) func(*testing.T, *corpusEnv, request, answer) {
	return func(t *testing.T, e *corpusEnv, r request, a answer) {
		t.Helper()
		ev := storedEvent(t, e, a)
		ctx, cancel := withTimeout()
		defer cancel()
		resp, err := e.api.GetSession(ctx, &hooklinev1.GetSessionRequest{SessionKey: *key})
		switch {
		case err != nil:
			t.Errorf("GetSession of the %d-byte key: %v", len(*key), err)
		case resp.GetSession().GetLastEventId() != ev.GetId():
			t.Errorf("GetSession of the %d-byte key: last event %s, want %s", len(*key), resp.GetSession().GetLastEventId(), ev.GetId())
		}
		retriedIsDuplicate(t, e, r, a)
	}
}

// providerIDKept checks that the stored event carries *id as its provider
// event id.
func providerIDKept(id *string) func(*testing.T, *corpusEnv, request, answer) {
	return func(t *testing.T, e *corpusEnv, r request, a answer) {
		t.Helper()
		if ev := storedEvent(t, e, a); ev.GetProviderEventId() != *id {
			t.Errorf("stored provider event id has %d bytes, want the %d sent", len(ev.GetProviderEventId()), len(*id))
		}
		retriedIsDuplicate(t, e, r, a)
	}
}

// Case builders for the long ids.

func longTruvOrder(n int, dots bool) webhookCase {
	var key string
	return webhookCase{
		name: fmt.Sprintf("ids/truv order_id of %d bytes%s", n, dotted(dots)), from: "truv", status: http.StatusOK, fix: fixLongIDs,
		mutate: func(e *corpusEnv, d *delivery) {
			key = longID(e.uid("order"), n, dots)
			setBody(d, truvBody(q(hexID(e.uid("wh"))), q(key), ""))
		},
		check: orderReadable(&key),
	}
}

func longTruvWebhookID(n int, dots bool) webhookCase {
	var id string
	return webhookCase{
		name: fmt.Sprintf("ids/truv webhook_id of %d bytes%s", n, dotted(dots)), from: "truv", status: http.StatusOK, fix: fixLongIDs,
		mutate: func(e *corpusEnv, d *delivery) {
			id = longID(e.uid("wh"), n, dots)
			setBody(d, truvBody(q(id), q(e.uid("order")), ""))
		},
		check: providerIDKept(&id),
	}
}

func longFinicityCustomer(n int, dots bool) webhookCase {
	var key string
	return webhookCase{
		name: fmt.Sprintf("ids/finicity customerId (session key) of %d bytes%s", n, dotted(dots)), from: "finicity", status: http.StatusOK, fix: fixLongIDs,
		mutate: func(e *corpusEnv, d *delivery) {
			key = longID(e.uid("cust"), n, dots)
			setBody(d, finicityBody(q(finicityEventID(e.uid("ev"))), q(key), ""))
		},
		check: sessionReadable(&key),
	}
}

func longSwyftOrder(n int, dots bool) webhookCase {
	var key string
	return webhookCase{
		name: fmt.Sprintf("ids/swyft order uuid of %d bytes%s", n, dotted(dots)), from: "swyft", status: http.StatusOK, fix: fixLongIDs,
		mutate: func(e *corpusEnv, d *delivery) {
			key = longID(e.uid("uuid"), n, dots)
			setBody(d, swyftBody(q(e.uid("ev")), q(key), ""))
		},
		check: orderReadable(&key),
	}
}

func longSwyftEventID(n int, dots bool) webhookCase {
	var id string
	return webhookCase{
		name: fmt.Sprintf("ids/swyft event_id of %d bytes%s", n, dotted(dots)), from: "swyft", status: http.StatusOK, fix: fixLongIDs,
		mutate: func(e *corpusEnv, d *delivery) {
			id = longID(e.uid("ev"), n, dots)
			setBody(d, swyftBody(q(id), q(e.uid("uuid")), ""))
		},
		check: providerIDKept(&id),
	}
}

func dotted(dots bool) string {
	if dots {
		return ", full of dots"
	}
	return ""
}

// rawID is a webhook id given as raw JSON string contents (escapes and
// bytes as they are).
func rawID(contents string) string { return `"` + contents + `"` }

func webhookCases() []webhookCase {
	const (
		ok           = http.StatusOK
		unauth       = http.StatusUnauthorized
		bad          = http.StatusBadRequest
		unsupported  = http.StatusUnsupportedMediaType
		codeUnauth   = "unauthenticated"
		codeMalf     = "malformed_payload"
		codeMedia    = "unsupported_media_type"
		codeNotFound = "not_found"
	)
	other := func(e *corpusEnv) []byte { return truvBody(q(hexID(e.uid("wh"))), q(e.uid("order")), "") }
	cases := []webhookCase{
		// Truv: X-Webhook-Sign: v1=<hex HMAC-SHA256 of the raw body>.
		{name: "truv/valid", from: "truv", status: ok},
		{name: "truv/body changed after signing", from: "truv", mutate: tamper, status: unauth, code: codeUnauth},
		{name: "truv/signature of another body", from: "truv", status: unauth, code: codeUnauth,
			mutate: func(e *corpusEnv, d *delivery) { d.header.Set(truvSignHeader, "v1="+hmacHex(truvSecret, other(e))) }},
		{name: "truv/signed with a wrong secret", from: "truv", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) { d.header.Set(truvSignHeader, "v1="+hmacHex("wrong", d.body)) }},
		{name: "truv/signed with Finicity's secret", from: "truv", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) { d.header.Set(truvSignHeader, "v1="+hmacHex(finicitySecret, d.body)) }},
		{name: "truv/prefix v2=", from: "truv", mutate: truvSig(func(s string) string { return "v2=" + s }), status: unauth, code: codeUnauth},
		{name: "truv/prefix V1= in upper case", from: "truv", mutate: truvSig(func(s string) string { return "V1=" + s }), status: ok},
		{name: "truv/bare hex without prefix", from: "truv", mutate: truvSig(func(s string) string { return s }), status: unauth, code: codeUnauth},
		{name: "truv/prefix v1: instead of v1=", from: "truv", mutate: truvSig(func(s string) string { return "v1:" + s }), status: unauth, code: codeUnauth},
		{name: "truv/prefix sha256=", from: "truv", mutate: truvSig(func(s string) string { return "sha256=" + s }), status: unauth, code: codeUnauth},
		{name: "truv/hex in upper case", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + strings.ToUpper(s) }), status: ok},
		{name: "truv/white space around the value", from: "truv", mutate: truvSig(func(s string) string { return "  v1=" + s + "  " }), status: ok},
		{name: "truv/space after v1=", from: "truv", mutate: truvSig(func(s string) string { return "v1= " + s }), status: ok},
		{name: "truv/space inside the hex", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + s[:20] + " " + s[20:] }), status: unauth, code: codeUnauth},
		{name: "truv/tab inside the hex", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + s[:20] + "\t" + s[20:] }), status: unauth, code: codeUnauth},
		{name: "truv/63 hex digits", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + s[:63] }), status: unauth, code: codeUnauth},
		{name: "truv/65 hex digits", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + s + "0" }), status: unauth, code: codeUnauth},
		{name: "truv/the digest twice", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + s + s }), status: unauth, code: codeUnauth},
		{name: "truv/non-hex digit", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + s[:63] + "g" }), status: unauth, code: codeUnauth},
		{name: "truv/nothing after v1=", from: "truv", mutate: truvSig(func(string) string { return "v1=" }), status: unauth, code: codeUnauth},
		{name: "truv/empty header value", from: "truv", mutate: setHeader(truvSignHeader, ""), status: unauth, code: codeUnauth},
		{name: "truv/missing header", from: "truv", mutate: setHeader(truvSignHeader), status: unauth, code: codeUnauth},
		{name: "truv/4 KiB header value", from: "truv", mutate: truvSig(func(s string) string { return "v1=" + strings.Repeat(s, 64) }), status: unauth, code: codeUnauth},
		{name: "truv/digest in base64", from: "truv", status: unauth, code: codeUnauth,
			mutate: truvSig(func(s string) string {
				b, _ := hex.DecodeString(s)
				return "v1=" + base64.StdEncoding.EncodeToString(b)
			})},
		{name: "truv/header name in lower case", from: "truv", status: ok,
			mutate: func(_ *corpusEnv, d *delivery) {
				v := d.header.Get(truvSignHeader)
				d.header.Del(truvSignHeader)
				d.header["x-webhook-sign"] = []string{v}
			}},
		{name: "truv/signature under Finicity's header", from: "truv", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) {
				d.header.Set(finicitySignHeader, d.header.Get(truvSignHeader))
				d.header.Del(truvSignHeader)
			}},
		{name: "truv/signed body ending in a newline", from: "truv", status: ok,
			mutate: func(_ *corpusEnv, d *delivery) { setBody(d, append(bytes.Clone(d.body), '\n')) }},
		{name: "truv/pretty-printed body with the compact body's signature", from: "truv", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) {
				var buf bytes.Buffer
				_ = json.Indent(&buf, d.body, "", "  ")
				d.body = buf.Bytes()
			}},

		// Finicity: X-Finicity-Signature (else X-Signature), bare hex.
		{name: "finicity/valid X-Finicity-Signature", from: "finicity", status: ok},
		{name: "finicity/valid X-Signature", from: "finicity", status: ok,
			mutate: func(_ *corpusEnv, d *delivery) {
				d.header.Set(finicityAltHeader, d.header.Get(finicitySignHeader))
				d.header.Del(finicitySignHeader)
			}},
		{name: "finicity/hex in upper case", from: "finicity", mutate: finicitySig(strings.ToUpper), status: ok},
		{name: "finicity/white space around the value", from: "finicity", mutate: finicitySig(func(s string) string { return " " + s + " " }), status: ok},
		{name: "finicity/prefix sha256=", from: "finicity", mutate: finicitySig(func(s string) string { return "sha256=" + s }), status: unauth, code: codeUnauth},
		{name: "finicity/prefix v1=", from: "finicity", mutate: finicitySig(func(s string) string { return "v1=" + s }), status: unauth, code: codeUnauth},
		{name: "finicity/body changed after signing", from: "finicity", mutate: tamper, status: unauth, code: codeUnauth},
		{name: "finicity/signature of another body", from: "finicity", status: unauth, code: codeUnauth,
			mutate: func(e *corpusEnv, d *delivery) { d.header.Set(finicitySignHeader, hmacHex(finicitySecret, other(e))) }},
		{name: "finicity/missing signature", from: "finicity", mutate: setHeader(finicitySignHeader), status: unauth, code: codeUnauth},
		{name: "finicity/wrong X-Finicity-Signature beside a right X-Signature", from: "finicity", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) {
				d.header.Set(finicityAltHeader, d.header.Get(finicitySignHeader))
				d.header.Set(finicitySignHeader, hmacHex("wrong", d.body))
			}},
		{name: "finicity/63 hex digits", from: "finicity", mutate: finicitySig(func(s string) string { return s[:63] }), status: unauth, code: codeUnauth},
		{name: "finicity/non-hex digit", from: "finicity", mutate: finicitySig(func(s string) string { return "z" + s[1:] }), status: unauth, code: codeUnauth},
		{name: "finicity/signed with Truv's secret", from: "finicity", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) { d.header.Set(finicitySignHeader, hmacHex(truvSecret, d.body)) }},
		{name: "finicity/Truv's header and scheme", from: "finicity", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) {
				d.header.Set(truvSignHeader, "v1="+d.header.Get(finicitySignHeader))
				d.header.Del(finicitySignHeader)
			}},

		// Swyft: a static Authorization header; nothing covers the body.
		{name: "swyft/valid", from: "swyft", status: ok},
		{name: "swyft/wrong value", from: "swyft", mutate: setHeader(swyftAuthHeader, "Bearer wrong"), status: unauth, code: codeUnauth},
		{name: "swyft/missing header", from: "swyft", mutate: setHeader(swyftAuthHeader), status: unauth, code: codeUnauth},
		{name: "swyft/scheme in lower case", from: "swyft", mutate: setHeader(swyftAuthHeader, "b"+swyftAuth[1:]), status: unauth, code: codeUnauth},
		{name: "swyft/token without its scheme", from: "swyft", mutate: setHeader(swyftAuthHeader, strings.TrimPrefix(swyftAuth, "Bearer ")), status: unauth, code: codeUnauth},
		{name: "swyft/two spaces after the scheme", from: "swyft", mutate: setHeader(swyftAuthHeader, strings.Replace(swyftAuth, " ", "  ", 1)), status: unauth, code: codeUnauth},
		{name: "swyft/two Authorization headers", from: "swyft", mutate: setHeader(swyftAuthHeader, swyftAuth, swyftAuth), status: unauth, code: codeUnauth},
		{name: "swyft/a Truv signature instead", from: "swyft", status: unauth, code: codeUnauth,
			mutate: func(_ *corpusEnv, d *delivery) {
				d.header.Del(swyftAuthHeader)
				d.header.Set(truvSignHeader, "v1="+hmacHex(truvSecret, d.body))
			}},
		{name: "swyft/body changed after authorizing (Swyft signs nothing)", from: "swyft", mutate: tamper, status: ok},

		// Bodies, each signed as sent.
		{name: "body/empty", from: "truv", mutate: truvWithBody(func(*corpusEnv) []byte { return []byte{} }), status: bad, code: codeMalf},
		{name: "body/white space only", from: "truv", mutate: truvWithBody(func(*corpusEnv) []byte { return []byte(" \n\t ") }), status: bad, code: codeMalf},
		{name: "body/null", from: "truv", mutate: truvWithBody(func(*corpusEnv) []byte { return []byte("null") }), status: bad, code: codeMalf},
		{name: "body/an array", from: "truv", mutate: truvWithBody(func(e *corpusEnv) []byte { return append(append([]byte("["), other(e)...), ']') }), status: bad, code: codeMalf},
		{name: "body/a string", from: "truv", mutate: truvWithBody(func(*corpusEnv) []byte { return []byte(`"order-status-updated"`) }), status: bad, code: codeMalf},
		{name: "body/a number", from: "truv", mutate: truvWithBody(func(*corpusEnv) []byte { return []byte("42") }), status: bad, code: codeMalf},
		{name: "body/cut in half", from: "truv", mutate: truvWithBody(func(e *corpusEnv) []byte { b := other(e); return b[:len(b)/2] }), status: bad, code: codeMalf},
		{name: "body/trailing data", from: "truv", mutate: truvWithBody(func(e *corpusEnv) []byte { return append(other(e), " x"...) }), status: bad, code: codeMalf},
		{name: "body/two objects", from: "truv", mutate: truvWithBody(func(e *corpusEnv) []byte { return append(other(e), other(e)...) }), status: bad, code: codeMalf},
		{name: "body/not JSON", from: "truv", mutate: truvWithBody(func(*corpusEnv) []byte { return []byte("event=order-status-updated&status=completed") }), status: bad, code: codeMalf},
		{name: "body/byte order mark", from: "truv", mutate: truvWithBody(func(e *corpusEnv) []byte { return append([]byte("\xef\xbb\xbf"), other(e)...) }), status: bad, code: codeMalf},
		{name: "body/event_type a number", from: "truv", status: bad, code: codeMalf,
			mutate: truvWithBody(func(e *corpusEnv) []byte {
				return bytes.Replace(other(e), []byte(`"order-status-updated"`), []byte("7"), 1)
			})},
		{name: "body/event_type an object", from: "truv", status: bad, code: codeMalf,
			mutate: truvWithBody(func(e *corpusEnv) []byte {
				return bytes.Replace(other(e), []byte(`"order-status-updated"`), []byte(`{"name":"order-status-updated"}`), 1)
			})},
		{name: "body/webhook_id an array", from: "truv", status: bad, code: codeMalf,
			mutate: truvWithBody(func(e *corpusEnv) []byte { return truvBody(`["a","b"]`, q(e.uid("order")), "") })},
		{name: "body/order_id an object", from: "truv", status: bad, code: codeMalf,
			mutate: truvWithBody(func(e *corpusEnv) []byte { return truvBody(q(hexID(e.uid("wh"))), `{"id":1}`, "") })},
		{name: "body/swyft event.name a number", from: "swyft", status: bad, code: codeMalf,
			mutate: func(e *corpusEnv, d *delivery) {
				setBody(d, bytes.Replace(d.body, []byte(`"name":"order_status_change"`), []byte(`"name":12`), 1))
			}},
		{name: "body/status a number (kept raw, UNKNOWN)", from: "truv", status: ok,
			mutate: truvWithBody(func(e *corpusEnv) []byte {
				return bytes.Replace(other(e), []byte(`"status":"completed"`), []byte(`"status":404`), 1)
			})},
		{name: "body/nested 100 000 deep", from: "truv", mutate: truvExtra(`,"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000)), status: bad, code: codeMalf},
		{name: "body/nested 500 deep in an ignored field", from: "truv", mutate: truvExtra(`,"x":` + strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500)), status: ok},
		{name: "body/invalid UTF-8 in an ignored field", from: "truv", mutate: truvExtra(",\"note\":\"caf\xc3\x28 \xff\xfe\""), status: ok},
		{name: "body/escaped NUL in an ignored field", from: "truv", mutate: truvExtra(`,"note":"a\u0000b"`), status: ok},
		{name: "body/raw NUL byte inside a string", from: "truv", mutate: truvExtra(",\"note\":\"a\x00b\""), status: bad, code: codeMalf},
		{name: "body/raw NUL byte between members", from: "truv", mutate: truvExtra(",\x00\"note\":1"), status: bad, code: codeMalf},
		escapedNULOrder(),

		// Provider event ids that differ only in what is not valid text:
		// decoded leniently they would become the same id, and the second
		// delivery would be dropped as a duplicate of the first.
		{name: "ids/truv webhook_id with byte 0xff", from: "truv", status: bad, code: codeMalf, fix: fixUTF8IDs,
			mutate: truvWithBody(func(e *corpusEnv) []byte { return truvBody(rawID("utf8-twin-\xff"), q(e.uid("order")), "") })},
		{name: "ids/truv webhook_id with byte 0xfe (its twin)", from: "truv", status: bad, code: codeMalf, fix: fixUTF8IDs,
			mutate: truvWithBody(func(e *corpusEnv) []byte { return truvBody(rawID("utf8-twin-\xfe"), q(e.uid("order")), "") })},
		{name: "ids/truv webhook_id with a lone high surrogate", from: "truv", status: bad, code: codeMalf, fix: fixUTF8IDs,
			mutate: truvWithBody(func(e *corpusEnv) []byte { return truvBody(rawID(`surrogate-twin-\ud800`), q(e.uid("order")), "") })},
		{name: "ids/truv webhook_id with a lone low surrogate (its twin)", from: "truv", status: bad, code: codeMalf, fix: fixUTF8IDs,
			mutate: truvWithBody(func(e *corpusEnv) []byte { return truvBody(rawID(`surrogate-twin-\udc00`), q(e.uid("order")), "") })},
		{name: "ids/truv webhook_id with a valid surrogate pair", from: "truv", status: ok,
			mutate: truvWithBody(func(e *corpusEnv) []byte {
				return truvBody(rawID(e.uid("emoji")+`-\ud83d\ude00`), q(e.uid("order")), "")
			})},
		{name: "ids/finicity eventId with byte 0xff", from: "finicity", status: bad, code: codeMalf, fix: fixUTF8IDs,
			mutate: func(e *corpusEnv, d *delivery) {
				setBody(d, finicityBody(rawID("1744671850866-utf8\xff"), q(e.uid("cust")), ""))
			}},
		{name: "ids/swyft event_id with a lone surrogate", from: "swyft", status: bad, code: codeMalf, fix: fixUTF8IDs,
			mutate: func(e *corpusEnv, d *delivery) { setBody(d, swyftBody(rawID(`swyft-\udbff`), q(e.uid("uuid")), "")) }},

		// Sizes, against --max-body-bytes.
		{name: "size/body one byte over the limit", from: "truv", status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
			mutate: func(e *corpusEnv, d *delivery) { setBody(d, paddedTruv(e, maxBody+1)) }},
		{name: "size/chunked body over the limit", from: "truv", status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
			mutate: func(e *corpusEnv, d *delivery) { setBody(d, paddedTruv(e, maxBody+100)) },
			wire:   func(r *request) { r.framing = chunked }},
		{name: "size/Content-Length over the limit, short body", from: "truv", status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
			wire: func(r *request) {
				r.header.Set("Content-Length", strconv.Itoa(2*maxBody))
				r.closeWrite = true
			}},
		{name: "size/body of exactly the limit", from: "truv", status: ok, fix: fixBodyCap,
			mutate: func(e *corpusEnv, d *delivery) { setBody(d, paddedTruv(e, maxBody)) }},
		{name: "size/body 1 KiB under the limit", from: "truv", status: ok, fix: fixBodyCap,
			mutate: func(e *corpusEnv, d *delivery) { setBody(d, paddedTruv(e, maxBody-1024)) }},
		{name: "size/chunked body", from: "truv", status: ok, wire: func(r *request) { r.framing = chunked }},

		// Framing broken on the wire.
		{name: "wire/Content-Length larger than the body, then close", from: "truv", status: bad, code: "bad_request", fix: fixTruncated,
			wire: func(r *request) {
				r.header.Set("Content-Length", strconv.Itoa(len(r.body)+100))
				r.closeWrite = true
			}},
		{name: "wire/invalid chunk size", from: "truv", status: bad, code: "bad_request", fix: fixTruncated,
			wire: func(r *request) {
				r.framing, r.closeWrite = verbatim, true
				r.header.Set("Transfer-Encoding", "chunked")
				r.body = append([]byte("zz\r\n"), r.body...)
			}},
		{name: "wire/chunked body cut off before its last chunk", from: "truv", status: bad, code: "bad_request", fix: fixTruncated,
			wire: func(r *request) {
				r.framing, r.closeWrite = verbatim, true
				r.header.Set("Transfer-Encoding", "chunked")
				r.body = fmt.Appendf(nil, "%x\r\n%s", len(r.body)+50, r.body)
			}},

		// Media types and encodings.
		{name: "media/Content-Encoding gzip", from: "truv", status: unsupported, code: codeMedia,
			mutate: func(_ *corpusEnv, d *delivery) {
				setBody(d, gzipped(d.body))
				d.header.Set("Content-Encoding", "gzip")
			}},
		{name: "media/Content-Encoding deflate", from: "truv", status: unsupported, code: codeMedia,
			mutate: func(_ *corpusEnv, d *delivery) {
				setBody(d, deflated(d.body))
				d.header.Set("Content-Encoding", "deflate")
			}},
		{name: "media/Content-Encoding identity", from: "truv", mutate: setHeader("Content-Encoding", "identity"), status: ok},
		{name: "media/Content-Type text/plain", from: "truv", mutate: setHeader("Content-Type", "text/plain"), status: unsupported, code: codeMedia},
		{name: "media/Content-Type form", from: "truv", mutate: setHeader("Content-Type", "application/x-www-form-urlencoded"), status: unsupported, code: codeMedia},
		{name: "media/Content-Type multipart", from: "truv", mutate: setHeader("Content-Type", "multipart/form-data; boundary=x"), status: unsupported, code: codeMedia},
		{name: "media/no Content-Type", from: "truv", mutate: setHeader("Content-Type"), status: ok},
		{name: "media/JSON with a charset", from: "truv", mutate: setHeader("Content-Type", "application/json; charset=utf-8"), status: ok},
		{name: "media/a +json type", from: "truv", mutate: setHeader("Content-Type", "application/cloudevents+json"), status: ok},
		{name: "media/swyft text/plain", from: "swyft", mutate: setHeader("Content-Type", "text/plain"), status: unsupported, code: codeMedia},
		{name: "media/finicity text/plain", from: "finicity", mutate: setHeader("Content-Type", "text/plain"), status: unsupported, code: codeMedia},
		{name: "media/finicity XML report (kept unmapped)", from: "finicity", status: ok,
			mutate: func(e *corpusEnv, d *delivery) {
				setBody(d, fmt.Appendf(nil, `<report><id>%s</id><status>success</status></report>`, e.uid("report")))
				d.header.Set("Content-Type", "application/xml")
			}},

		// Paths: never a redirect (a provider does not follow one, and it
		// would land on another endpoint).
		{name: "path/dot-dot to another provider", from: "truv", wire: target("/webhooks/truv/../finicity"), status: http.StatusNotFound, code: codeNotFound, fix: fixPaths},
		{name: "path/encoded dot-dot", from: "truv", wire: target("/webhooks/truv/%2E%2E/finicity"), status: http.StatusNotFound, code: codeNotFound, fix: fixPaths},
		{name: "path/double slash in front", from: "truv", wire: target("//webhooks/truv"), status: http.StatusNotFound, code: codeNotFound, fix: fixPaths},
		{name: "path/dot segment", from: "truv", wire: target("/webhooks/./truv"), status: http.StatusNotFound, code: codeNotFound, fix: fixPaths},
		{name: "path/double slash inside", from: "truv", wire: target("/webhooks//truv"), status: http.StatusNotFound, code: codeNotFound, fix: fixPaths},
		{name: "path/no provider", from: "truv", wire: target("/webhooks"), status: http.StatusNotFound, code: codeNotFound, fix: fixPaths},
		{name: "path/no provider, trailing slash", from: "truv", wire: target("/webhooks/"), status: http.StatusNotFound, code: codeNotFound},
		{name: "path/trailing slash", from: "truv", wire: target("/webhooks/truv/"), status: http.StatusNotFound, code: codeNotFound},
		{name: "path/extra segment", from: "truv", wire: target("/webhooks/truv/default/extra"), status: http.StatusNotFound, code: codeNotFound},
		{name: "path/encoded slash", from: "truv", wire: target("/webhooks/truv%2Fdefault"), status: http.StatusNotFound, code: codeNotFound, fix: fixEncoded},
		{name: "path/unknown provider", from: "truv", wire: target("/webhooks/stripe"), status: http.StatusNotFound, code: "unknown_provider"},
		{name: "path/unknown source", from: "truv", wire: target("/webhooks/truv/sandbox"), status: http.StatusNotFound, code: "unknown_source"},
		{name: "path/explicit default source", from: "truv", wire: target("/webhooks/truv/default"), status: ok},
		{name: "path/alias mastercard", from: "finicity", wire: target("/webhooks/mastercard"), status: ok},
		{name: "path/query string", from: "truv", wire: target("/webhooks/truv?attempt=2"), status: ok},

		// Methods.
		{name: "method/GET", from: "truv", wire: method(http.MethodGet), status: http.StatusMethodNotAllowed, code: "method_not_allowed", check: allowPOST},
		{name: "method/PUT", from: "truv", wire: method(http.MethodPut), status: http.StatusMethodNotAllowed, code: "method_not_allowed", check: allowPOST},
		{name: "method/DELETE", from: "truv", wire: method(http.MethodDelete), status: http.StatusMethodNotAllowed, code: "method_not_allowed", check: allowPOST},
		{name: "method/PATCH", from: "truv", wire: method(http.MethodPatch), status: http.StatusMethodNotAllowed, code: "method_not_allowed", check: allowPOST},
		{name: "method/OPTIONS", from: "truv", wire: method(http.MethodOptions), status: http.StatusMethodNotAllowed, code: "method_not_allowed", check: allowPOST},
		{name: "method/GET on a named source", from: "truv", status: http.StatusMethodNotAllowed, code: "method_not_allowed", check: allowPOST,
			wire: func(r *request) { method(http.MethodGet)(r); r.target = "/webhooks/truv/default" }},

		// Long ids: stored, readable, and recognized when retried.
		longTruvOrder(5000, false),
		longTruvOrder(50000, false),
		longTruvOrder(5000, true),
		longTruvOrder(50000, true),
		longTruvWebhookID(5000, false),
		longTruvWebhookID(50000, true),
		longFinicityCustomer(5000, false),
		longFinicityCustomer(50000, true),
		longSwyftOrder(5000, false),
		longSwyftOrder(50000, true),
		longSwyftEventID(50000, true),
	}
	return cases
}

// escapedNULOrder is an order id with an escaped NUL: stored and readable.
func escapedNULOrder() webhookCase {
	var key string
	return webhookCase{
		name: "body/escaped NUL in the order id", from: "truv", status: http.StatusOK,
		mutate: func(e *corpusEnv, d *delivery) {
			key = e.uid("order") + "\x00nul"
			setBody(d, truvBody(q(hexID(e.uid("wh"))), q(key), ""))
		},
		check: orderReadable(&key),
	}
}

// target sends the request to another request-target.
func target(t string) func(*request) { return func(r *request) { r.target = t } }

// method sends the request with another method (GET and DELETE without a
// body).
func method(m string) func(*request) {
	return func(r *request) {
		r.method = m
		if m == http.MethodGet || m == http.MethodDelete || m == http.MethodOptions {
			r.body = nil
		}
	}
}
