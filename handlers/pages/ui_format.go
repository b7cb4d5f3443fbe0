package pages

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/ubc"
)

// funcs are the template functions of every page.
func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"static":     u.assetURL,
		"hasAsset":   u.hasAsset,
		"fieldErr":   func(f FieldErrors, name string) string { return f[name] },
		"freeShares": freeShares,
		"deref": func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		},
		"derefInt": func(n *int) string {
			if n == nil {
				return ""
			}
			return strconv.Itoa(*n)
		},
		"fmtTime": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return fmtTime(v)
			case *time.Time:
				if v == nil {
					return ""
				}
				return fmtTime(*v)
			}
			return ""
		},
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":     ago,
		"bcValue": bcValue,
		"bcHuman": bcHuman,
		// The cpu row's barrier and limit are cpuunits and cpulimit, not time.
		"bcLimitHuman": func(resource string, v uint64) string {
			if resource == "cpu" {
				return ""
			}
			return bcHuman(resource, v)
		},
		"join": strings.Join,
		"details": func(m map[string]any) string {
			if len(m) == 0 {
				return ""
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, 0, len(keys))
			for _, k := range keys {
				if m[k] == nil || m[k] == "" {
					continue
				}
				parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
			}
			return strings.Join(parts, " ")
		},
		"actionLabel": actionLabel,
		// dict builds the argument of a shared template: dict "K" v "K2" v2.
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
		"checked": func(s string) bool { return s == "true" },
		"list":    func(s ...string) []string { return s },
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}

// bcValue is a beancounter number as /proc/user_beancounters shows it,
// but LONG_MAX reads "unlimited".
func bcValue(v uint64) string {
	if v >= ubc.Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// bcUnit is the unit of a beancounter row: pages, bytes, ms or a count.
func bcUnit(resource string) string {
	switch resource {
	case "physpages", "swappages":
		return "pages"
	case "kmemsize", "tcpsndbuf":
		return "bytes"
	case "cpu":
		return "ms"
	}
	return ""
}

// bcHuman is a value in bytes (or time) for the rows whose raw numbers
// are pages or bytes; empty for counts and unlimited.
func bcHuman(resource string, v uint64) string {
	if v >= ubc.Unlimited {
		return ""
	}
	switch bcUnit(resource) {
	case "pages":
		return ubc.FormatBytes(v * ubc.PageSize)
	case "bytes":
		return ubc.FormatBytes(v)
	case "ms":
		return (time.Duration(v) * time.Millisecond).Round(time.Second).String()
	}
	return ""
}

// limitValue writes a limit back in vzctl's form for a form field:
// "200", "512M:1G", "unlimited".
func limitValue(resource string, p *ubc.Pair) string {
	if p == nil {
		return ""
	}
	one := func(v uint64) string {
		if v >= ubc.Unlimited {
			return "unlimited"
		}
		switch resource {
		case "physpages", "swappages":
			return sizeSuffix(v * ubc.PageSize)
		case "kmemsize", "tcpsndbuf":
			return sizeSuffix(v)
		}
		return strconv.FormatUint(v, 10)
	}
	if p.Barrier == p.Limit {
		return one(p.Limit)
	}
	return one(p.Barrier) + ":" + one(p.Limit)
}

// sizeSuffix is bytes with the largest exact K/M/G/T suffix.
func sizeSuffix(b uint64) string {
	for _, s := range []struct {
		suffix string
		size   uint64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if b >= s.size && b%s.size == 0 {
			return strconv.FormatUint(b/s.size, 10) + s.suffix
		}
	}
	return strconv.FormatUint(b, 10)
}

// limitFields are the limits a form sets, in vzctl's order.
var limitFields = []struct {
	Name, Label, Hint string
}{
	{"numproc", "numproc", "processes, e.g. 200"},
	{"physpages", "physpages", "memory, e.g. 512M or 256M:512M"},
	{"swappages", "swappages", "swap, e.g. 256M"},
	{"kmemsize", "kmemsize", "kernel memory, e.g. 64M"},
	{"tcpsndbuf", "tcpsndbuf", "TCP buffers, e.g. 16M"},
	{"cpuunits", "cpuunits", "CPU weight, 8 to 500000 (1000 is normal)"},
	{"cpulimit", "cpulimit", "% of one CPU, 0 for no cap"},
}

// limitField is one limit input of a form.
type limitField struct {
	Name, Label, Hint, Value string
}

// specFields lays s out as form inputs.
func specFields(s ubc.Spec) []limitField {
	vals := map[string]string{
		"numproc": limitValue("numproc", s.NumProc), "physpages": limitValue("physpages", s.PhysPages),
		"swappages": limitValue("swappages", s.SwapPages), "kmemsize": limitValue("kmemsize", s.KmemSize),
		"tcpsndbuf": limitValue("tcpsndbuf", s.TCPSndBuf),
	}
	if s.CPUUnits != nil {
		vals["cpuunits"] = strconv.FormatUint(*s.CPUUnits, 10)
	}
	if s.CPULimit != nil {
		vals["cpulimit"] = strconv.FormatUint(*s.CPULimit, 10)
	}
	out := make([]limitField, len(limitFields))
	for i, f := range limitFields {
		out[i] = limitField{Name: f.Name, Label: f.Label, Hint: f.Hint, Value: vals[f.Name]}
	}
	return out
}

// formFields is specFields with what the person typed in place of the
// stored values (a form shown again with its errors).
func formFields(get func(string) string) []limitField {
	out := make([]limitField, len(limitFields))
	for i, f := range limitFields {
		out[i] = limitField{Name: f.Name, Label: f.Label, Hint: f.Hint, Value: strings.TrimSpace(get(f.Name))}
	}
	return out
}

// limitsBody is the limits object of an API request from a form: only the
// fields that were filled in. Plain numbers go as JSON numbers for the
// CPU settings, everything else as vzctl strings.
// limitsJSON is limitsBody as the domain reads limits: a JSON object.
func limitsJSON(get func(string) string) json.RawMessage {
	b, _ := json.Marshal(limitsBody(get)) // strings only: cannot fail
	return b
}

func limitsBody(get func(string) string) map[string]any {
	out := map[string]any{}
	for _, f := range limitFields {
		v := strings.TrimSpace(get(f.Name))
		if v == "" {
			continue
		}
		out[f.Name] = v
	}
	return out
}

func actionLabel(action string) string {
	switch action {
	case "start":
		return "Starting"
	case "stop":
		return "Stopping"
	case "shutdown":
		return "Shutting down"
	case "restart":
		return "Restarting"
	case "freeze":
		return "Freezing"
	case "unfreeze":
		return "Unfreezing"
	case "create":
		return "Creating"
	case "clone":
		return "Cloning"
	case "destroy":
		return "Destroying"
	case "reinstall":
		return "Reinstalling"
	case "configure":
		return "Applying settings"
	case "set_limits":
		return "Applying limits"
	}
	return strings.ReplaceAll(action, "_", " ")
}

// freeShares is a pool's free shares: its shares (a decimal string, as an
// IPv6 pool's can pass 2^64) less those used.
func freeShares(shares string, used int) string {
	n, ok := new(big.Int).SetString(shares, 10)
	if !ok {
		return shares
	}
	return n.Sub(n, big.NewInt(int64(used))).String()
}
