package adapters

import (
	"errors"
	"strings"
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
