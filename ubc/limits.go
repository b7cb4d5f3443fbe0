// Package ubc is the OpenVZ side of beancounters: vzctl-style limit values
// ("barrier:limit", pages or K/M/G, "unlimited"), vzcfgvalidate's rules,
// the /proc/user_beancounters text layout, and ubc_failstat/ubc_faildiff.
// Reading and applying limits on cgroups is lxcdriver's business.
package ubc

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/lxcdriver"
)

// PageSize is the unit of *pages resources.
const PageSize = 4096

// Unlimited is OpenVZ's LONG_MAX.
const Unlimited = lxcdriver.Unlimited

// Pair is a barrier and a limit in the resource's own unit.
type Pair struct {
	Barrier uint64 `json:"barrier"`
	Limit   uint64 `json:"limit"`
}

// Spec is a container's (or a plan's) limits as vzctl sees them: pages for
// *pages, bytes for kmemsize and tcpsndbuf, tasks for numproc, cpuunits as
// a weight and cpulimit in percent of one CPU (0 = no cap). nil = not set.
type Spec struct {
	NumProc   *Pair   `json:"numproc,omitempty"`
	PhysPages *Pair   `json:"physpages,omitempty"`
	SwapPages *Pair   `json:"swappages,omitempty"`
	KmemSize  *Pair   `json:"kmemsize,omitempty"`
	TCPSndBuf *Pair   `json:"tcpsndbuf,omitempty"`
	CPUUnits  *uint64 `json:"cpuunits,omitempty"`
	CPULimit  *uint64 `json:"cpulimit,omitempty"`
	// DiskSpace is the size of the container's own (loop) filesystem in
	// 1K blocks, as OpenVZ counts diskspace.
	DiskSpace *Pair `json:"diskspace,omitempty"`
}

// DiskBytes is the disk size DiskSpace asks for, if any.
func (s Spec) DiskBytes() (uint64, bool) {
	if s.DiskSpace == nil {
		return 0, false
	}
	return s.DiskSpace.Limit * 1024, true
}

// Empty reports whether nothing is set.
func (s Spec) Empty() bool { return s == Spec{} }

// Merge returns s with every field set in o replacing s's.
func (s Spec) Merge(o Spec) Spec {
	if o.NumProc != nil {
		s.NumProc = o.NumProc
	}
	if o.PhysPages != nil {
		s.PhysPages = o.PhysPages
	}
	if o.SwapPages != nil {
		s.SwapPages = o.SwapPages
	}
	if o.KmemSize != nil {
		s.KmemSize = o.KmemSize
	}
	if o.TCPSndBuf != nil {
		s.TCPSndBuf = o.TCPSndBuf
	}
	if o.CPUUnits != nil {
		s.CPUUnits = o.CPUUnits
	}
	if o.CPULimit != nil {
		s.CPULimit = o.CPULimit
	}
	if o.DiskSpace != nil {
		s.DiskSpace = o.DiskSpace
	}
	return s
}

// Host is what the host has, the ceiling of any limit.
type Host struct {
	MemBytes  uint64
	SwapBytes uint64
	PidMax    uint64
	CPUs      uint64
	// Unsupported names resources the host cannot limit, with why.
	Unsupported map[string]string
	// SwapNeedsMemLimit: on cgroup v1 swap is limited through memsw, on
	// top of a memory limit.
	SwapNeedsMemLimit bool
}

// Check applies the rules that span resources to a container's whole
// (merged) Spec.
func (s Spec) Check(host Host) Errors {
	errs := Errors{}
	if host.SwapNeedsMemLimit && s.SwapPages != nil && s.SwapPages.Limit != Unlimited &&
		(s.PhysPages == nil || s.PhysPages.Limit == Unlimited) {
		errs.add("swappages", "a swap limit needs a physpages limit on this host (cgroup v1 limits memory+swap together)")
	}
	return errs
}

// kind of a resource's values.
type kind int

const (
	kindPages   kind = iota // plain numbers are pages, suffixes bytes
	kindBytes               // plain numbers and suffixes are bytes
	kindCount               // plain numbers only
	kindKBlocks             // plain numbers are 1K blocks, suffixes bytes
)

type resource struct {
	name string
	kind kind
	// equal: barrier must equal limit (vzcfgvalidate for non-memory counters).
	equal bool
}

