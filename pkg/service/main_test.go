package service_test

import (
	"log/slog"
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
