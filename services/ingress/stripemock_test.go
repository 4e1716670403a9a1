package ingress_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

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
