package pages

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/ubc"
)

// alertField is one resource's alert threshold as the plan page edits
// it: failures within a window (seconds), none, or both empty (any growth
// alerts).
type alertField struct {
	Resource string
	Failures string
	Window   string
	None     bool
}

// Names of a resource's inputs: the API's field names, so that the
// domain's field errors land next to them.
func (f alertField) Name() string         { return "alerts.thresholds." + f.Resource }
func (f alertField) FailuresName() string { return f.Name() + ".failures" }
func (f alertField) WindowName() string   { return f.Name() + ".window_seconds" }
func (f alertField) NoneName() string     { return f.Name() + ".none" }

// alertFields lays a plan's thresholds out as inputs, one row a resource.
func alertFields(ts ubc.AlertThresholds) []alertField {
	out := make([]alertField, 0, len(ubc.AlertResources))
	for _, res := range ubc.AlertResources {
		f := alertField{Resource: res}
		if t, ok := ts[res]; ok {
			f.None = t.None
			if !t.None {
				f.Failures = strconv.FormatUint(max(t.Failures, 1), 10)
				if t.Window > 0 {
					f.Window = strconv.FormatInt(int64(t.Window/time.Second), 10)
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// alertFormFields are the inputs as posted (to show them again).
func alertFormFields(get func(string) string) []alertField {
	out := make([]alertField, 0, len(ubc.AlertResources))
	for _, res := range ubc.AlertResources {
		f := alertField{Resource: res}
		f.Failures = strings.TrimSpace(get(f.FailuresName()))
		f.Window = strings.TrimSpace(get(f.WindowName()))
		f.None = get(f.NoneName()) != ""
		out = append(out, f)
	}
	return out
}

// alertsJSON turns the plan form's threshold inputs into the API's
// {"thresholds": {...}}; nil when the form has none. Text that is not a
// number is passed on as text, which the domain refuses naming the field.
func alertsJSON(get func(string) string) json.RawMessage {
	if get("alerts.present") == "" {
		return nil
	}
	ts := map[string]any{}
	num := func(v string) any {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
		return v
	}
	for _, f := range alertFormFields(get) {
		switch {
		case f.None:
			ts[f.Resource] = "none"
		case f.Failures != "" || f.Window != "":
			t := map[string]any{}
			if f.Failures != "" {
				t["failures"] = num(f.Failures)
			}
			if f.Window != "" {
				t["window_seconds"] = num(f.Window)
			}
			ts[f.Resource] = t
		}
	}
	raw, _ := json.Marshal(map[string]any{"thresholds": ts})
	return raw
}
