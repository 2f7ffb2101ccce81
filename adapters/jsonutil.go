package adapters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DecodeObject decodes a JSON object body into v strictly: one JSON value,
// which must be an object, no trailing data. v must not hold interface
// fields (numbers would become float64): the adapters decode into typed
// fields, FlexString keeping a number's exact digits.
// Unknown fields are allowed (providers add fields). Errors wrap ErrMalformed
// and never quote the payload.
func DecodeObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Errorf(ErrMalformed, "empty body")
	}
	if trimmed[0] != '{' {
		return Errorf(ErrMalformed, "body is not a JSON object")
	}
	// json.Unmarshal rather than a json.Decoder: it reads the body in
	// place (a Decoder copies it into a buffer of its own first, which was
	// close to half of what verifying and normalizing a Truv delivery
	// allocated), and it already refuses anything but white space after
	// the value.
	if err := json.Unmarshal(body, v); err != nil {
		return Errorf(ErrMalformed, "invalid JSON: %s", describeJSONError(err))
	}
	return nil
}

// describeJSONError explains a decoding error without echoing payload bytes.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn) && strings.HasSuffix(syn.Error(), "after top-level value"):
		return "trailing data after the object"
	case errors.As(err, &syn) && syn.Error() == "unexpected end of JSON input":
		return "unexpected end of input"
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type (%s, want %s)", typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	default:
		return "cannot decode"
	}
}

// FlexString is a JSON value that may arrive as a string or a number (ids
// and amounts do both). It keeps the exact digits of numbers. null and
// absent decode to "".
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*f = ""
	case b[0] == '"':
		// The decoder calling us has already checked the syntax: a string
		// without escapes and in valid UTF-8 is its bytes between the quotes.
		if len(b) >= 2 && b[len(b)-1] == '"' {
			if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) && !hasControl(inner) {
				*f = FlexString(inner)
				return nil
			}
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = FlexString(n.String())
	case bytes.Equal(b, []byte("true")) || bytes.Equal(b, []byte("false")):
		*f = FlexString(b)
	default:
		return &json.UnmarshalTypeError{Value: "object or array", Type: reflect.TypeFor[string]()}
	}
	return nil
}

// hasControl reports whether b holds a byte JSON forbids unescaped in a
// string (or a quote, which would end it).
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' {
			return true
		}
	}
	return false
}

// String returns the value.
func (f FlexString) String() string { return string(f) }

// FlexInt is a JSON integer that may arrive as a number or a numeric string.
// null, absent, "" and non-integral values decode to the zero value with
// Valid false rather than failing the whole delivery.
type FlexInt struct {
	Value int64
	Valid bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(s)), 10, 64)
	*f = FlexInt{Value: v, Valid: err == nil}
	return nil
}

// Ptr returns a pointer to the value, or nil when not valid.
func (f FlexInt) Ptr() *int64 {
	if !f.Valid {
		return nil
	}
	v := f.Value
	return &v
}

// FlexBool is a JSON boolean that may also arrive as "true"/"false".
// null and absent leave it unset.
type FlexBool struct {
	Value bool
	Valid bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexBool) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	v, err := strconv.ParseBool(strings.TrimSpace(string(s)))
	*f = FlexBool{Value: v, Valid: err == nil}
	return nil
}

// Ptr returns a pointer to the value, or nil when unset.
func (f FlexBool) Ptr() *bool {
	if !f.Valid {
		return nil
	}
	v := f.Value
	return &v
}

// ParseRFC3339 parses an RFC 3339 timestamp (`Z` or `+00:00`, any fraction).
// It returns nil for "" or an unparsable value.
func ParseRFC3339(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return nil
	}
	return timestamppb.New(t)
}

// EpochSeconds converts epoch seconds to a timestamp; 0 or invalid means
// unknown and returns nil.
func EpochSeconds(f FlexInt) *timestamppb.Timestamp {
	if !f.Valid || f.Value <= 0 {
		return nil
	}
	return timestamppb.New(time.Unix(f.Value, 0))
}

// EpochMillis converts epoch milliseconds to a timestamp; 0 means unknown.
func EpochMillis(ms int64) *timestamppb.Timestamp {
	if ms <= 0 {
		return nil
	}
	return timestamppb.New(time.UnixMilli(ms))
}

// Struct converts a raw JSON object to a structpb.Struct. It returns nil for
// absent, null or non-object values. Numbers become doubles, as in any
// google.protobuf.Struct; the raw delivery keeps the exact digits.
func Struct(raw json.RawMessage) *structpb.Struct {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil
	}
	return s
}

// NormalizeToken lower-cases a status or type token and folds spaces,
// hyphens and underscores to one underscore, so `Under Review`,
// `under-review` and `UNDER_REVIEW` compare equal.
func NormalizeToken(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	sep := false
	for _, r := range strings.TrimSpace(s) {
		switch r {
		case ' ', '-', '_', '\t':
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('_')
		}
		sep = false
		b.WriteString(strings.ToLower(string(r)))
	}
	return b.String()
}
