package runtime_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/telegramtest"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
)

// withTelegram points the instance at a Telegram test server.
func withTelegram(tg *telegramtest.Server) option {
	return func(s *setup) {
		s.cfg.Env.TelegramBaseURL = tg.URL
		s.cfg.InstanceToken = testInstanceToken
	}
}

func TestTelegramAPI(t *testing.T) {
	tg := telegramtest.New(t)
	in := startInstance(t, "cus_TGAPI", plans.Starter, withTelegram(tg))
	key := in.addKey(t)
	token := tg.AddBot("api_bot")

	for _, c := range []struct {
		name string
		body any
		want int
	}{
		{"no body", nil, http.StatusBadRequest},
		{"unknown field", map[string]any{"token": token}, http.StatusBadRequest},
		{"not a token", map[string]any{"bot_token": "hello"}, http.StatusBadRequest},
		{"token of no bot", map[string]any{"bot_token": "42:AAH" + strings.Repeat("z", 32)}, http.StatusUnprocessableEntity},
		{"wrong type", map[string]any{"bot_token": 42}, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			in.call(t, http.MethodPut, "/api/channels/telegram", key, c.body, c.want, nil)
		})
	}
	in.call(t, http.MethodGet, "/api/channels/telegram", "", nil, http.StatusUnauthorized, nil)
	in.call(t, http.MethodDelete, "/api/channels/telegram", key, nil, http.StatusNotFound, nil)

	var st struct {
		Connected, Paired bool
		PairingCode       string `json:"pairing_code"`
	}
	in.call(t, http.MethodGet, "/api/channels/telegram", key, nil, http.StatusOK, &st)
	if st.Connected {
		t.Fatalf("connected before PUT: %+v", st)
	}
	in.call(t, http.MethodPut, "/api/channels/telegram", key, map[string]any{"bot_token": token}, http.StatusOK, &st)
	if !st.Connected || st.Paired || st.PairingCode == "" {
		t.Fatalf("PUT: %+v", st)
	}
	resp, raw := in.do(t, http.MethodGet, "/api/channels/telegram", key, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(raw), token) || strings.Contains(string(raw), "pairing_code") {
		t.Fatalf("GET = %d %s", resp.StatusCode, raw)
	}
	in.call(t, http.MethodDelete, "/api/channels/telegram", key, nil, http.StatusNoContent, nil)
}

// Without an instance token there is no key to seal a bot token with.
func TestTelegramNeedsTheInstanceToken(t *testing.T) {
	tg := telegramtest.New(t)
	in := startInstance(t, "cus_TGNOKEY", plans.Starter, withTelegram(tg),
		withConfig(func(c *runtime.Config) { c.InstanceToken = "" }))
	key := in.addKey(t)
	in.call(t, http.MethodPut, "/api/channels/telegram", key, map[string]any{"bot_token": tg.AddBot("b")}, http.StatusServiceUnavailable, nil)
}

// An owner whose quota is spent is told so on Telegram; the model is not
// called.
func TestTelegramOwnerOverQuota(t *testing.T) {
	tg := telegramtest.New(t)
	model := anthropictest.New(t)
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	in := startInstance(t, "cus_TGQUOTA", plans.Starter, withTelegram(tg), withAnthropic(model),
		withOptions(runtime.Options{Now: func() time.Time { return now }}))
	key := in.addKey(t)
	token := tg.AddBot("quota_bot")
	var st struct {
		PairingCode string `json:"pairing_code"`
	}
	in.call(t, http.MethodPut, "/api/channels/telegram", key, map[string]any{"bot_token": token}, http.StatusOK, &st)
	owner := telegramtest.User{ID: 5, FirstName: "Owner"}
	tg.SendText(token, owner, "/start "+st.PairingCode)
	tg.WaitSent(t, token, 1, 30*time.Second)

	plan, _ := plans.Lookup(plans.Starter)
	if err := customerdb.AddUsage(context.Background(), in.pool, now.AddDate(0, 0, -1),
		customerdb.UsageTotals{Messages: int64(plan.MonthlyMessages)}); err != nil {
		t.Fatal(err)
	}
	tg.SendText(token, owner, "one more please")
	sent := tg.WaitSent(t, token, 2, 30*time.Second)
	if !strings.Contains(sent[1].Text, "monthly message quota reached") {
		t.Fatalf("reply = %q", sent[1].Text)
	}
	if n := len(model.Requests()); n != 0 {
		t.Fatalf("model got %d requests", n)
	}
}

