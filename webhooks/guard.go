package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Guard keeps webhooks from reaching the panel's own host and networks:
// a billing system may name any URL, so without it a staff or billing
// token could make the panel post to loopback services, the cloud's
// metadata address or the private network behind it (blind SSRF).
// Loopback, link-local, private, shared (CGNAT), unspecified and
// multicast addresses are refused unless Allowed names them.
type Guard struct {
	// Allowed are networks webhooks may reach even so
	// (CTPANEL_WEBHOOK_ALLOWED_NETWORKS), e.g. a billing host on the LAN.
	Allowed []netip.Prefix
}

var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// ErrForbiddenAddress is a webhook address the Guard refuses.
var ErrForbiddenAddress = errors.New("webhooks: address not allowed")

// Check says why addr may not be posted to, or nil.
func (g Guard) Check(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, p := range g.Allowed {
		if p.Contains(addr) {
			return nil
		}
	}
	switch {
	case addr.IsLoopback(), addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast(), addr.IsPrivate(),
		addr.IsUnspecified(), addr.IsMulticast(), addr.IsInterfaceLocalMulticast(), sharedAddressSpace.Contains(addr),
		addr.Is4() && addr.As4()[0] == 0, addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w: %s is a loopback, link-local, private or otherwise internal address", ErrForbiddenAddress, addr)
	}
	return nil
}

// CheckURL checks the host of an http(s) URL: a literal address, or every
// address its name resolves to now. A name that does not resolve yet is
// let through: the check at each delivery's connection still applies.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		return g.Check(addr)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return fmt.Errorf("%w: %s is this host", ErrForbiddenAddress, host)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.Check(a); err != nil {
			return err
		}
	}
	return nil
}

// control refuses, at connect time, an address the Guard does not allow:
// what a name resolves to when the delivery is sent is what counts.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	return g.Check(ap.Addr())
}

// Client is the HTTP client deliveries are sent with: 10 seconds an
// attempt, no proxy, and connections only where the Guard allows (a
// redirect included).
func (g Guard) Client() *http.Client {
	d := &net.Dialer{Control: g.control, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, ForceAttemptHTTP2: true, MaxIdleConns: 10, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}}
}
