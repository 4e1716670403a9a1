// Package modelproxy is the openclaw engine's metering model endpoint: the
// one model provider of the instance's OpenClaw gateway. It listens on
// loopback only, takes a secret made per runtime start (the gateway holds
// it instead of the platform's model key), and for every model call —
// whatever started it: a turn through the front door, the Control UI's
// chat, an OpenClaw channel, cron or a heartbeat — it checks the customer's
// rate limit, the plan's model and the quota (a call that starts a turn
// reserves its message first, as the front door's turns do, or takes the
// reservation its front-door turn lent: DBMeter, Turns), forwards the call to the
// platform's model endpoint with the platform's key in the API's exact
// wire format (streams relayed event by event), and counts the usage the
// provider reports (for a stream, from its final usage event) in the
// customer's usage records, the ones the front door's quota reads.
//
// Refusals answer in the API's own error shape (Anthropic's
// {"type":"error","error":{...}}, OpenAI's {"error":{...}}) so OpenClaw
// shows the customer why; a quota refusal is 429 with x-should-retry:
// false, so the providers' SDKs do not retry it.
package modelproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/services/runtime/internal/ratelimit"
)

// Limits.
const (
	// DefaultMaxBody bounds a request body: a full 200k-token context with
	// OpenClaw's tool definitions is about 1 MB of JSON.
	DefaultMaxBody = 8 << 20
	// maxAnswer bounds a whole (not streamed) answer read to meter it.
	maxAnswer = 32 << 20
	// maxEventLine bounds one line of a stream.
	maxEventLine = 4 << 20
	// recordTimeout bounds counting a call's usage after it answered.
	recordTimeout = 10 * time.Second
	// limiterKey is the rate limiter's key of the gateway's calls.
	limiterKey = "openclaw-gateway"
)

// Meter checks and counts a customer's usage.
type Meter interface {
	// Begin admits a call before it is forwarded, holding what it needs
	// (a call that starts a turn: its message), or refuses it with a
	// *QuotaError. startsTurn is a call that counts a message.
	Begin(ctx context.Context, startsTurn bool) (Admission, error)
}

// Admission is a call Meter let through; exactly one of its methods is
// called when the call ends.
type Admission interface {
	// Answered counts the usage of a call the provider answered (a
	// stream that broke counts what it reported).
	Answered(ctx context.Context, u Usage) error
	// Failed gives up what Begin held: the provider answered an error,
	// could not be reached, or the gateway left before an answer came.
	Failed(ctx context.Context) error
}

// Options configure a Proxy.
type Options struct {
	// API is Anthropic or OpenAI: what the gateway speaks and what the
	// upstream endpoint answers.
	API string
	// Upstream is the platform's model endpoint: Anthropic's root
	// (https://api.anthropic.com), or an OpenAI-compatible base URL
	// ending in /v1.
	Upstream string
	// UpstreamKey is the platform's model key (may be empty for an
	// OpenAI-compatible server without one).
	UpstreamKey string
	// Key is the secret the gateway presents (x-api-key, or
	// Authorization: Bearer).
	Key string
	// Model is the one model that may be requested: the plan's.
	Model string
	// Meter checks the quota and counts usage.
	Meter Meter
	// Limiter limits the gateway's calls (nil: none).
	Limiter *ratelimit.Limiter
	// Client makes the upstream calls.
	Client *http.Client
	// MaxBody bounds a request body (DefaultMaxBody when 0).
	MaxBody int64
	// Metrics counts requests and tokens (nil: not counted).
	Metrics *Metrics
	// Log receives refusals and upstream failures; never content or keys.
	Log *slog.Logger
}

// Proxy is the endpoint; it is an http.Handler.
type Proxy struct {
	o    Options
	wire wire
	url  string
}

