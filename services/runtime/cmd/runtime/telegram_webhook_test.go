package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/telegramtest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// withEdge puts a TLS server in front of the instance, as Railway's edge
// is: https outside (the instance's public_url), the runtime's plain http
// inside, following the runtime across restarts. The Telegram test server
// delivers through it with a client that trusts its certificate, so the
// runtime needs no test-only switch to accept an http webhook URL.
func withEdge(tb testing.TB, in *tgInstance) *httptest.Server {
	tb.Helper()
	edge := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse(*in.backend.Load())
		r.SetURL(u)
	}})
	tb.Cleanup(edge.Close)
	in.tg.SetWebhookClient(edge.Client())
	in.setConfig(tb, "public_url", edge.URL)
	return edge
}

// setConfig changes one field of the configuration the next start reads
// (nil removes it).
func (in *tgInstance) setConfig(tb testing.TB, key string, value any) {
	tb.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(in.cfg), &cfg); err != nil {
		tb.Fatal(err)
	}
	if value == nil {
		delete(cfg, key)
	} else {
		cfg[key] = value
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	in.cfg = string(b)
}

// webhookState is GET /api/channels/telegram in webhook mode.
type webhookState struct {
	Connected, Paired bool
	Mode              string
	Deliveries        int64 `json:"webhook_deliveries"`
	Refused           int64 `json:"webhook_refused"`
}

