package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// SecretHeader carries a webhook's secret_token in every delivery.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// secretPattern is setWebhook's rule for secret_token.
var secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// Delivery backoff after a failed POST (Telegram's is longer; tests wait).
const (
	minRedeliver = 20 * time.Millisecond
	maxRedeliver = time.Second
)

// SetWebhookClient sets the client that POSTs updates to webhooks: one that
// trusts the test's TLS server (httptest.Server.Client), since a webhook URL
// must be https, as Telegram requires.
func (s *Server) SetWebhookClient(c *http.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookClient = c
}

// Redeliver POSTs update updateID to the bot's webhook once more, as
// Telegram does when it did not see an answer, and returns the status.
func (s *Server) Redeliver(token string, updateID int64) (int, error) {
	s.mu.Lock()
	b := s.mustBot(token)
	u, known := b.all[updateID]
	target, secret, client := b.webhook, b.secret, s.hookClient
	s.mu.Unlock()
	if !known || target == "" {
		return 0, fmt.Errorf("telegramtest: no update %d or no webhook", updateID)
	}
	return post(context.Background(), client, target, secret, u)
}

// setWebhook answers setWebhook: an https URL (or "" to delete), a secret
// token of Telegram's alphabet; then updates are POSTed to it.
func (s *Server) setWebhook(w http.ResponseWriter, b *bot, params map[string]any) {
	target, _ := params["url"].(string)
	secret, hasSecret := params["secret_token"].(string)
	drop, _ := params["drop_pending_updates"].(bool)
	if target == "" {
		s.deleteWebhook(w, b, drop)
		return
	}
	if u, err := url.Parse(target); err != nil || u.Scheme != "https" || u.Host == "" {
		fail(w, http.StatusBadRequest, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
		return
	}
	if hasSecret && !secretPattern.MatchString(secret) {
		fail(w, http.StatusBadRequest, "Bad Request: secret token contains unallowed characters")
		return
	}
	conns := 40.0
	if c, set := params["max_connections"].(float64); set {
		if c < 1 || c > 100 {
			fail(w, http.StatusBadRequest, "Bad Request: max_connections must be between 1 and 100")
			return
		}
		conns = c
	}
	s.mu.Lock()
	b.webhook, b.secret, b.maxConns = target, secret, int(conns)
	if allowed, ok := params["allowed_updates"].([]any); ok {
		b.allowed = nil
		for _, a := range allowed {
			b.allowed = append(b.allowed, a.(string))
		}
	}
	if drop {
		b.updates = nil
	}
	// A second getUpdates in flight ends, as a webhook takes over.
	if b.poll != nil {
		close(b.poll)
		b.poll = nil
	}
	s.startDelivery(b)
	s.mu.Unlock()
	ok(w, true)
}

// deleteWebhook stops deliveries; pending updates wait for getUpdates.
func (s *Server) deleteWebhook(w http.ResponseWriter, b *bot, drop bool) {
	s.mu.Lock()
	b.webhook, b.secret = "", ""
	if drop {
		b.updates = nil
	}
	stop := b.hookStop
	b.hookStop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	ok(w, true)
}

func (s *Server) getWebhookInfo(w http.ResponseWriter, b *bot) {
	s.mu.Lock()
	info := map[string]any{"url": b.webhook, "has_custom_certificate": false, "pending_update_count": len(b.updates)}
	if b.webhook != "" {
		info["max_connections"] = b.maxConns
		if b.allowed != nil {
			info["allowed_updates"] = slices.Clone(b.allowed)
		}
	}
	if b.lastErr != "" {
		info["last_error_date"] = b.lastErrAt.Unix()
		info["last_error_message"] = b.lastErr
	}
	s.mu.Unlock()
	s.answer(w, "WebhookInfo", info)
}

// startDelivery (s.mu held) starts POSTing b's updates to its webhook,
// replacing a delivery loop already running.
func (s *Server) startDelivery(b *bot) {
	if b.hookStop != nil {
		close(b.hookStop)
	}
	stop := make(chan struct{})
	b.hookStop = stop
	s.hooks.Add(1)
	go func() {
		defer s.hooks.Done()
		s.deliver(b, stop)
	}()
}

// deliver POSTs b's pending updates in order, one at a time; an update is
// confirmed (forgotten) by a 2xx answer and retried with backoff otherwise.
func (s *Server) deliver(b *bot, stop chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
		case <-s.closed:
		}
		cancel()
	}()
	backoff := minRedeliver
	for ctx.Err() == nil {
		s.mu.Lock()
		if len(b.updates) == 0 || b.revoked {
			arrived := b.arrived
			s.mu.Unlock()
			select {
			case <-arrived:
			case <-ctx.Done():
			}
			continue
		}
		u := b.updates[0]
		id := u["update_id"].(int64)
		target, secret, client := b.webhook, b.secret, s.hookClient
		b.received = append(b.received, id)
		s.mu.Unlock()

		status, err := post(ctx, client, target, secret, u)
		s.mu.Lock()
		if err == nil && status/100 == 2 {
			b.updates = slices.DeleteFunc(b.updates, func(p map[string]any) bool { return p["update_id"].(int64) == id })
			backoff = minRedeliver
			s.mu.Unlock()
			continue
		}
		if ctx.Err() == nil {
			b.lastErrAt = time.Now()
			b.lastErr = fmt.Sprintf("Wrong response from the webhook: %d %s", status, http.StatusText(status))
			if err != nil {
				b.lastErr = "Connection refused"
			}
		}
		s.mu.Unlock()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, maxRedeliver)
	}
}

// post sends one update as Telegram does: JSON, with the secret header when
// a secret_token was set.
func post(ctx context.Context, client *http.Client, target, secret string, u map[string]any) (int, error) {
	body, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(SecretHeader, secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