// New returns a proxy for o.
func New(o Options) (*Proxy, error) {
	w, err := wireOf(o.API)
	if err != nil {
		return nil, err
	}
	var errs []error
	if o.Key == "" {
		errs = append(errs, errors.New("a key for the gateway is required"))
	}
	if o.Model == "" {
		errs = append(errs, errors.New("the model is required"))
	}
	if o.Meter == nil {
		errs = append(errs, errors.New("a meter is required"))
	}
	if !strings.HasPrefix(o.Upstream, "http://") && !strings.HasPrefix(o.Upstream, "https://") {
		errs = append(errs, errors.New("the upstream must be an http(s) URL"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("model proxy: %w", errors.Join(errs...))
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	up := strings.TrimSuffix(o.Upstream, "/")
	if o.API == OpenAI {
		// The base URL carries its version; the route is relative to it.
		up += "/chat/completions"
	} else {
		up += w.path()
	}
	return &Proxy{o: o, wire: w, url: up}, nil
}

// BaseURL is the base URL to give the gateway for a proxy listening at
// addr (host:port): the API's root for Anthropic, /v1 for OpenAI.
func BaseURL(api, addr string) string {
	if api == OpenAI {
		return "http://" + addr + "/v1"
	}
	return "http://" + addr
}

// Outcomes of a request, the metric's label.
const (
	outcomeOK          = "ok"
	outcomeNotFound    = "not_found"
	outcomeUnauth      = "unauthorized"
	outcomeRateLimited = "rate_limited"
	outcomeTooLarge    = "too_large"
	outcomeBadRequest  = "bad_request"
	outcomeWrongModel  = "wrong_model"
	outcomeQuota       = "quota"
	outcomeMeterFailed = "meter_failed"
	outcomeUpstream    = "upstream_error"
	outcomeUnreachable = "upstream_unreachable"
)

// refusal is a request answered by the proxy itself.
type refusal struct {
	status        int
	outcome       string
	anthropicType string
	openaiType    string
}

var refusals = map[string]refusal{
	outcomeNotFound:    {http.StatusNotFound, outcomeNotFound, "not_found_error", "invalid_request_error"},
	outcomeUnauth:      {http.StatusUnauthorized, outcomeUnauth, "authentication_error", "invalid_api_key"},
	outcomeRateLimited: {http.StatusTooManyRequests, outcomeRateLimited, "rate_limit_error", "requests"},
	outcomeTooLarge:    {http.StatusRequestEntityTooLarge, outcomeTooLarge, "request_too_large", "invalid_request_error"},
	outcomeBadRequest:  {http.StatusBadRequest, outcomeBadRequest, "invalid_request_error", "invalid_request_error"},
	outcomeWrongModel:  {http.StatusNotFound, outcomeWrongModel, "not_found_error", "model_not_found"},
	outcomeQuota:       {http.StatusTooManyRequests, outcomeQuota, "rate_limit_error", "insufficient_quota"},
	outcomeMeterFailed: {http.StatusServiceUnavailable, outcomeMeterFailed, "api_error", "server_error"},
	outcomeUnreachable: {http.StatusBadGateway, outcomeUnreachable, "api_error", "server_error"},
}

func (p *Proxy) refuse(w http.ResponseWriter, outcome, msg string, retryAfter time.Duration) {
	r := refusals[outcome]
	typ := r.anthropicType
	if p.o.API == OpenAI {
		typ = r.openaiType
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
	}
	if outcome == outcomeQuota {
		// Anthropic's and OpenAI's SDKs retry a 429 unless told not to.
		w.Header().Set("X-Should-Retry", "false")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	_, _ = w.Write(p.wire.errorBody(r.status, typ, msg))
	p.o.Metrics.request(outcome)
	if outcome != outcomeQuota && outcome != outcomeRateLimited {
		p.o.Log.Warn("model proxy: refused", "outcome", outcome, "status", r.status, "reason", msg)
	}
}

// ServeHTTP answers one model call.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != p.wire.path() {
		p.refuse(w, outcomeNotFound, "no route "+r.Method+" "+r.URL.Path+"; this endpoint serves POST "+p.wire.path(), 0)
		return
	}
	if !p.authorized(r) {
		p.refuse(w, outcomeUnauth, "invalid API key", 0)
		return
	}
	if ok, wait := p.o.Limiter.Allow(limiterKey); !ok {
		p.refuse(w, outcomeRateLimited, "too many model calls; slow down", wait)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.o.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		p.refuse(w, outcomeTooLarge, fmt.Sprintf("request body over %d bytes", p.o.MaxBody), 0)
		return
	case err != nil:
		p.refuse(w, outcomeBadRequest, "read request body: "+err.Error(), 0)
		return
	}
	c, err := p.wire.parse(body)
	if err != nil {
		p.refuse(w, outcomeBadRequest, err.Error(), 0)
		return
	}
	if c.model != p.o.Model {
		p.refuse(w, outcomeWrongModel, fmt.Sprintf("model %q is not available on this plan; use %q", c.model, p.o.Model), 0)
		return
	}
	var quota *QuotaError
	adm, err := p.o.Meter.Begin(r.Context(), c.startsTurn)
	switch {
	case errors.As(err, &quota):
		p.refuse(w, outcomeQuota, quota.Error(), 0)
		return
	case err != nil:
		p.o.Log.Error("model proxy: quota check failed", "err", err)
		p.refuse(w, outcomeMeterFailed, "the usage quota cannot be checked right now; try again", time.Second)
		return
	}
	p.forward(w, r, c, adm)
}

// authorized checks the gateway's secret, sent the way either API's SDK
// sends a key.
func (p *Proxy) authorized(r *http.Request) bool {
	got := r.Header.Get("X-Api-Key")
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && got == "" {
		got = b
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(p.o.Key)) == 1
}

// forwardHeaders are the request headers passed upstream; the gateway's
// key and anything hop-by-hop are not.
var forwardHeaders = []string{"Content-Type", "Accept", "Anthropic-Version", "Anthropic-Beta", "User-Agent"}

// answerHeaders are the answer's headers passed back.
var answerHeaders = []string{"Content-Type", "Cache-Control", "Retry-After", "Request-Id", "X-Request-Id",
	"Anthropic-Organization-Id", "X-Should-Retry"}

// forward makes the call upstream and relays its answer; it ends adm:
// Answered once the provider answered, Failed on every other way out.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, c call, adm Admission) {
	// The call's end is recorded beyond the request (the gateway may
	// have left), within a bound.
	detached := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	}
	recorded := false
	defer func() {
		if recorded {
			return
		}
		ctx, cancel := detached()
		defer cancel()
		if err := adm.Failed(ctx); err != nil {
			p.o.Log.Error("model proxy: giving up the call's quota reservation failed", "err", err)
		}
	}()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.url, bytes.NewReader(c.body))
	if err != nil {
		p.refuse(w, outcomeUnreachable, "the model endpoint is misconfigured", 0)
		return
	}
	for _, h := range forwardHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	p.wire.authorize(req.Header, p.o.UpstreamKey)
	resp, err := p.o.Client.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			p.o.Metrics.request(outcomeUpstream)
			return // the gateway gave up
		}
		p.o.Log.Warn("model proxy: upstream call failed", "err", err)
		p.refuse(w, outcomeUnreachable, "the model endpoint is unreachable; try again", 0)
		return
	}
	defer resp.Body.Close()
	for _, h := range answerHeaders {
		if v := resp.Header.Values(h); len(v) > 0 {
			w.Header()[h] = v
		}
	}
	if resp.StatusCode/100 != 2 {
		// The provider's own error, as it sent it; nothing was generated.
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(resp.Body, maxAnswer))
		p.o.Metrics.request(outcomeUpstream)
		p.o.Log.Warn("model proxy: the model endpoint refused a call", "status", resp.StatusCode)
		return
	}
	// The call was answered (and paid for), even if its client left:
	// counted beyond the request, and before the client sees the answer
	// end, so a turn's usage is in the records once the turn is over.
	record := func(u Usage) {
		if recorded {
			return
		}
		recorded = true
		ctx, cancel := detached()
		defer cancel()
		if err := adm.Answered(ctx, u); err != nil {
			p.o.Log.Error("model proxy: counting usage failed", "err", err, "input_tokens", u.Input, "output_tokens", u.Output)
		}
		p.o.Metrics.tokens(u)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		record(p.relay(w, resp.Body, c, record))
	} else {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		var u Usage
		if err == nil {
			if u, err = p.wire.usage(b); err != nil {
				p.o.Log.Warn("model proxy: answer without usage; counted as none", "err", err)
			}
		}
		record(u)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b)
	}
	p.o.Metrics.request(outcomeOK)
}

