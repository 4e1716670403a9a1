package ingress_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripeMockVersion is the stripe-mock the tests install and run.
const stripeMockVersion = "v0.203.0"

var installMu sync.Mutex

// stripeMockBinary returns stripe-mock, installing it with `go install` into
// <user cache>/clawdbot-tools/stripe-mock-<version> the first time. A
// machine that cannot get it fails the test: checkout is never left untested.
func stripeMockBinary(t *testing.T) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("stripe-mock: no user cache directory: %v", err)
	}
	dir := filepath.Join(cache, "clawdbot-tools", "stripe-mock-"+stripeMockVersion)
	bin := filepath.Join(dir, "stripe-mock")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	// Install into a fresh directory and rename, so a concurrent or
	// interrupted install never leaves half a binary at bin.
	tmp, err := os.MkdirTemp(dir, "install-")
	if err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", "github.com/stripe/stripe-mock@"+stripeMockVersion)
	cmd.Dir = tmp // outside the workspace: @version installs ignore go.work anyway
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stripe-mock: go install github.com/stripe/stripe-mock@%s: %v\n%s", stripeMockVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "stripe-mock"), bin); err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	return bin
}

// startStripeMock runs stripe-mock on free loopback ports until the test
// ends and returns its HTTP base URL.
func startStripeMock(t *testing.T) string {
	t.Helper()
	bin := stripeMockBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	// Both listeners on free ports: the HTTPS one would otherwise take
	// :12112 and collide with a parallel test binary.
	cmd := exec.CommandContext(ctx, bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not report its HTTP address within 30s")
	}
	return ""
}

// stripeCall is one request the ingress made to the Stripe API.
type stripeCall struct {
	Method, Path, Auth string
	Form               url.Values
}

// stripeProxy sits between the ingress and stripe-mock: it records every
// call (stripe-mock is stateless and does not echo parameters back) and can
// answer with a Stripe error instead.
type stripeProxy struct {
	URL   string
	mu    sync.Mutex
	calls []stripeCall
	fail  bool
}

func newStripeProxy(t *testing.T, upstream string) *stripeProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &stripeProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		p.mu.Lock()
		p.calls = append(p.calls, stripeCall{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Form: form})
		fail := p.fail
		p.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_1Pro'"}}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *stripeProxy) recorded() []stripeCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]stripeCall(nil), p.calls...)
}

func (p *stripeProxy) setFail(v bool) {
	p.mu.Lock()
	p.fail = v
	p.mu.Unlock()
}
