package handlers

import (
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// CTID bounds: below 101 is reserved, as in OpenVZ.
const (
	MinCTID = 101
	MaxCTID = 999999999
)

func checkCTID(f FieldErrors, field string, id int) {
	switch {
	case id < MinCTID:
		f.Add(field, "CTIDs below 101 are reserved")
	case id > MaxCTID:
		f.Add(field, "must be at most 999999999")
	}
}

// checkName: a container name is usable in place of the CTID and never
// reaches a path, so it is kept to a safe alphabet.
func checkName(f FieldErrors, field, name string) {
	switch {
	case name == "":
		f.Add(field, "must not be empty")
	case len(name) > 63:
		f.Add(field, "must be at most 63 characters")
	case strings.Contains(name, ".."):
		f.Add(field, `must not contain ".."`)
	case isAllDigits(name):
		f.Add(field, "must not be all digits (that would read as a CTID)")
	default:
		for _, r := range name {
			switch {
			case r == '/':
				f.Add(field, `must not contain "/"`)
			case unicode.IsSpace(r):
				f.Add(field, "must not contain spaces")
			case unicode.IsControl(r):
				f.Add(field, "must not contain control characters")
			case r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.'):
				f.Add(field, "may contain only letters, digits, '-', '_' and '.'")
			}
		}
		if name[0] == '-' || name[0] == '.' {
			f.Add(field, "must start with a letter or digit")
		}
	}
}

func isAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkHostname follows RFC 1123.
func checkHostname(f FieldErrors, field, h string) {
	if h == "" {
		return
	}
	if len(h) > 253 {
		f.Add(field, "must be at most 253 characters")
		return
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			f.Add(field, "each dot-separated label must be 1 to 63 characters")
			return
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			f.Add(field, "labels must not start or end with '-'")
			return
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				f.Add(field, "may contain only letters, digits, '-' and '.'")
				return
			}
		}
	}
}

func checkNameservers(f FieldErrors, field string, ns []string) {
	if len(ns) > 3 {
		f.Add(field, "at most 3 nameservers (the resolver reads no more)")
	}
	for i, s := range ns {
		if _, err := netip.ParseAddr(s); err != nil {
			f.Add(field, "entry "+strconv.Itoa(i)+" is not an IP address: "+strconv.Quote(s))
		}
	}
}

// checkOptionalDescription is checkDescription of a field a PATCH may
// leave out (nil).
func checkOptionalDescription(d *string) error {
	if d == nil {
		return nil
	}
	f := FieldErrors{}
	checkDescription(f, "description", *d)
	return f.Err()
}

func checkDescription(f FieldErrors, field, d string) {
	if len(d) > 1024 {
		f.Add(field, "must be at most 1024 characters")
	}
	for _, r := range d {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			f.Add(field, "must not contain control characters")
			return
		}
	}
}

func sortStrings(s []string) { sort.Strings(s) }

var reflectStringSlice = reflect.TypeOf([]string(nil))