// relay passes a stream on event by event, reading the usage from its
// data lines, and returns the usage seen (all of it once the stream ended;
// what was generated so far when it broke). Before it passes on the
// stream's last event it calls end with the usage.
func (p *Proxy) relay(w http.ResponseWriter, body io.Reader, c call, end func(Usage)) Usage {
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	br := bufio.NewReaderSize(body, 64<<10)
	var u Usage
	var event bytes.Buffer // the lines of the event being read
	drop := false          // the event is the usage chunk the client did not ask for
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = bytes.TrimSpace(data)
				if p.wire.event(data, &u) {
					end(u)
				}
				if c.dropUsageChunk && usageChunk(data) {
					drop = true
				}
			}
			event.Write(line)
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				// A blank line ends the event: pass it on at once.
				if !drop {
					if _, werr := w.Write(event.Bytes()); werr != nil {
						return u
					}
					_ = rc.Flush()
				}
				event.Reset()
				drop = false
			}
		}
		if err != nil {
			if event.Len() > 0 && !drop {
				_, _ = w.Write(event.Bytes())
				_ = rc.Flush()
			}
			return u
		}
	}
}

// readLine reads one line including its end, at most maxEventLine bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
		if len(line) > maxEventLine {
			return line, fmt.Errorf("stream line over %d bytes", maxEventLine)
		}
	}
}
