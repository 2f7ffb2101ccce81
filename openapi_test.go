package hookline

import (
	"encoding/json"
	"testing"
)

// TestOpenAPIEmbedded: the binary embeds the generated OpenAPI document,
// which documents every REST route and the bearer token the read API takes
// (proto/hookline/v1/event_service_openapi.yaml).
func TestOpenAPIEmbedded(t *testing.T) {
	var doc struct {
		Swagger string                    `json:"swagger"`
		Info    struct{ Title string }    `json:"info"`
		Paths   map[string]map[string]any `json:"paths"`
		Defs    map[string]struct {
			Type, Name, In string
		} `json:"securityDefinitions"`
		Security []map[string][]string `json:"security"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if d := doc.Defs["BearerToken"]; d.Type != "apiKey" || d.Name != "Authorization" || d.In != "header" || len(doc.Security) != 1 {
		t.Errorf("security definitions %+v, requirements %v; want the bearer token in the Authorization header", doc.Defs, doc.Security)
	}
	if doc.Info.Title != "hookline event API" {
		t.Errorf("title %q", doc.Info.Title)
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
