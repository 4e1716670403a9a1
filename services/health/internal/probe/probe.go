// Package probe makes single HTTP health probes of customer instances. The
// readiness check of a new instance (cmd.instance.check) polls with it; the
// continuous monitoring of live instances probes with it too.
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Path is where an instance answers its health check.
const Path = "health"

// ErrInvalidURL reports an instance URL that cannot be probed.
var ErrInvalidURL = errors.New("invalid instance URL")

// HealthURL validates an instance's base URL (absolute http or https, a
// host, no credentials, query or fragment) and returns its health URL.
func HealthURL(instanceURL string) (string, error) {
	u, err := url.Parse(instanceURL)
	if err != nil {
		return "", fmt.Errorf("%w: does not parse", ErrInvalidURL)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: scheme must be http or https", ErrInvalidURL)
	case u.Opaque != "" || u.Hostname() == "":
		return "", fmt.Errorf("%w: must be absolute with a host", ErrInvalidURL)
	case u.User != nil:
		// Credentials would end up in logs and events.
		return "", fmt.Errorf("%w: must not carry credentials", ErrInvalidURL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("%w: must not have a query or fragment", ErrInvalidURL)
	}
	return u.JoinPath(Path).String(), nil
}

// Redact returns instanceURL fit for a log line or a failure reason: any
// password replaced, and a URL that does not parse not repeated at all.
func Redact(instanceURL string) string {
	u, err := url.Parse(instanceURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	return quote(u.String())
}

// quote quotes s, cut to a length fit for a reason.
func quote(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// Result is the outcome of one probe.
type Result struct {
	// Healthy is true when the instance answered 200 OK.
	Healthy bool
	// Status is the HTTP status, 0 if no response arrived.
	Status int
	// Latency is the round trip, headers and (bounded) body included.
	Latency time.Duration
	// Err is why no response arrived.
	Err error
	// Starting is true when the instance answered 503 with the body
	// {"status":"starting"}: its front door serves and says its engine
	// (an OpenClaw gateway) is still starting. Only the openclaw engine
	// answers so; a runtime-engine instance is ready as soon as it serves.
	Starting bool
	// Activity is the token a healthy instance's /health carries (see the
	// runtime's OpenAPI): it moves when the instance used its database;
	// "" from a runtime that does not send one.
	Activity string
}

// String describes the result for a failure reason.
func (r Result) String() string {
	switch {
	case r.Err != nil:
		return "error: " + r.Err.Error()
	case r.Status == 0:
		return "no probe made"
	case r.Starting:
		return fmt.Sprintf("HTTP %d %s (engine starting)", r.Status, http.StatusText(r.Status))
	default:
		return fmt.Sprintf("HTTP %d %s", r.Status, http.StatusText(r.Status))
	}
}

// maxBody bounds what is read of a health response: enough to reuse the
// connection, never an instance's whole answer.
const maxBody = 64 << 10

// maxActivity bounds the activity token kept per instance: a token is a
// few dozen characters; anything longer is ignored (read /status as before).
const maxActivity = 128

// Prober probes instances over HTTP. It is safe for concurrent use.
type Prober struct {
	client  *http.Client
	timeout time.Duration
}

// New returns a Prober whose every request gives up after timeout.
// Redirects are not followed: a health endpoint answers itself. wrap, when
// given, wraps the transport (tracing).
func New(timeout time.Duration, wrap ...func(http.RoundTripper) http.RoundTripper) *Prober {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	var rt http.RoundTripper = tr
	for _, w := range wrap {
		rt = w(rt)
	}
	return &Prober{
		timeout: timeout,
		client: &http.Client{
			Transport: rt,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// Probe sends one GET to healthURL.
func (p *Prober) Probe(ctx context.Context, healthURL string) Result {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
	if err != nil {
		return Result{Err: err}
	}
	req.Header.Set("User-Agent", "clawdbot-health")
	resp, err := p.client.Do(req)
	if err != nil {
		return Result{Err: err, Latency: time.Since(start)}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	r := Result{Healthy: resp.StatusCode == http.StatusOK, Status: resp.StatusCode, Latency: time.Since(start)}
	var b struct {
		Status   string `json:"status"`
		Activity string `json:"activity"`
	}
	decoded := json.Unmarshal(body, &b) == nil
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		r.Starting = decoded && b.Status == "starting"
	case http.StatusOK:
		if decoded && len(b.Activity) <= maxActivity {
			r.Activity = b.Activity
		}
	}
	return r
}

// Close releases idle connections.
func (p *Prober) Close() { p.client.CloseIdleConnections() }
