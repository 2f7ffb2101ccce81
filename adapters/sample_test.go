package adapters

import (
	"regexp"
	"testing"
)

func TestReplaceJSONStrings(t *testing.T) {
	tests := []struct {
		name, body, want string
		repl             map[string]string
	}{
		{"every occurrence", `{"a":"id1","b":["id1",{"c":"id2"}]}`, `{"a":"new","b":["new",{"c":"id2"}]}`, map[string]string{"id1": "new"}},
		{"layout kept", "{\n  \"a\": \"id1\" ,\n  \"n\": 12\n}", "{\n  \"a\": \"x\" ,\n  \"n\": 12\n}", map[string]string{"id1": "x"}},
		{"substring untouched", `{"a":"id10"}`, `{"a":"id10"}`, map[string]string{"id1": "x"}},
		{"escapes skipped whole", `{"a":"q\"id1\"","b":"id1"}`, `{"a":"q\"id1\"","b":"x"}`, map[string]string{"id1": "x"}},
		{"new value escaped", `{"a":"id1"}`, `{"a":"say \"hi\""}`, map[string]string{"id1": `say "hi"`}},
		{"open string copied", `{"a":"id1`, `{"a":"id1`, map[string]string{"id1": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(ReplaceJSONStrings([]byte(tt.body), tt.repl)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSampleParamsIDs(t *testing.T) {
	a, b := SampleParams{Seed: [16]byte{1}}, SampleParams{Seed: [16]byte{2}}
	again := SampleParams{Seed: [16]byte{1}}
	if a.Hex("order", 32) != again.Hex("order", 32) || a.Hex("order", 32) == b.Hex("order", 32) || a.Hex("order", 32) == a.Hex("task", 32) {
		t.Error("Hex is not a function of seed and label")
	}
	if got := a.Hex("x", 32); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
		t.Errorf("Hex = %q", got)
	}
	for seed := range byte(50) {
		p := SampleParams{Seed: [16]byte{seed}}
		if got := p.Digits("c", 10); !regexp.MustCompile(`^[1-9][0-9]{9}$`).MatchString(got) {
			t.Errorf("Digits = %q, want 10 digits, the first not 0", got)
		}
		if got := p.UUID("o"); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got) {
			t.Errorf("UUID = %q", got)
		}
	}
}
