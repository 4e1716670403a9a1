package browser

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"clawdbot.cloud/services/runtime/internal/webfetch"
)

// proxy is the HTTP proxy every request of the browser goes through (page
// loads, redirects, subresources, CONNECT tunnels for https): it connects
// only where the fetcher's address rules allow, checking the address it
// actually connects to, so the browser cannot reach the platform's
// network whatever a page does.
type proxy struct {
	guard     webfetch.Guard
	transport *http.Transport
	srv       *http.Server
	ln        net.Listener
	wg        sync.WaitGroup
	mu        sync.Mutex
	tunnels   map[net.Conn]bool
}

const dialTimeout = 10 * time.Second

// startProxy listens on a loopback port.
func startProxy(g webfetch.Guard) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{guard: g, ln: ln, tunnels: map[net.Conn]bool{}, transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext(dialTimeout),
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          8,
		IdleConnTimeout:       30 * time.Second,
	}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// addr is the proxy's address for --proxy-server.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// close stops the proxy and its tunnels.
func (p *proxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
	p.transport.CloseIdleConnections()
	p.mu.Lock()
	for c := range p.tunnels {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "refused: only http and https", http.StatusForbidden)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		refuse(w, err)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if strings.EqualFold(k, "Connection") || strings.EqualFold(k, "Keep-Alive") {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// tunnel answers CONNECT host:port for https, once the guarded dial
// succeeded.
func (p *proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	defer cancel()
	upstream, err := p.guard.DialContext(dialTimeout)(ctx, "tcp", r.Host)
	if err != nil {
		refuse(w, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "no tunnel", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		_, _ = upstream.Write(b)
	}
	p.mu.Lock()
	p.tunnels[client], p.tunnels[upstream] = true, true
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		pipe(client, upstream)
		p.mu.Lock()
		delete(p.tunnels, client)
		delete(p.tunnels, upstream)
		p.mu.Unlock()
	}()
}

// pipe copies both ways until either side ends.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}

func refuse(w http.ResponseWriter, err error) {
	if errors.Is(err, webfetch.ErrRefused) {
		http.Error(w, "refused by the browser's address rules: "+err.Error(), http.StatusForbidden)
		return
	}
	http.Error(w, "could not reach the site", http.StatusBadGateway)
}
