package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestHealthURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/health"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/health"},
		{"https://claw-abc.up.railway.app", "https://claw-abc.up.railway.app/health"},
		{"https://proxy.example.com/customers/c1/", "https://proxy.example.com/customers/c1/health"},
		{"HTTP://Example.com", "http://Example.com/health"},
		{"http://[::1]:9000", "http://[::1]:9000/health"},
	}
	for _, tt := range tests {
		got, err := HealthURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("HealthURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		"", "not a url", "/health", "127.0.0.1:8080", "ftp://example.com", "file:///etc/passwd",
		"http://", "http:///path", "http://user:secret@example.com", "http://example.com?x=1",
		"http://example.com#frag", "mailto:a@example.com", "http://example.com:port", "javascript:alert(1)",
	} {
		if got, err := HealthURL(bad); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("HealthURL(%q) = %q, %v; want ErrInvalidURL", bad, got, err)
		}
	}
}

func FuzzHealthURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080", "https://a.example/b/", "http://u:p@h", "ftp://x", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := HealthURL(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("HealthURL(%q): unexpected error %v", in, err)
			}
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || !strings.HasSuffix(u.Path, "/"+Path) {
			t.Fatalf("HealthURL(%q) = %q, not a credential-free http(s) health URL", in, got)
		}
	})
}

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/down/health", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/starting/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"starting","error":"engine not ready"}`))
	})
	mux.HandleFunc("/moved/health", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok/health", http.StatusFound)
	})
	mux.HandleFunc("/hang/health", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p := New(200 * time.Millisecond)
	defer p.Close()
	tests := []struct {
		path     string
		healthy  bool
		status   int
		err      bool
		starting bool
	}{
		{"/ok/health", true, 200, false, false},
		{"/down/health", false, 503, false, false},
		{"/starting/health", false, 503, false, true}, // the openclaw engine's gateway is starting
		{"/moved/health", false, 302, false, false},   // redirects are not followed
		{"/hang/health", false, 0, true, false},       // the per-probe timeout ends it
	}
	for _, tt := range tests {
		r := p.Probe(context.Background(), srv.URL+tt.path)
		if r.Healthy != tt.healthy || r.Status != tt.status || (r.Err != nil) != tt.err || r.Starting != tt.starting {
			t.Errorf("Probe(%s) = %+v (%s)", tt.path, r, r)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"http://user:secret@instance.example/x": `"http://xxxxx@instance.example/x"`,
		"http://token@instance.example":         `"http://xxxxx@instance.example"`,
		"http://instance.example":               `"http://instance.example"`,
		"%zz":                                   "(unparsable URL)",
	}
	for in, want := range tests {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %s, want %s", in, got, want)
		}
	}
}
