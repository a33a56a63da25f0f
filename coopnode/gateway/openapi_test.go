package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes checks the OpenAPI document served at
// /openapi.json against the route table, both ways: every route is
// documented, and every documented operation is a route or one of the
// operational endpoints registered outside the table.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	g, _ := newTestGateway(t, nil)
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	if string(body) != string(openapiJSON) {
		t.Error("served document differs from the embedded one")
	}

	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for k := range item {
			if slices.Contains(methods, strings.ToLower(k)) {
				documented[strings.ToUpper(k)+" "+path] = true
			}
		}
	}
	table := map[string]bool{}
	for _, rt := range g.allRoutes() {
		key := rt.Method + " " + rt.Pattern
		if table[key] {
			t.Errorf("route %s appears twice in routes()", key)
		}
		table[key] = true
		if !documented[key] {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
	extra := map[string]bool{"GET /metrics": true, "GET /healthz": true, "GET /readyz": true, "GET /openapi.json": true}
	for key := range documented {
		if !table[key] && !extra[key] {
			t.Errorf("openapi.json documents %s, which is not a route", key)
		}
	}
	for key := range extra {
		if !documented[key] {
			t.Errorf("operational endpoint %s is not in openapi.json", key)
		}
	}
}
