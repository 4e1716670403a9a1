// Package webfetch reads public web pages for the assistant, safely: only
// http and https, never an address inside the platform (loopback, private,
// link-local and cloud metadata, carrier-grade NAT, multicast, reserved),
// checked on the address actually connected to — after DNS resolution and
// for every redirect — by a net.Dialer Control hook, so a name that
// resolves to 10.0.0.1 or a redirect to 169.254.169.254 is refused. Bodies
// are bounded in size and time; HTML is turned into readable text.
//
// Tests may open address ranges (loopback, for a local page) with
// Options.Allow; the runtime's configuration document cannot, so only
// tests and the operator's dev mode can.
package webfetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefused is an address or URL the fetcher will not reach.
var ErrRefused = errors.New("refused")

// blocked are ranges that are not the public internet beyond what
// netip.Addr's predicates cover.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, some clouds' internal ranges
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// Public reports whether addr is a public unicast address the fetcher may
// connect to. IPv4-mapped IPv6 addresses are judged as the IPv4 address.
func Public(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Guard decides which connected addresses are allowed: public ones, and
// those in Allow (tests only).
type Guard struct {
	// Allow opens these ranges despite the rules.
	Allow []netip.Prefix
}

// Check returns nil if the fetcher may connect to address ("ip:port").
func (g Guard) Check(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unexpected address %q", ErrRefused, address)
	}
	ip := ap.Addr().Unmap()
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if !Public(ip) {
		return fmt.Errorf("%w: %s is not a public internet address", ErrRefused, ip)
	}
	return nil
}

// Dialer returns a dialer that refuses, at connect time, every address the
// guard does not allow: the check sees the resolved IP of each attempt.
func (g Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			if network != "tcp4" && network != "tcp6" {
				return fmt.Errorf("%w: network %s", ErrRefused, network)
			}
			return g.Check(address)
		},
	}
}

// DialContext is the guarded dialer's DialContext, for transports and
// proxies.
func (g Guard) DialContext(timeout time.Duration) func(ctx context.Context, network, address string) (net.Conn, error) {
	return g.Dialer(timeout).DialContext
}
