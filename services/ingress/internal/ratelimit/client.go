package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientKey names the client of r for limiting: its address, or for IPv6
// its /64 (one host usually holds a whole /64, so per address would not
// limit it at all). When the peer is one of trusted (the TLS proxy or load
// balancer in front of the ingress), the client is the rightmost address of
// X-Forwarded-For that is not itself trusted: the left part of that header
// is whatever the client wrote, so it is never believed. A peer that is not
// trusted is the client, whatever headers it sends.
func ClientKey(r *http.Request, trusted []netip.Prefix) string {
	peer := parseAddr(r.RemoteAddr)
	if peer.IsValid() && isTrusted(peer, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a garbled hop: stop at the last address the proxy vouched for
			}
			a = a.Unmap()
			if !isTrusted(a, trusted) {
				peer = a
				break
			}
		}
	}
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if peer.Is6() {
		p, _ := peer.Prefix(64)
		return p.String()
	}
	return peer.String()
}

// parseAddr reads the address of a host:port, or the zero Addr.
func parseAddr(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// isTrusted reports whether a is in one of trusted.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