// The webhook route's answers, each checked against the OpenAPI document:
// only Telegram's delivery (the channel's path and secret) is recorded.
func TestTelegramWebhookRoute(t *testing.T) {
	tg := telegramtest.New(t)
	// Deliveries would go nowhere (port 1): the test posts them itself.
	in := startInstance(t, "cus_TGHOOK", plans.Starter, withTelegram(tg),
		withConfig(func(c *runtime.Config) { c.PublicURL = "https://127.0.0.1:1/edge" }))
	key := in.addKey(t)
	token := tg.AddBot("route_bot")
	in.call(t, http.MethodPost, "/telegram/webhook/nothing", "", `{"update_id": 1}`, http.StatusNotFound, nil)
	in.call(t, http.MethodPut, "/api/channels/telegram", key, map[string]any{"bot_token": token}, http.StatusOK, nil)

	var hook, secret string
	deadline := time.Now().Add(30 * time.Second)
	for hook, secret = tg.Webhook(token); hook == ""; hook, secret = tg.Webhook(token) {
		if time.Now().After(deadline) {
			t.Fatal("no webhook set")
		}
		time.Sleep(10 * time.Millisecond)
	}
	path, ok := strings.CutPrefix(hook, "https://127.0.0.1:1/edge/telegram/webhook/")
	if !ok || len(path) != 32 {
		t.Fatalf("webhook URL %q", hook)
	}
	update := `{"update_id": 4242, "message": {"message_id": 1, "date": 1, "text": "hi",
		"chat": {"id": 9, "type": "private"}, "from": {"id": 9, "is_bot": false, "first_name": "Sam"}}}`
	route := "/telegram/webhook/" + path
	// A wrong secret differs in its first character (a fixed "x" was the
	// right one whenever the random secret began with x).
	wrong := "x" + secret[1:]
	if secret[0] == 'x' {
		wrong = "y" + secret[1:]
	}
	for _, c := range []struct {
		name, path, secret, body string
		want                     int
	}{
		{"no secret", route, "", update, http.StatusUnauthorized},
		{"wrong secret", route, wrong, update, http.StatusForbidden},
		{"unknown path", "/telegram/webhook/" + strings.Repeat("f", 32), secret, update, http.StatusNotFound},
		{"malformed", route, secret, `[1, 2`, http.StatusBadRequest},
		{"delivered", route, secret, update, http.StatusOK},
		{"redelivered", route, secret, update, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			var header []string
			if c.secret != "" {
				header = []string{telegramtest.SecretHeader, c.secret}
			}
			resp, raw := in.do(t, http.MethodPost, c.path, "", c.body, header...)
			if resp.StatusCode != c.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, raw, c.want)
			}
		})
	}
	// The stranger's update is processed once (the refusal cannot reach
	// an unknown chat, so it is recorded done without one).
	deadline = time.Now().Add(30 * time.Second)
	for {
		var state string
		err := in.pool.QueryRow(t.Context(), `SELECT state FROM telegram_updates WHERE update_id = 4242`).Scan(&state)
		if err == nil && state == customerdb.TelegramUpdateDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("update state %q, %v", state, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var st struct {
		Mode       string
		Deliveries int64 `json:"webhook_deliveries"`
		Refused    int64 `json:"webhook_refused"`
	}
	in.call(t, http.MethodGet, "/api/channels/telegram", key, nil, http.StatusOK, &st)
	if st.Mode != "webhook" || st.Deliveries != 2 || st.Refused != 5 { // the first POST, before a bot, counts too
		t.Fatalf("state = %+v", st)
	}

	// Another bot replaces this one: the old bot's webhook is deleted, the
	// new one gets its own path and secret, and the old path is gone.
	other := tg.AddBot("other_bot")
	in.call(t, http.MethodPut, "/api/channels/telegram", key, map[string]any{"bot_token": other}, http.StatusOK, nil)
	if u, _ := tg.Webhook(token); u != "" {
		t.Fatalf("the replaced bot's webhook is still set: %q", u)
	}
	deadline = time.Now().Add(30 * time.Second)
	for u, _ := tg.Webhook(other); u == "" || u == hook; u, _ = tg.Webhook(other) {
		if time.Now().After(deadline) {
			t.Fatalf("the new bot's webhook: %q", u)
		}
		time.Sleep(10 * time.Millisecond)
	}
	in.call(t, http.MethodPost, route, "", update, http.StatusNotFound, nil)

	in.call(t, http.MethodDelete, "/api/channels/telegram", key, nil, http.StatusNoContent, nil)
	if u, _ := tg.Webhook(other); u != "" {
		t.Fatalf("webhook after DELETE: %q", u)
	}
	in.call(t, http.MethodPost, route, "", update, http.StatusNotFound, nil)
}
