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