var resources = map[string]resource{
	"numproc":   {"numproc", kindCount, true},
	"physpages": {"physpages", kindPages, false},
	"swappages": {"swappages", kindPages, false},
	"kmemsize":  {"kmemsize", kindBytes, false},
	"tcpsndbuf": {"tcpsndbuf", kindBytes, false},
	"diskspace": {"diskspace", kindKBlocks, true},
}

// aliases are the legacy names old provisioning scripts send.
var aliases = map[string]string{"privvmpages": "physpages", "vmguarpages": "physpages", "oomguarpages": "physpages"}

// Errors maps a request field to why it is wrong.
type Errors map[string]string

func (e Errors) add(field, format string, args ...any) {
	if _, ok := e[field]; !ok {
		e[field] = fmt.Sprintf(format, args...)
	}
}

// Parse reads a limits request such as {"numproc":"200:200",
// "physpages":"512M:512M","swappages":"256M","cpuunits":1000,"cpulimit":50}
// and checks it against vzcfgvalidate's rules and the host. Every problem
// is reported against its field; the Spec is only meaningful when Errors is
// empty.
func Parse(raw map[string]json.RawMessage, host Host) (Spec, Errors) {
	var s Spec
	errs := Errors{}
	seen := map[string]string{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, field := range keys {
		value := raw[field]
		name := field
		if canon, ok := aliases[field]; ok {
			name = canon
		}
		if prev, dup := seen[name]; dup {
			errs.add(field, "%s and %s both set %s; give one", prev, field, name)
			continue
		}
		seen[name] = field
		switch name {
		case "cpuunits":
			n, err := parseNumber(value)
			switch {
			case err != nil:
				errs.add(field, "%v", err)
			case n < 8 || n > 500000:
				errs.add(field, "must be 8 to 500000 (1000 is the default weight)")
			default:
				s.CPUUnits = &n
			}
			continue
		case "cpulimit":
			n, err := parseNumber(value)
			maxPc := 100 * max(host.CPUs, 1)
			switch {
			case err != nil:
				errs.add(field, "%v", err)
			case n > maxPc:
				errs.add(field, "must be 0 (no cap) to %d: percent of one CPU, and the host has %d", maxPc, max(host.CPUs, 1))
			default:
				s.CPULimit = &n
			}
			continue
		case "tcprcvbuf":
			errs.add(field, "the kernel accounts TCP send and receive buffers together; set tcpsndbuf")
			continue
		case "diskinodes":
			errs.add(field, "the inode count is fixed by the filesystem (one per 4 KiB under 512M, per 16 KiB above) and grows with diskspace")
			continue
		}
		res, ok := resources[name]
		if !ok {
			errs.add(field, "unknown resource; known: numproc, physpages (privvmpages, vmguarpages, oomguarpages), swappages, kmemsize, tcpsndbuf, cpuunits, cpulimit, diskspace")
			continue
		}
		p, err := parsePair(value, res.kind)
		if err != nil {
			errs.add(field, "%v", err)
			continue
		}
		if why := host.Unsupported[name]; why != "" && p.Limit != Unlimited {
			errs.add(field, "%s", why)
			continue
		}
		if msg := validate(res, p, host); msg != "" {
			errs.add(field, "%s", msg)
			continue
		}
		switch name {
		case "numproc":
			s.NumProc = &p
		case "physpages":
			s.PhysPages = &p
		case "swappages":
			s.SwapPages = &p
		case "kmemsize":
			s.KmemSize = &p
		case "tcpsndbuf":
			s.TCPSndBuf = &p
		case "diskspace":
			s.DiskSpace = &p
		}
	}
	return s, errs
}

func validate(res resource, p Pair, host Host) string {
	if p.Barrier > p.Limit {
		return "barrier must not exceed limit"
	}
	if res.equal && p.Barrier != p.Limit {
		return "barrier must equal limit for " + res.name
	}
	if res.name == "diskspace" {
		if p.Limit == Unlimited {
			return "a container's disk has a size; give one such as 10G"
		}
		if p.Limit*1024 < lxcdriver.MinDiskBytes || p.Limit*1024 > lxcdriver.MaxDiskBytes {
			return fmt.Sprintf("must be %dM to %dT", lxcdriver.MinDiskBytes>>20, lxcdriver.MaxDiskBytes>>40)
		}
		return ""
	}
	if p.Limit == Unlimited {
		return ""
	}
	switch res.name {
	case "numproc":
		if p.Limit < 1 {
			return "must allow at least 1 process"
		}
		if host.PidMax > 0 && p.Limit > host.PidMax {
			return fmt.Sprintf("must be at most %d, the host's pid_max", host.PidMax)
		}
	case "physpages":
		if p.Limit < 256 {
			return "limit must be at least 1M (256 pages)"
		}
		if host.MemBytes > 0 && p.Limit > host.MemBytes/PageSize {
			return fmt.Sprintf("limit must be at most the host's memory, %d pages (%s)", host.MemBytes/PageSize, FormatBytes(host.MemBytes))
		}
	case "swappages":
		ceiling := host.MemBytes + host.SwapBytes
		if host.MemBytes > 0 && p.Limit > ceiling/PageSize {
			return fmt.Sprintf("limit must be at most the host's memory and swap, %d pages (%s)", ceiling/PageSize, FormatBytes(ceiling))
		}
	case "kmemsize", "tcpsndbuf":
		if host.MemBytes > 0 && p.Limit > host.MemBytes {
			return fmt.Sprintf("limit must be at most the host's memory, %d bytes (%s)", host.MemBytes, FormatBytes(host.MemBytes))
		}
	}
	return ""
}

func parseNumber(raw json.RawMessage) (uint64, error) {
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return parseCount(s)
		}
		return 0, fmt.Errorf("must be a whole number")
	}
	return parseCount(n.String())
}

