package platform_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// A platform that cannot start says why and leaves nothing running.
func TestStartFailsCleanlyWhenTheBusPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := map[string]string{
		"EMBEDDED_NATS_ADDR": taken.Addr().String(),
		"RUNTIME_BINARY":     runtimeBinary,
		"DATABASE_URL":       "postgres://nobody@127.0.0.1:1/none",
	}
	p, err := platform.Start(context.Background(), platform.Options{
		DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler),
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err == nil || p != nil {
		t.Fatalf("Start = %v, %v; want an error and no platform", p, err)
	}
	if !strings.Contains(err.Error(), "EMBEDDED_NATS_ADDR") {
		t.Errorf("error %q does not say what to change", err)
	}
}
