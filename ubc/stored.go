package ubc

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Decode reads limits as stored (a container's or a plan's limits column):
// empty is no limits.
func Decode(raw []byte) (Spec, error) {
	var s Spec
	if len(raw) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("stored limits: %w", err)
	}
	return s, nil
}

// FormatBytes writes a size for people, in binary units: "512 B",
// "1.5 GiB". Every page, message and report uses it.
func FormatBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTP"[exp])
}
