package pages

import "testing"

func TestSafeNextStaysOnThisSite(t *testing.T) {
	for next, want := range map[string]string{
		"/containers/101":       "/containers/101",
		"/containers?q=a%20b":   "/containers?q=a%20b",
		"":                      "/",
		"https://evil.example/": "/",
		"//evil.example/":       "/",
		"/\\evil.example/":      "/",
		"/\t/evil.example:80/":  "/",
		"/\n/evil.example/":     "/",
		"/\x00/evil":            "/",
		"evil":                  "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
