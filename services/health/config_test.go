package health_test

import (
	"context"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/health"
)

// Bad settings are all reported at once, before anything starts, and never
// echo a secret.
func TestConfigProblems(t *testing.T) {
	p := servicetest.New(t)
	env := p.Env(t, "health", map[string]string{
		"HEALTH_PROBE_INTERVAL": "0s",
		"HEALTH_RESTART_AFTER":  "0",
		"SLACK_WEBHOOK_URL":     "ftp://hooks.slack.example/secret-path",
		"SMTP_ADDR":             "no-port",
		"ALERT_EMAIL_TO":        "not an address",
		"HEALTH_START_TIMEOUT":  "10s", // less than HEALTH_CHECK_TIMEOUT's 45s
	})
	err := health.Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run accepted bad settings")
	}
	for _, want := range []string{"HEALTH_PROBE_INTERVAL", "HEALTH_RESTART_AFTER", "SLACK_WEBHOOK_URL", "SMTP_ADDR", "SMTP_FROM", "ALERT_EMAIL_TO", "HEALTH_START_TIMEOUT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secret-path") {
		t.Errorf("error echoes the webhook URL: %v", err)
	}
}
