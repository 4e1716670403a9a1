package service_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/service"
)

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "WARN": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := service.ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := service.ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) accepted")
	}
}

func TestStreamOptions(t *testing.T) {
	env := func(kv map[string]string) *config.Loader {
		return config.New(func(k string) (string, bool) { v, ok := kv[k]; return v, ok })
	}
	cfg := env(nil)
	o := service.StreamOptions(cfg, 3)
	if cfg.Err() != nil || o.Replicas != 3 || o.EventsMaxAge != bus.DefaultEventsMaxAge || o.EventsMaxBytes != bus.DefaultEventsMaxBytes ||
		o.DeadMaxAge != bus.DefaultDeadMaxAge || o.DeadMaxBytes != bus.DefaultDeadMaxBytes {
		t.Errorf("defaults: %+v, %v", o, cfg.Err())
	}
	cfg = env(map[string]string{"NATS_EVENTS_MAX_AGE": "720h", "NATS_EVENTS_MAX_MB": "512", "NATS_DEADLETTERS_MAX_AGE": "24h", "NATS_DEADLETTERS_MAX_MB": "64"})
	o = service.StreamOptions(cfg, 1)
	if cfg.Err() != nil || o.EventsMaxAge != 720*time.Hour || o.EventsMaxBytes != 512<<20 || o.DeadMaxAge != 24*time.Hour || o.DeadMaxBytes != 64<<20 {
		t.Errorf("set: %+v, %v", o, cfg.Err())
	}
	for _, bad := range []map[string]string{{"NATS_EVENTS_MAX_AGE": "10m"}, {"NATS_EVENTS_MAX_MB": "0"}, {"NATS_DEADLETTERS_MAX_MB": "-1"}, {"NATS_DEADLETTERS_MAX_AGE": "a week"}} {
		cfg := env(bad)
		service.StreamOptions(cfg, 1)
		if cfg.Err() == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestNATSAuth(t *testing.T) {
	file := filepath.Join(t.TempDir(), "saga.password")
	if err := os.WriteFile(file, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name               string
		vars               map[string]string
		user, password, ca string
		problem            string
	}{
		{name: "none", vars: nil},
		{name: "password", vars: map[string]string{"NATS_USER": "saga", "NATS_PASSWORD": "pw"}, user: "saga", password: "pw"},
		{name: "password file", vars: map[string]string{"NATS_USER": "saga", "NATS_PASSWORD_FILE": file, "NATS_CA": file}, user: "saga", password: "from-the-file", ca: file},
		{name: "both", vars: map[string]string{"NATS_USER": "saga", "NATS_PASSWORD": "pw", "NATS_PASSWORD_FILE": file}, user: "saga", password: "pw", problem: "set one"},
		{name: "missing file", vars: map[string]string{"NATS_USER": "saga", "NATS_PASSWORD_FILE": file + ".gone"}, user: "saga", problem: "NATS_PASSWORD_FILE"},
		{name: "user without password", vars: map[string]string{"NATS_USER": "saga"}, user: "saga", problem: "needs NATS_PASSWORD"},
		{name: "password without user", vars: map[string]string{"NATS_PASSWORD": "pw"}, password: "pw", problem: "without NATS_USER"},
		{name: "missing CA", vars: map[string]string{"NATS_CA": "/nonexistent/ca.pem"}, ca: "/nonexistent/ca.pem", problem: "NATS_CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.FromMap(tc.vars)
			user, password, ca := service.NATSAuth(cfg)
			if user != tc.user || password != tc.password || ca != tc.ca {
				t.Errorf("got %q %q %q, want %q %q %q", user, password, ca, tc.user, tc.password, tc.ca)
			}
			err := cfg.Err()
			if (tc.problem == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("err = %v, want %q", err, tc.problem)
			}
			if err != nil && tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
}
