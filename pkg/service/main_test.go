package service_test

import (
	"log/slog"
	"testing"

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
