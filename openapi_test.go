package hookline

import (
	"encoding/json"
	"testing"
)

// TestOpenAPIEmbedded: the binary embeds the generated OpenAPI document,
// which documents every REST route.
func TestOpenAPIEmbedded(t *testing.T) {
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/events:subscribe", "/v1/events", "/v1/events/{id}", "/v1/orders/{orderId}", "/v1/sessions/{sessionKey}"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("OpenAPI document lacks %s (has %v)", p, keys(doc.Paths))
		}
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
