package webfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/services/runtime/internal/tools"
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 2 << 20
	DefaultTimeout      = 15 * time.Second
	DefaultMaxRedirects = 5
	userAgent           = "ClawdbotCloud-Fetch/1.0 (+assistant web_fetch)"
)

// Options tune a Fetcher; the zero value is production's.
type Options struct {
	// Allow opens address ranges despite the rules (tests only).
	Allow []netip.Prefix
	// MaxBytes bounds a body read; the rest is cut.
	MaxBytes int64
	// Timeout bounds a whole fetch, redirects included.
	Timeout time.Duration
	// MaxRedirects bounds the redirects followed.
	MaxRedirects int
}

// Fetcher reads web pages within the address rules.
type Fetcher struct {
	client   *http.Client
	maxBytes int64
}

// New returns a Fetcher.
func New(o Options) *Fetcher {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	t := &http.Transport{
		Proxy:                 nil, // a proxy would be dialed instead of the page: never
		DialContext:           Guard{Allow: o.Allow}.DialContext(5 * time.Second),
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Fetcher{maxBytes: o.MaxBytes, client: &http.Client{
		Transport: t,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > o.MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrRefused, o.MaxRedirects)
			}
			return CheckURL(req.URL)
		},
	}}
}

// CheckURL accepts http and https URLs with a host and no credentials.
// The address rules are applied when connecting.
func CheckURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: only http and https URLs can be fetched", ErrRefused)
	case u.Hostname() == "":
		return fmt.Errorf("%w: the URL has no host", ErrRefused)
	case u.User != nil:
		return fmt.Errorf("%w: URLs with credentials are not fetched", ErrRefused)
	}
	return nil
}

// Fetch reads the page at raw and returns it as text. Failures are errors
// whose text is fit for the model (no internals).
func (f *Fetcher) Fetch(ctx context.Context, raw string) (tools.Page, error) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 4096 {
		return tools.Page{}, fmt.Errorf("%w: not a valid URL", ErrRefused)
	}
	if err := CheckURL(u); err != nil {
		return tools.Page{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return tools.Page{}, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "text/html,text/plain;q=0.9,*/*;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return tools.Page{}, unwrapRefused(err)
		}
		return tools.Page{}, fmt.Errorf("fetch %s: %v", u.Host, shortErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return tools.Page{}, fmt.Errorf("fetch %s: HTTP %d %s", u.Host, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes))
	if err != nil {
		return tools.Page{}, fmt.Errorf("fetch %s: reading the page: %v", u.Host, shortErr(err))
	}
	page := tools.Page{URL: resp.Request.URL.String()}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml" || mt == "" && looksHTML(body):
		page.Title, page.Text = HTMLText(body)
	case strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/xml" || mt == "":
		page.Text = strings.ToValidUTF8(string(body), "\uFFFD")
	default:
		return tools.Page{}, fmt.Errorf("fetch %s: %s is not a text page", u.Host, mt)
	}
	if int64(len(body)) == f.maxBytes {
		page.Text += fmt.Sprintf("\n[cut: the page is over %d bytes]", f.maxBytes)
	}
	if !utf8.ValidString(page.Text) {
		page.Text = strings.ToValidUTF8(page.Text, "\uFFFD")
	}
	return page, nil
}

func looksHTML(b []byte) bool {
	head := strings.ToLower(string(b[:min(len(b), 512)]))
	return strings.Contains(head, "<html") || strings.Contains(head, "<!doctype html")
}

// unwrapRefused returns the refusal inside a client error, without the
// client's "Get ...: dial tcp ...:" framing.
func unwrapRefused(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), ErrRefused.Error()) {
			return e
		}
	}
	return err
}

// shortErr drops the URL the client repeats in its errors.
func shortErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}
