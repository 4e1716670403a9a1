package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(3, time.Minute, 10, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("fourth request: ok=%v retry after %v, want refused for ≤ 20s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another client is limited by the first one's requests")
	}
	now = now.Add(wait)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after waiting the Retry-After it was given")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a refused request must not have been counted as a credit")
	}
}

// TestLimiterBoundedMemory: a flood of addresses never grows the limiter
// past its bound, and the clients seen most recently keep their buckets.
func TestLimiterBoundedMemory(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(1, time.Hour, 100, func() time.Time { return now })
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10_000 {
				l.Allow(fmt.Sprintf("10.%d.%d.%d", w, i>>8, i&0xff))
			}
		}()
	}
	wg.Wait()
	if n := l.Len(); n != 100 {
		t.Fatalf("%d clients tracked, want the bound 100", n)
	}
	l.Allow("hot")
	for i := range 99 {
		l.Allow(fmt.Sprintf("cold-%d", i))
	}
	if ok, _ := l.Allow("hot"); ok {
		t.Fatal("the most recently seen client lost its bucket to the flood")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Minute: 60} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestClientKey(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"direct IPv4", "203.0.113.7:5555", "", nil, "203.0.113.7"},
		{"forwarded header from an untrusted peer is ignored", "203.0.113.7:5555", "198.51.100.1", nil, "203.0.113.7"},
		{"IPv6 by /64", "[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6", "[::ffff:203.0.113.9]:1", "", nil, "203.0.113.9"},
		{"behind a trusted proxy", "10.1.2.3:80", "198.51.100.1", proxies, "198.51.100.1"},
		{"spoofed left part is not believed", "10.1.2.3:80", "1.2.3.4, 198.51.100.1", proxies, "198.51.100.1"},
		{"two trusted hops", "10.1.2.3:80", "198.51.100.1, 10.9.9.9", proxies, "198.51.100.1"},
		{"trusted proxy without a header", "10.1.2.3:80", "", proxies, "10.1.2.3"},
		{"garbled hop", "10.1.2.3:80", "198.51.100.1, garbage", proxies, "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ClientKey(r, tc.trusted); got != tc.want {
				t.Errorf("ClientKey = %q, want %q", got, tc.want)
			}
		})
	}
}
