package ubc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// AlertResources are the beancounters whose failcnt can grow, so the
// ones a plan's alert thresholds may name.
var AlertResources = []string{lxcdriver.ResNumProc, lxcdriver.ResPhysPages, lxcdriver.ResSwapPages,
	lxcdriver.ResKmemSize, lxcdriver.ResTCPSndBuf, lxcdriver.ResTCPRcvBuf, lxcdriver.ResCPU, lxcdriver.ResOOM}

// Bounds of an alert threshold.
const (
	MaxAlertFailures = 1_000_000_000
	MaxAlertWindow   = 30 * 24 * time.Hour
)

// AlertThreshold is when a growing failcnt of one resource raises an
// alert: Failures failcnt increments (refusals, throttled periods, OOM
// kills: the sum of the growths, not how many samples saw one) within
// Window of the first growth counted; a window that passes short of it
// starts again at the next growth. None: the resource raises no alert.
// The zero value (and a resource a plan does not name) is today's rule:
// any growth alerts.
type AlertThreshold struct {
	None     bool
	Failures uint64
	Window   time.Duration
}

// alertThresholdJSON is an AlertThreshold as the API and the plans'
// alert_thresholds column write it, when not "none".
type alertThresholdJSON struct {
	Failures      uint64 `json:"failures"`
	WindowSeconds int64  `json:"window_seconds,omitempty"`
}

// MarshalJSON writes "none" or {"failures":N,"window_seconds":S}.
func (t AlertThreshold) MarshalJSON() ([]byte, error) {
	if t.None {
		return []byte(`"none"`), nil
	}
	return json.Marshal(alertThresholdJSON{Failures: max(t.Failures, 1), WindowSeconds: int64(t.Window / time.Second)})
}

// UnmarshalJSON reads what MarshalJSON writes, unchecked (see
// ParseAlertThresholds for input).
func (t *AlertThreshold) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == `"none"` {
		*t = AlertThreshold{None: true}
		return nil
	}
	var j alertThresholdJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*t = AlertThreshold{Failures: j.Failures, Window: time.Duration(j.WindowSeconds) * time.Second}
	return nil
}

// AlertThresholds are a plan's thresholds by resource.
type AlertThresholds map[string]AlertThreshold

// For is the threshold of resource: the plan's, or any growth alerts.
func (ts AlertThresholds) For(resource string) AlertThreshold {
	if t, ok := ts[resource]; ok {
		t.Failures = max(t.Failures, 1)
		return t
	}
	return AlertThreshold{Failures: 1}
}

// DecodeAlertThresholds reads thresholds as stored; empty is none.
func DecodeAlertThresholds(raw []byte) (AlertThresholds, error) {
	ts := AlertThresholds{}
	if len(raw) == 0 {
		return ts, nil
	}
	if err := json.Unmarshal(raw, &ts); err != nil {
		return ts, fmt.Errorf("stored alert thresholds: %w", err)
	}
	return ts, nil
}

// ParseAlertThresholds reads a request's thresholds, an object of
// resource: "none" or {"failures":N,"window_seconds":S}, reporting every
// problem against its field under prefix (e.g. "alerts.thresholds.").
// failures is 1 to MaxAlertFailures; window_seconds 1 to 30 days, needed
// when failures is above 1 (with 1 any growth alerts, so no window).
func ParseAlertThresholds(raw json.RawMessage, prefix string) (AlertThresholds, Errors) {
	errs := Errors{}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		errs.add(strings.TrimSuffix(prefix, "."), `must be an object of resource: "none" or {"failures": N, "window_seconds": S}`)
		return nil, errs
	}
	ts := AlertThresholds{}
	for res, v := range obj {
		field := prefix + res
		if !slices.Contains(AlertResources, res) {
			errs.add(field, "unknown resource: one of %s", strings.Join(AlertResources, ", "))
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			if s != "none" {
				errs.add(field, `must be "none" or {"failures": N, "window_seconds": S}`)
				continue
			}
			ts[res] = AlertThreshold{None: true}
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(v, &fields); err != nil || fields == nil {
			errs.add(field, `must be "none" or {"failures": N, "window_seconds": S}`)
			continue
		}
		var t AlertThreshold
		bad := false
		for k, fv := range fields {
			switch k {
			case "failures":
				var n int64
				if err := json.Unmarshal(fv, &n); err != nil || n < 1 || n > MaxAlertFailures {
					errs.add(field+".failures", "must be a whole number from 1 to %d", MaxAlertFailures)
					bad = true
					continue
				}
				t.Failures = uint64(n)
			case "window_seconds":
				var n int64
				if err := json.Unmarshal(fv, &n); err != nil || n < 1 || time.Duration(n)*time.Second > MaxAlertWindow {
					errs.add(field+".window_seconds", "must be a whole number of seconds from 1 to %d (30 days)", int64(MaxAlertWindow/time.Second))
					bad = true
					continue
				}
				t.Window = time.Duration(n) * time.Second
			default:
				errs.add(field+"."+k, `unknown field: a threshold has "failures" and "window_seconds"`)
				bad = true
			}
		}
		if bad {
			continue
		}
		if t.Failures == 0 {
			errs.add(field+".failures", `is required (or "none" for no alerts)`)
			continue
		}
		if t.Failures > 1 && t.Window == 0 {
			errs.add(field+".window_seconds", "is required when failures is above 1")
			continue
		}
		if t.Failures == 1 {
			t.Window = 0
		}
		ts[res] = t
	}
	return ts, errs
}
