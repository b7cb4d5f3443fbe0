package webhooks

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ctpanel/ctpanel/monitor"
)

// TestPayloadMatchesTheAPIDescription validates delivery bodies of both
// kinds against WebhookPayload in the OpenAPI document, and checks that
// every field sent is one the document describes.
func TestPayloadMatchesTheAPIDescription(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile("../handlers/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	ref := doc.Components.Schemas["WebhookPayload"]
	if ref == nil || ref.Value == nil {
		t.Fatal("no WebhookPayload schema")
	}
	old, newer := uint64(3), uint64(5)
	at := time.Date(2026, 11, 23, 10, 0, 9, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    monitor.Event
	}{
		{"operation.finished", monitor.Event{Type: "operation", CTID: 101, At: at, Action: "create",
			Operation: "0b6c0a4e-5d0f-4a8e-9c8e-2f4e7f5d9a11", Status: "failed", State: "absent", Error: "no template"}},
		{"failcnt.alert", monitor.Event{Type: "alert", CTID: 101, At: at, Resource: "numproc", Old: &old, New: &newer, AlertID: 7}},
	} {
		body, err := json.Marshal(PayloadOf(tc.name, tc.e))
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if err := ref.Value.VisitJSON(v); err != nil {
			t.Errorf("%s: %s does not match WebhookPayload: %v", tc.name, body, err)
		}
		data := ref.Value.Properties["data"].Value
		for k := range v["data"].(map[string]any) {
			if _, ok := data.Properties[k]; !ok {
				t.Errorf("%s: field data.%s is sent but not described", tc.name, k)
			}
		}
	}
}
