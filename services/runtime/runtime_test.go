package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type statusBody struct {
	// CustomerID must stay empty: /status does not reveal the customer id.
	CustomerID string `json:"customer_id"`
	Plan       string `json:"plan"`
	Usage      struct {
		Messages     int64     `json:"messages"`
		InputTokens  int64     `json:"input_tokens"`
		OutputTokens int64     `json:"output_tokens"`
		PeriodStart  time.Time `json:"period_start"`
		PeriodEnd    time.Time `json:"period_end"`
	} `json:"usage"`
	Quota struct {
		MonthlyMessages int64     `json:"monthly_messages"`
		Remaining       int64     `json:"remaining"`
		Exceeded        bool      `json:"exceeded"`
		ResetAt         time.Time `json:"reset_at"`
		MonthlyTokens   int64     `json:"monthly_tokens"`
		TokensRemaining int64     `json:"tokens_remaining"`
		TokensExceeded  bool      `json:"tokens_exceeded"`
	} `json:"quota"`
	Model struct {
		Provider string `json:"provider"`
		Model    string `json:"model"`
	} `json:"model"`
	Version string `json:"version"`
	Engine  string `json:"engine"`
	Error   string `json:"error"`
}

func TestHealth(t *testing.T) {
	in := startInstance(t, "cus_HEALTH", plans.Starter)
	var body struct{ Status string }
	if resp := in.get(t, "/health", "", &body); resp.StatusCode != http.StatusOK || body.Status != "ok" {
		t.Errorf("GET /health = %d %+v, want 200 ok", resp.StatusCode, body)
	}
}

func TestStatus(t *testing.T) {
	in := startInstance(t, "cus_STATUS", plans.Pro)
	key := in.addKey(t)
	now := time.Now()
	if err := customerdb.AddUsage(t.Context(), in.pool, now, customerdb.UsageTotals{Messages: 3, InputTokens: 300, OutputTokens: 900}); err != nil {
		t.Fatal(err)
	}
	var got statusBody
	resp := in.get(t, "/status", key, &got)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status = %d %+v", resp.StatusCode, got)
	}
	pro, err := plans.Lookup(plans.Pro)
	if err != nil {
		t.Fatal(err)
	}
	if got.Plan != "pro" || got.Version != "v-test" || got.Engine != plans.EngineRuntime {
		t.Errorf("identity = %q %q %q, want pro, v-test, the runtime engine", got.Plan, got.Version, got.Engine)
	}
	if got.CustomerID != "" {
		t.Errorf("/status reveals customer_id %q: a customer id is not for customers to hold", got.CustomerID)
	}
	if got.Quota.MonthlyMessages != pro.MonthlyMessages {
		t.Errorf("quota = %d, want %d", got.Quota.MonthlyMessages, pro.MonthlyMessages)
	}
	u := got.Usage
	if u.Messages != 3 || u.InputTokens != 300 || u.OutputTokens != 900 {
		t.Errorf("usage = %+v", u)
	}
	if now.Before(u.PeriodStart) || !now.Before(u.PeriodEnd) || u.PeriodStart.Day() != 1 {
		t.Errorf("period %v..%v does not contain now (%v)", u.PeriodStart, u.PeriodEnd, now)
	}
}

func TestStatusRejectsBadKeys(t *testing.T) {
	a := startInstance(t, "cus_A", plans.Starter)
	b := startInstance(t, "cus_B", plans.Team)
	keyA, keyB := a.addKey(t), b.addKey(t)
	revoked := a.addKey(t)
	if err := customerdb.RevokeAPIKeys(t.Context(), a.pool); err != nil {
		t.Fatal(err)
	}
	keyA2 := a.addKey(t) // issued after the revocation: valid
	unknown, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   *instance
		key  string
		want int
	}{
		{"no key", a, "", http.StatusUnauthorized},
		{"malformed key", a, "claw_nope", http.StatusUnauthorized},
		{"unknown key", a, unknown, http.StatusUnauthorized},
		{"revoked key", a, revoked, http.StatusUnauthorized},
		{"revoked before rotation", a, keyA, http.StatusUnauthorized},
		{"other customer's key on A", a, keyB, http.StatusUnauthorized},
		{"A's key on other customer", b, keyA2, http.StatusUnauthorized},
		{"A's new key", a, keyA2, http.StatusOK},
		{"B's key", b, keyB, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body statusBody
			resp := tc.in.get(t, "/status", tc.key, &body)
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /status = %d %+v, want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want != http.StatusUnauthorized {
				return
			}
			if body.Error == "" {
				t.Error("401 without a JSON error")
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := runtime.Run(t.Context(), runtime.Config{Plan: "gold"}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("Run accepted an empty config")
	}
	for _, want := range []string{"customer_id", "unknown plan", "listen_addr", "database_url", "instance_id", "version"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRunFailsWithoutDatabase(t *testing.T) {
	// A port nothing listens on: take one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	cfg := runtime.Config{
		CustomerID:  "cus_NODB",
		Plan:        plans.Starter,
		ListenAddr:  "127.0.0.1:0",
		DatabaseURL: fmt.Sprintf("postgres://u:secretpw@%s/db?connect_timeout=5", deadAddr),
		InstanceID:  "i",
		Version:     "v",
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = runtime.Run(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("Run succeeded without a database")
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Errorf("error leaks the password: %v", err)
	}
}
