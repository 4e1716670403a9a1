package webfetch

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func page(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchReadsHTMLAsText(t *testing.T) {
	srv := page(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title> Lisbon  weather </title><style>p{color:red}</style>
<script>var secret = "do not show";</script></head><body><h1>Today</h1><p>Sunny,
  24 &deg;C.</p><ul><li>Wind: light</li></ul><noscript>enable js</noscript></body></html>`)
	})
	p, err := New(Options{Allow: loopback}).Fetch(t.Context(), srv.URL+"/weather")
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "Lisbon weather" || p.Text != "Today\nSunny, 24 °C.\nWind: light" || p.URL != srv.URL+"/weather" {
		t.Errorf("page = %+v", p)
	}
}

// TestFetchRefuses: addresses inside the platform are refused whether
// named by IP, by a DNS name that resolves to them, or reached through a
// redirect, and without the test allowlist loopback is refused too.
func TestFetchRefuses(t *testing.T) {
	local := page(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "local secret") })
	port := local.Listener.Addr().(interface{ String() string }).String()
	_, p, _ := strings.Cut(port, ":")
	redirect := func(to string) string {
		srv := page(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) })
		return srv.URL
	}
	for _, tc := range []struct {
		name  string
		url   string
		allow []netip.Prefix
	}{
		{"loopback without the allowlist", local.URL, nil},
		{"a name resolving to loopback", "http://localhost:" + p + "/", nil},
		{"IPv6 loopback", "http://[::1]:" + p + "/", nil},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + p + "/", nil},
		{"10/8", "http://10.1.2.3/", nil},
		{"192.168/16", "http://192.168.0.1/", nil},
		{"metadata", "http://169.254.169.254/latest/meta-data/", nil},
		{"unspecified", "http://0.0.0.0:" + p + "/", nil},
		{"carrier-grade NAT", "http://100.64.0.1/", nil},
		{"redirect into metadata", redirect("http://169.254.169.254/latest/meta-data/"), loopback},
		{"redirect into 10/8", redirect("http://10.0.0.1/admin"), loopback},
		{"redirect to a name resolving to loopback", redirectFrom(t, "127.0.0.2", "http://localhost:"+p+"/"), []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}},
		{"redirect to file", redirect("file:///etc/passwd"), loopback},
		{"file scheme", "file:///etc/passwd", nil},
		{"gopher scheme", "gopher://example.com/", nil},
		{"credentials", "http://user:pass@example.com/", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(Options{Allow: tc.allow})
			_, err := f.Fetch(t.Context(), tc.url)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Fetch(%s) = %v, want ErrRefused", tc.url, err)
			}
		})
	}
}

// redirectFrom serves a redirect to `to` on host (another loopback address,
// so the allowlist can open the redirecting server alone).
func redirectFrom(t *testing.T, host, to string) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetchBounds(t *testing.T) {
	srv := page(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, strings.Repeat("x", 10_000))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprint(w, "\x00\x01")
		default:
			http.NotFound(w, r)
		}
	})
	f := New(Options{Allow: loopback, MaxBytes: 1000})
	p, err := f.Fetch(t.Context(), srv.URL+"/big")
	if err != nil || !strings.HasPrefix(p.Text, strings.Repeat("x", 1000)+"\n[cut") {
		t.Errorf("big page = %.80q…, %v", p.Text, err)
	}
	if _, err := f.Fetch(t.Context(), srv.URL+"/loop"); !errors.Is(err, ErrRefused) {
		t.Errorf("redirect loop = %v", err)
	}
	if _, err := f.Fetch(t.Context(), srv.URL+"/binary"); err == nil || !strings.Contains(err.Error(), "not a text page") {
		t.Errorf("binary = %v", err)
	}
	if _, err := f.Fetch(t.Context(), srv.URL+"/missing"); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("missing = %v", err)
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "169.254.169.254": false,
		"::1": false, "fe80::1": false, "fc00::1": false, "fd00:ec2::254": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "100.100.100.200": false, "0.0.0.0": false, "224.0.0.1": false, "255.255.255.255": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func FuzzHTMLText(f *testing.F) {
	f.Add([]byte("<html><title>x</title><p>a<script>b</script>c</p>"))
	f.Add([]byte("<svg><script>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, text := HTMLText(b)
		if strings.Contains(text, "\n\n") {
			t.Errorf("blank lines in %q", text)
		}
	})
}
