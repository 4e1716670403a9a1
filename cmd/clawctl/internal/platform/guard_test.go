package platform_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// TestDevSecretsStayLocal: while clawctl dev uses any of its public dev
// secrets, it refuses to listen beyond loopback or to run with a live Stripe
// key, saying what to change, before it starts anything; with real secrets
// the same Settings pass the check.
func TestDevSecretsStayLocal(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	real := map[string]string{
		"STRIPE_WEBHOOK_SECRET":  "whsec_a_real_one_0123456789abcdef",
		"ADMIN_TOKEN":            strings.Repeat("a", 64),
		"INGRESS_INTERNAL_TOKEN": strings.Repeat("b", 64),
	}
	tests := []struct {
		name    string
		env     map[string]string
		refused string // "" = the guard lets it through
	}{
		{"ingress on every interface", map[string]string{"INGRESS_ADDR": "0.0.0.0:8080"}, "INGRESS_ADDR=0.0.0.0:8080 is not a loopback address"},
		{"web app on a public address", map[string]string{"WEB_ADDR": "192.0.2.10:3000"}, "WEB_ADDR=192.0.2.10:3000 is not a loopback address"},
		{"web app with no host", map[string]string{"WEB_ADDR": ":3000"}, "WEB_ADDR=:3000 is not a loopback address"},
		{"NATS on every IPv6 interface", map[string]string{"EMBEDDED_NATS_ADDR": "[::]:4222"}, "EMBEDDED_NATS_ADDR=[::]:4222 is not a loopback address"},
		{"a live Stripe key", map[string]string{"STRIPE_SECRET_KEY": "sk_live_123"}, "STRIPE_SECRET_KEY is a live key"},
		{"a live restricted key", map[string]string{"STRIPE_SECRET_KEY": "rk_live_123"}, "STRIPE_SECRET_KEY is a live key"},
		{"only the admin token is dev", with(map[string]string{"INGRESS_ADDR": "0.0.0.0:8080", "ADMIN_TOKEN": ""}, real),
			"ADMIN_TOKEN (the dev token)"},
		{"the dev webhook secret set by hand", with(map[string]string{"INGRESS_ADDR": "0.0.0.0:8080", "STRIPE_WEBHOOK_SECRET": platform.DevWebhookSecret}, real),
			"STRIPE_WEBHOOK_SECRET (the dev webhook secret)"},
		{"loopback with a test key", map[string]string{"INGRESS_ADDR": "localhost:0", "WEB_ADDR": "[::1]:0", "STRIPE_SECRET_KEY": "sk_test_1"}, ""},
		{"real secrets on a public address", with(map[string]string{"INGRESS_ADDR": "0.0.0.0:0", "STRIPE_SECRET_KEY": "sk_live_1"}, real), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Whatever passes the guard stops at the taken NATS port.
			env := with(tc.env, map[string]string{
				"EMBEDDED_NATS_ADDR": taken.Addr().String(),
				"RUNTIME_BINARY":     runtimeBinary,
				"DATABASE_URL":       "postgres://nobody@127.0.0.1:1/none",
			})
			if v, ok := tc.env["EMBEDDED_NATS_ADDR"]; ok {
				env["EMBEDDED_NATS_ADDR"] = v
			}
			p, err := platform.Start(context.Background(), platform.Options{
				DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler),
				Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			})
			if err == nil || p != nil {
				t.Fatalf("Start = %v, %v; want an error and no platform", p, err)
			}
			msg := err.Error()
			if tc.refused == "" {
				if strings.Contains(msg, "dev secrets") {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !strings.Contains(msg, tc.refused) || !strings.Contains(msg, "dev secrets") {
				t.Fatalf("error %q, want it to say %q and why", msg, tc.refused)
			}
			if strings.Contains(msg, "already in use") || strings.Contains(msg, "embedded NATS on") {
				t.Errorf("the platform started something before refusing: %v", err)
			}
		})
	}
}

// with returns base with over's entries on top.
func with(over, base map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
