package ubc

import (
	"bytes"
	"encoding/json"
)

// Rebase moves a container's limits cur from its plan's old limits to the
// plan's next ones: a resource cur holds as the plan did (both unset, or
// the same value) takes next's; one set apart from the plan (the
// container's own override) stays. kept counts the overrides kept.
func Rebase(cur, old, next Spec) (out Spec, kept int) {
	c, o, n := fields(cur), fields(old), fields(next)
	res := map[string]json.RawMessage{}
	keys := map[string]bool{}
	for _, m := range []map[string]json.RawMessage{c, o, n} {
		for k := range m {
			keys[k] = true
		}
	}
	for k := range keys {
		if bytes.Equal(c[k], o[k]) {
			if v, ok := n[k]; ok {
				res[k] = v
			}
			continue
		}
		kept++
		if v, ok := c[k]; ok {
			res[k] = v
		}
	}
	b, _ := json.Marshal(res)
	_ = json.Unmarshal(b, &out)
	return out, kept
}

// Overrides counts the resources cur sets apart from its plan's limits.
func Overrides(cur, plan Spec) int {
	_, kept := Rebase(cur, plan, plan)
	return kept
}

// Same says whether a and b are the same limits.
func Same(a, b Spec) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// fields is s as its JSON members, each as stored.
func fields(s Spec) map[string]json.RawMessage {
	b, _ := json.Marshal(s)
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(b, &m)
	return m
}
