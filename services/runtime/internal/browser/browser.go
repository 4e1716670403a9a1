// Package browser is the assistant's browser (the Pro and Team skill): a
// real headless Chromium driven over the DevTools protocol (chromedp),
// started lazily on the first browser tool call of the instance and
// stopped after it has been idle a while, with one browser context
// (cookies, storage, tab) per conversation. Every request the browser
// makes goes through an in-process proxy that applies the web fetcher's
// address rules to the address actually connected to, so pages,
// redirects and subresources alike cannot reach the platform's network.
package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"clawdbot.cloud/services/runtime/internal/webfetch"
)

// Defaults of Options.
const (
	DefaultIdleTimeout = 5 * time.Minute
	// maxConversations bounds the browser contexts kept open; the least
	// recently used is closed first.
	maxConversations = 8
)

// ErrUnavailable is a browser that cannot be started (no Chromium).
var ErrUnavailable = errors.New("the browser is not available on this instance")

// Options configure a Browser.
type Options struct {
	// ExecPath is the Chromium binary; CHROMIUM_PATH, then chromium or
	// chromium-browser on PATH, when empty.
	ExecPath string
	// IdleTimeout stops the browser after this long without a tool call.
	IdleTimeout time.Duration
	// Allow opens address ranges despite the rules (tests only).
	Allow []netip.Prefix
	// Log receives start, stop and failures (never page content).
	Log *slog.Logger
}

// Browser is the instance's lazily started Chromium.
type Browser struct {
	o Options

	mu      sync.Mutex
	running *session
	idle    *time.Timer
}

// session is one running Chromium with its proxy and conversations.
type session struct {
	proxy       *proxy
	cancelAlloc context.CancelFunc
	browser     context.Context
	cancel      context.CancelFunc
	dir         string
	tabs        map[string]*tab
	pid         int
}

// tab is a conversation's browser context and its page.
type tab struct {
	ctx    context.Context
	cancel context.CancelFunc
	used   time.Time
}

// New returns a Browser; nothing starts until the first tool call.
func New(o Options) *Browser {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Browser{o: o}
}

// Available reports whether Chromium can be found, so that an instance
// without it (the distroless image) does not offer tools that cannot run.
func (b *Browser) Available() bool {
	_, err := b.execPath()
	return err == nil
}

// execPath finds Chromium.
func (b *Browser) execPath() (string, error) {
	for _, p := range []string{b.o.ExecPath, os.Getenv("CHROMIUM_PATH")} {
		if p != "" {
			return p, nil
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrUnavailable
}

// tab returns the conversation's tab, starting the browser if needed, and
// (re)arms the idle stop.
func (b *Browser) tab(conversationID string) (*tab, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running == nil {
		s, err := b.start()
		if err != nil {
			return nil, err
		}
		b.running = s
	}
	if b.idle != nil {
		b.idle.Stop()
	}
	b.idle = time.AfterFunc(b.o.IdleTimeout, b.stopIdle)
	s := b.running
	if t, ok := s.tabs[conversationID]; ok {
		t.used = time.Now()
		return t, nil
	}
	if len(s.tabs) >= maxConversations {
		s.closeOldest()
	}
	ctx, cancel := chromedp.NewContext(s.browser, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil { // the first run opens the tab: no timeout on it
		cancel()
		return nil, fmt.Errorf("open a browser context: %w", err)
	}
	t := &tab{ctx: ctx, cancel: cancel, used: time.Now()}
	s.tabs[conversationID] = t
	return t, nil
}

// start launches Chromium behind the guarded proxy.
func (b *Browser) start() (*session, error) {
	path, err := b.execPath()
	if err != nil {
		return nil, err
	}
	p, err := startProxy(webfetch.Guard{Allow: b.o.Allow})
	if err != nil {
		return nil, fmt.Errorf("start the browser's proxy: %w", err)
	}
	dir, err := os.MkdirTemp("", "claw-browser-")
	if err != nil {
		p.close()
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.ProxyServer("http://"+p.addr()),
		// Loopback is bypassed by default; send it to the proxy too.
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.Flag("force-webrtc-ip-handling-policy", "disable_non_proxied_udp"),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("js-flags", "--max-old-space-size=256"),
		chromedp.WindowSize(1280, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancel := chromedp.NewContext(allocCtx)
	// The first run starts Chromium, which lives as long as that run's
	// context: no timeout on it (the allocator fails if Chromium does).
	if err := chromedp.Do(browserCtx); err != nil {
		cancel()
		cancelAlloc()
		p.close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s := &session{proxy: p, cancelAlloc: cancelAlloc, browser: browserCtx, cancel: cancel, dir: dir, tabs: map[string]*tab{}}
	if c := chromedp.FromContext(browserCtx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		s.pid = c.Browser.Process().Pid
	}
	b.o.Log.Info("browser started", "pid", s.pid)
	return s, nil
}

// stopIdle stops the browser when the idle timer fires.
func (b *Browser) stopIdle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running != nil {
		b.o.Log.Info("browser stopped: idle", "after", b.o.IdleTimeout.String())
		b.running.stop()
		b.running = nil
	}
}

// Close stops the browser if it runs.
func (b *Browser) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idle != nil {
		b.idle.Stop()
	}
	if b.running != nil {
		b.running.stop()
		b.running = nil
	}
}

// PID is the running Chromium's process id, 0 when none runs.
func (b *Browser) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running == nil {
		return 0
	}
	return b.running.pid
}

func (s *session) stop() {
	for id, t := range s.tabs {
		t.cancel()
		delete(s.tabs, id)
	}
	s.cancel()
	s.cancelAlloc() // waits for Chromium to exit
	s.proxy.close()
	os.RemoveAll(s.dir)
}

func (s *session) closeOldest() {
	var oldest string
	for id, t := range s.tabs {
		if oldest == "" || t.used.Before(s.tabs[oldest].used) {
			oldest = id
		}
	}
	s.tabs[oldest].cancel()
	delete(s.tabs, oldest)
}
