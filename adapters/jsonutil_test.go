package adapters

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestFlexStringRejectsObjectsWithAReadableReason(t *testing.T) {
	var v struct {
		ID FlexString `json:"id"`
	}
	err := DecodeObject([]byte(`{"id":{"nested":1}}`), &v)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if strings.Contains(err.Error(), "%!") || !strings.Contains(err.Error(), `"id"`) {
		t.Errorf("reason %q should name the field and read cleanly", err)
	}
}

func TestFlexValues(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"string", `"6030781868"`, "6030781868"},
		{"big number keeps digits", `6026370998`, "6026370998"},
		{"negative decimal keeps digits", `-1952.71`, "-1952.71"},
		{"null", `null`, ""},
		{"bool", `true`, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f FlexString
			if err := f.UnmarshalJSON([]byte(tt.in)); err != nil || f.String() != tt.want {
				t.Errorf("FlexString(%s) = %q, %v; want %q", tt.in, f, err, tt.want)
			}
		})
	}
}

func TestNormalizeToken(t *testing.T) {
	for in, want := range map[string]string{
		"Under Review": "under_review", "under-review": "under_review", " UNDER_REVIEW ": "under_review",
		"no_data": "no_data", "Cancelled": "cancelled", "": "",
	} {
		if got := NormalizeToken(in); got != want {
			t.Errorf("NormalizeToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVerifyHelpers(t *testing.T) {
	body := []byte(`{"a":1}`)
	sig := HMACSHA256([]byte("k2"), body)
	if !VerifyHMACSHA256(body, sig, [][]byte{[]byte("k1"), []byte("k2")}) {
		t.Error("rotated secret k2 not accepted")
	}
	if VerifyHMACSHA256(body, sig, [][]byte{[]byte("k1")}) {
		t.Error("wrong secret accepted")
	}
	if !VerifyStatic("Bearer x", [][]byte{[]byte("Bearer y"), []byte("Bearer x")}) || VerifyStatic("Bearer", [][]byte{[]byte("Bearer x")}) || VerifyStatic("", [][]byte{[]byte("")}) {
		t.Error("VerifyStatic")
	}
	if _, ok := DecodeHexSignature(" " + strings.ToUpper("ab") + strings.Repeat("0", 62) + " "); !ok {
		t.Error("uppercase hex with spaces rejected")
	}
	if _, ok := DecodeHexSignature(strings.Repeat("0", 63)); ok {
		t.Error("63 hex digits accepted")
	}
}

// The unescaped-string shortcut in FlexString must decode exactly as
// encoding/json does, and leave escapes, invalid UTF-8 and raw control
// bytes to it.
func TestFlexStringDecodesStringsLikeEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`""`, `"plain"`, `"caf\u00e9"`, `"café"`, `"tab\tescaped"`, `"quote \" inside"`,
		`"back\\slash"`, "\"\xff\xfe invalid utf-8\"", `"\ud83d\ude00 surrogate pair"`,
		"\"raw\x01control\"", `"unterminated`, `"`,
	} {
		var want string
		wantErr := json.Unmarshal([]byte(in), &want)
		var got FlexString
		err := got.UnmarshalJSON([]byte(in))
		if (err != nil) != (wantErr != nil) || (err == nil && string(got) != want) {
			t.Errorf("FlexString(%q) = %q, %v; encoding/json gives %q, %v", in, got, err, want, wantErr)
		}
	}
}

func FuzzFlexStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "a", "é", "\x00", "\\", "\"", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in, err := json.Marshal(s) // a Go string always marshals (invalid UTF-8 becomes U+FFFD)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatal(err)
		}
		var got FlexString
		if err := got.UnmarshalJSON(in); err != nil || string(got) != want {
			t.Fatalf("FlexString(%s) = %q, %v; want %q", in, got, err, want)
		}
		// The raw bytes between quotes, when they are valid JSON.
		raw := append(append([]byte{'"'}, s...), '"')
		var rawWant string
		rawErr := json.Unmarshal(raw, &rawWant)
		var rawGot FlexString
		err = rawGot.UnmarshalJSON(raw)
		if rawErr == nil && (err != nil || string(rawGot) != rawWant) {
			t.Fatalf("FlexString(%q) = %q, %v; want %q", raw, rawGot, err, rawWant)
		}
	})
}

// DecodeObject's reasons: each malformed body gets ErrMalformed and a
// reason that says what is wrong without quoting the payload.
func TestDecodeObjectReasons(t *testing.T) {
	type target struct {
		ID     FlexString `json:"id"`
		Count  int        `json:"count"`
		Secret FlexString `json:"secret"`
	}
	tests := []struct{ name, body, reason string }{
		{"empty", ``, "empty body"},
		{"white space", " \n\t", "empty body"},
		{"array", `[{"id":"1"}]`, "body is not a JSON object"},
		{"string", `"hello"`, "body is not a JSON object"},
		{"two objects", `{"id":"1"}{"id":"2"}`, "trailing data after the object"},
		{"object then garbage", `{"id":"1"} secret-value`, "trailing data after the object"},
		{"truncated", `{"id":"1","secret":"sec`, "unexpected end of input"},
		{"bad character", `{"id":"1",secret-value}`, "syntax error at byte"},
		{"wrong type", `{"count":"secret-value"}`, `field "count" has the wrong type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v target
			err := DecodeObject([]byte(tt.body), &v)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("reason %q, want it to say %q", err, tt.reason)
			}
			if strings.Contains(err.Error(), "secret-value") || strings.Contains(err.Error(), "sec\"") {
				t.Errorf("reason %q quotes the payload", err)
			}
		})
	}
	// White space after the object is not trailing data.
	var v target
	if err := DecodeObject([]byte("{\"id\":\"1\"} \n"), &v); err != nil || v.ID != "1" {
		t.Fatalf("object with trailing white space: %+v, %v", v, err)
	}
}

// HMACKeys reuses keyed hashes between calls and goroutines: every answer
// must still be that of a fresh HMAC, whatever was verified before.
func TestHMACKeysReuseIsStateless(t *testing.T) {
	secrets := [][]byte{[]byte("old-secret"), []byte("new-secret")}
	keys := NewHMACKeys(secrets)
	secrets[0][0] = 'X' // NewHMACKeys copied them
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				body := []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))
				good := HMACSHA256([]byte("new-secret"), body)
				if i%2 == 0 {
					good = HMACSHA256([]byte("old-secret"), body)
				}
				if !keys.Verify(body, good) {
					t.Errorf("goroutine %d, body %d: a correct signature was refused", g, i)
					return
				}
				if keys.Verify(body, HMACSHA256([]byte("other"), body)) {
					t.Errorf("goroutine %d, body %d: a foreign signature was accepted", g, i)
					return
				}
				if keys.Verify(append(body, ' '), good) {
					t.Errorf("goroutine %d, body %d: a changed body was accepted", g, i)
					return
				}
			}
		})
	}
	wg.Wait()
	if NewHMACKeys(nil).Verify([]byte("{}"), HMACSHA256(nil, []byte("{}"))) {
		t.Error("no secrets: a signature was accepted")
	}
}