func parseCount(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("must not be negative")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// parsePair reads "barrier:limit" or one value (barrier = limit), each a
// number, a number with K/M/G/T (bytes), or "unlimited"; a JSON number is
// one value.
func parsePair(raw json.RawMessage, k kind) (Pair, error) {
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return Pair{}, fmt.Errorf(`must be a string such as "512M:512M", a number, or "unlimited"`)
		}
		text = n.String()
	}
	parts := strings.Split(strings.TrimSpace(text), ":")
	if len(parts) > 2 || text == "" {
		return Pair{}, fmt.Errorf("%q: want barrier:limit or a single value", text)
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		v, err := parseValue(part, k)
		if err != nil {
			return Pair{}, err
		}
		vals[i] = v
	}
	if len(vals) == 1 {
		return Pair{Barrier: vals[0], Limit: vals[0]}, nil
	}
	return Pair{Barrier: vals[0], Limit: vals[1]}, nil
}

func parseValue(s string, k kind) (uint64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "unlimited") {
		return Unlimited, nil
	}
	if s == "" {
		return 0, fmt.Errorf("empty value")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q: must not be negative", s)
	}
	mult := uint64(1)
	switch last := s[len(s)-1]; last {
	case 'k', 'K', 'm', 'M', 'g', 'G', 't', 'T', 'p', 'P':
		if k == kindCount {
			return 0, fmt.Errorf("%q: a count takes no K/M/G suffix", s)
		}
		mult = map[byte]uint64{'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40, 'p': 1 << 50}[last|0x20]
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%s%s is absurdly large", s, "")
	}
	v := n * mult
	if k == kindPages && mult > 1 {
		v = (v + PageSize - 1) / PageSize // bytes to pages
	}
	if k == kindKBlocks && mult > 1 {
		v = (v + 1023) / 1024 // bytes to 1K blocks
	}
	if v >= Unlimited {
		return 0, fmt.Errorf("value is absurdly large; use unlimited")
	}
	return v, nil
}

// ToDriver turns a Spec into the kernel units lxcdriver applies.
func (s Spec) ToDriver() lxcdriver.Limits {
	var l lxcdriver.Limits
	pages := func(v uint64) *uint64 {
		if v == Unlimited {
			return &v
		}
		b := v * PageSize
		return &b
	}
	if s.NumProc != nil {
		v := s.NumProc.Limit
		l.NumProc = &v
	}
	if s.PhysPages != nil {
		l.MemSoft = pages(s.PhysPages.Barrier)
		l.MemHard = pages(s.PhysPages.Limit)
	}
	if s.SwapPages != nil {
		l.Swap = pages(s.SwapPages.Limit)
	}
	if s.KmemSize != nil {
		v := s.KmemSize.Limit
		l.KmemSize = &v
	}
	if s.TCPSndBuf != nil {
		v := s.TCPSndBuf.Limit
		l.TCPBuf = &v
	}
	if s.CPUUnits != nil {
		v := *s.CPUUnits
		l.CPUUnits = &v
	}
	if s.CPULimit != nil {
		v := *s.CPULimit
		l.CPULimitPc = &v
	}
	return l
}