// forge posts body to target with secret (none when "") through client.
func forge(t *testing.T, client *http.Client, target, secret, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(telegramtest.SecretHeader, secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestBinaryTelegramWebhook(t *testing.T) {
	var edge *httptest.Server
	in := startTelegramInstanceWith(t, func(in *tgInstance) { edge = withEdge(t, in) })
	token := in.tg.AddBot("hook_claw_bot")
	owner := telegramtest.User{ID: 2002, FirstName: "Bea"}
	stranger := telegramtest.User{ID: 667, FirstName: "Eve"}

	var conn tgState
	if code := in.api(t, http.MethodPut, "/api/channels/telegram", map[string]string{"bot_token": token}, &conn); code != http.StatusOK {
		t.Fatalf("PUT = %d", code)
	}
	// The webhook is set on the public URL, with a secret token; the bot
	// is never polled.
	var hookURL, secret string
	waitFor(t, "the webhook to be set", func() bool {
		hookURL, secret = in.tg.Webhook(token)
		return hookURL != ""
	})
	if !strings.HasPrefix(hookURL, edge.URL+"/telegram/webhook/") || len(secret) < 32 {
		t.Fatalf("webhook %q, secret of %d characters", hookURL, len(secret))
	}
	var st webhookState
	in.api(t, http.MethodGet, "/api/channels/telegram", nil, &st)
	if st.Mode != "webhook" || !st.Connected {
		t.Fatalf("state = %+v", st)
	}
	var sealed []byte
	if err := in.db.QueryRow(t.Context(), "SELECT webhook_secret_sealed FROM telegram_channel").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret)) {
		t.Fatal("the webhook secret is stored in clear")
	}

	// A stranger is refused once and costs nothing; the owner pairs.
	in.tg.SendText(token, stranger, "/start AAAAAAAAAA")
	in.tg.SendText(token, stranger, "hello?")
	in.tg.SendText(token, owner, "/start "+conn.PairingCode)
	sent := in.tg.WaitSent(t, token, 2, 30*time.Second)
	if sent[0].ChatID != stranger.ID || !strings.Contains(sent[0].Text, "private assistant") ||
		sent[1].ChatID != owner.ID || !strings.HasPrefix(sent[1].Text, "Paired") {
		t.Fatalf("sent = %q", texts(sent))
	}

	// The owner chats through webhook deliveries; typing is shown.
	hello := in.tg.SendText(token, owner, "hello by webhook")
	sent = in.tg.WaitSent(t, token, 3, 30*time.Second)
	if sent[2].Text != "Echo: hello by webhook" || sent[2].ChatID != owner.ID {
		t.Fatalf("reply = %+v", sent[2])
	}
	if acts := in.tg.Actions(token); len(acts) == 0 || acts[0].Action != "typing" {
		t.Fatalf("chat actions = %+v", acts)
	}

	// Telegram redelivers an update whose answer it missed: processed once.
	if code, err := in.tg.Redeliver(token, hello); err != nil || code != http.StatusOK {
		t.Fatalf("redelivery = %d %v", code, err)
	}

	// Forged deliveries are refused before anything is recorded.
	forged := fmt.Sprintf(`{"update_id": 999999, "message": {"message_id": 1, "date": %d, "text": "forged",
		"chat": {"id": %d, "type": "private"}, "from": {"id": %d, "is_bot": false, "first_name": "Bea"}}}`,
		time.Now().Unix(), owner.ID, owner.ID)
	otherPath := edge.URL + "/telegram/webhook/" + strings.Repeat("0", 32)
	for _, f := range []struct {
		name, target, secret, body string
		want                       int
	}{
		{"no secret", hookURL, "", forged, http.StatusUnauthorized},
		{"wrong secret", hookURL, strings.Repeat("x", len(secret)), forged, http.StatusForbidden},
		{"secret of another length", hookURL, secret[:10], forged, http.StatusForbidden},
		{"wrong path", otherPath, secret, forged, http.StatusNotFound},
		{"malformed", hookURL, secret, `{"update_id": `, http.StatusBadRequest},
		{"no update id", hookURL, secret, `{"message": {}}`, http.StatusBadRequest},
		{"too large", hookURL, secret, `{"update_id": 999998, "x": "` + strings.Repeat("a", 300<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		if code := forge(t, edge.Client(), f.target, f.secret, f.body); code != f.want {
			t.Errorf("%s: %d, want %d", f.name, code, f.want)
		}
	}
	var recorded int
	if err := in.db.QueryRow(t.Context(), "SELECT count(*) FROM telegram_updates WHERE update_id >= 999998").Scan(&recorded); err != nil || recorded != 0 {
		t.Fatalf("forged updates recorded: %d %v", recorded, err)
	}
	in.api(t, http.MethodGet, "/api/channels/telegram", nil, &st)
	if st.Refused != 7 || st.Deliveries < 5 {
		t.Errorf("counted %d refused, %d accepted deliveries; want 7 refused", st.Refused, st.Deliveries)
	}

	// Restart: an update Telegram could not deliver while the runtime was
	// down is retried and answered once.
	in.stop(t, syscall.SIGTERM)
	in.tg.SendText(token, owner, "while you were away")
	in.start(t)
	sent = in.tg.WaitSent(t, token, 4, 30*time.Second)
	if sent[3].Text != "Echo: while you were away" {
		t.Fatalf("after restart: %q", texts(sent[3:]))
	}
	// A crash after an update was recorded (Telegram has its 200) and
	// before it was begun: processed at the next start. (The kill waits
	// for the last reply's update to be marked done: killed between its
	// reply and that, it would be "interrupted", as in polling.)
	waitFor(t, "the last update to be done", func() bool {
		var open int
		err := in.db.QueryRow(t.Context(), `SELECT count(*) FROM telegram_updates WHERE state IN ('received', 'started')`).Scan(&open)
		return err == nil && open == 0
	})
	in.stop(t, syscall.SIGKILL)
	crashed := fmt.Sprintf(`{"update_id": 50, "message": {"message_id": 50, "date": %d, "text": "recorded before a crash",
		"chat": {"id": %d, "type": "private"}, "from": {"id": %d, "is_bot": false, "first_name": "Bea"}}}`,
		time.Now().Unix(), owner.ID, owner.ID)
	if _, err := customerdb.ReceiveTelegramUpdate(t.Context(), in.db, in.tg.BotID(token), 50, owner.ID, []byte(crashed)); err != nil {
		t.Fatal(err)
	}
	in.start(t)
	sent = in.tg.WaitSent(t, token, 5, 30*time.Second)
	if sent[4].Text != "Echo: recorded before a crash" {
		t.Fatalf("after a crash before processing: %q", texts(sent[4:]))
	}
	// Killed mid-turn: not rerun; the owner is asked to resend.
	in.model.Enqueue(llmtest.Answer{Hang: true})
	before := len(in.model.Requests())
	in.tg.SendText(token, owner, "a slow question")
	waitFor(t, "the slow turn to reach the model", func() bool { return len(in.model.Requests()) == before+1 })
	in.stop(t, syscall.SIGKILL)
	in.start(t)
	sent = in.tg.WaitSent(t, token, 6, 30*time.Second)
	if !strings.Contains(sent[5].Text, "send it again") {
		t.Fatalf("after a kill mid-turn: %q", texts(sent[5:]))
	}

	time.Sleep(200 * time.Millisecond) // let a wrongly repeated update show
	if sent := in.tg.Sent(token); len(sent) != 6 {
		t.Fatalf("sent %d messages: %q", len(sent), texts(sent))
	}
	var asked []string
	for _, r := range in.model.Requests() {
		if last, err := llmtest.LastUser(r); err == nil {
			asked = append(asked, last)
		}
	}
	if want := "hello by webhook|while you were away|recorded before a crash|a slow question"; strings.Join(asked, "|") != want {
		t.Fatalf("model asked %q, want %q", asked, want)
	}
	if used := in.messagesUsed(t); used != 3 {
		t.Errorf("messages used = %d, want 3 (the interrupted turn is not settled)", used)
	}
	if n := in.tg.Calls("getUpdates"); n != 0 {
		t.Errorf("getUpdates called %d times in webhook mode", n)
	}

	// DELETE deletes the webhook.
	if code := in.api(t, http.MethodDelete, "/api/channels/telegram", nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	if u, _ := in.tg.Webhook(token); u != "" {
		t.Fatalf("webhook still set after DELETE: %q", u)
	}
	if code := forge(t, edge.Client(), hookURL, secret, forged); code != http.StatusNotFound {
		t.Errorf("delivery after DELETE = %d", code)
	}

	// Connected again, then started without a public URL: the webhook is
	// deleted and the bot polled.
	if code := in.api(t, http.MethodPut, "/api/channels/telegram", map[string]string{"bot_token": token}, &conn); code != http.StatusOK {
		t.Fatalf("PUT again = %d", code)
	}
	waitFor(t, "the webhook to be set again", func() bool { u, _ := in.tg.Webhook(token); return u != "" })
	in.stop(t, syscall.SIGTERM)
	in.setConfig(t, "public_url", nil)
	in.start(t)
	in.tg.SendText(token, owner, "/start "+conn.PairingCode)
	sent = in.tg.WaitSent(t, token, 7, 30*time.Second)
	if !strings.HasPrefix(sent[6].Text, "Paired") {
		t.Fatalf("paired by polling: %q", sent[6].Text)
	}
	if u, _ := in.tg.Webhook(token); u != "" {
		t.Errorf("webhook still set in polling mode: %q", u)
	}
	in.api(t, http.MethodGet, "/api/channels/telegram", nil, &st)
	if st.Mode != "polling" {
		t.Errorf("mode = %q", st.Mode)
	}

	in.stop(t, syscall.SIGTERM)
	for _, l := range in.allLogs {
		for _, s := range []string{token, strings.Split(token, ":")[1], secret, strings.TrimPrefix(hookURL, edge.URL+"/telegram/webhook/"), "hello by webhook"} {
			if strings.Contains(l.String(), s) {
				t.Errorf("logs contain %q", s)
			}
		}
	}
}
