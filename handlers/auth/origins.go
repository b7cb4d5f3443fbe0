package auth

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Origins is where the panel is reached: the public URLs staff configure
// (CTPANEL_PUBLIC_URL), the first of which is the one links are built
// from. A request whose Host is none of them is refused, which keeps a
// DNS name an attacker points at the panel (DNS rebinding) from reaching
// it, and a browser's websocket must come from one of them (scheme
// included) or from an extra allowed origin.
//
// Without public URLs, any Host that is an IP address or "localhost" is
// taken (no DNS name can be rebound to those), and links are built from
// the request's own Host.
type Origins struct {
	public []*url.URL
	extra  []string // more websocket origins (CTPANEL_ALLOWED_ORIGINS)
}

// ParseOrigins checks the public URLs (absolute http or https URLs with a
// host and no path, query or user) and the extra websocket origins.
func ParseOrigins(public, extra []string) (*Origins, error) {
	o := &Origins{}
	for _, s := range public {
		u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(s), "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return nil, fmt.Errorf("public URL %q: want scheme://host[:port], http or https, nothing after it", s)
		}
		u.Host = strings.ToLower(u.Host)
		o.public = append(o.public, u)
	}
	for _, s := range extra {
		o.extra = append(o.extra, strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "/")))
	}
	return o, nil
}

// Configured says whether public URLs were given.
func (o *Origins) Configured() bool { return len(o.public) > 0 }

// HostAllowed says whether a request's Host may be served: one of the
// public URLs' hosts (port included, a default port may be left out), or
// a loopback address or localhost (local health checks and tools), or,
// with no public URLs, any IP address.
func (o *Origins) HostAllowed(host string) bool {
	host = strings.ToLower(host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if name == "" || strings.ContainsAny(host, "/\\@ ") {
		return false
	}
	addr, ipErr := netip.ParseAddr(name)
	if name == "localhost" || (ipErr == nil && addr.IsLoopback()) {
		return true
	}
	if !o.Configured() {
		return ipErr == nil
	}
	for _, u := range o.public {
		if host == u.Host || host == hostWithPort(u) {
			return true
		}
	}
	return false
}

// hostWithPort is u's host with its scheme's default port written out.
func hostWithPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

// LinkBase is the scheme and host links to the panel start with.
func (o *Origins) LinkBase(r *http.Request) string {
	if o.Configured() {
		return o.public[0].Scheme + "://" + o.public[0].Host
	}
	return RequestOrigin(r)
}

// OriginAllowed says whether a request's Origin header (a browser's
// websocket) is the panel's own: a public URL, or, with none configured,
// the request's own scheme and Host; or one of the extra origins. A
// request without Origin (not a browser) passes.
func (o *Origins) OriginAllowed(r *http.Request) bool {
	origin := strings.ToLower(strings.TrimSuffix(r.Header.Get("Origin"), "/"))
	if origin == "" {
		return true
	}
	for _, e := range o.extra {
		if origin == e {
			return true
		}
	}
	if !o.Configured() {
		return origin == strings.ToLower(RequestOrigin(r))
	}
	for _, u := range o.public {
		if origin == u.Scheme+"://"+u.Host || origin == u.Scheme+"://"+hostWithPort(u) {
			return true
		}
	}
	return false
}

// RequireHost answers 421 to a request whose Host is not the panel's.
func (o *Origins) RequireHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.HostAllowed(r.Host) {
			body, _ := json.Marshal(map[string]any{"error": map[string]any{
				"code":    "unknown_host",
				"message": fmt.Sprintf("Host %q is not one of the panel's public URLs (CTPANEL_PUBLIC_URL)", r.Host),
				"fields":  map[string]string{"Host": "not one of the panel's public URLs"},
			}})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_, _ = w.Write(append(body, '\n'))
			return
		}
		next.ServeHTTP(w, r)
	})
}
