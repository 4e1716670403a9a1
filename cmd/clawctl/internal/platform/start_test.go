package platform_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

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

// EMBEDDED_NATS_MONITOR_ADDR serves the embedded server's monitoring
// endpoint, where prometheus-nats-exporter reads the streams and consumers
// (-jsz=all); a value that is no address stops the start.
func TestEmbeddedNATSMonitoring(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	start(t, map[string]string{"EMBEDDED_NATS_MONITOR_ADDR": addr})
	// Every service's consumer appears there once it has started (neon's
	// last, after its template database).
	var body []byte
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/jsz?consumers=true")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"CLAW"`) &&
			strings.Contains(string(body), `"saga"`) && strings.Contains(string(body), `"neon"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/jsz = %d %.300s, want the CLAW stream and the services' consumers", resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	env := map[string]string{"EMBEDDED_NATS_MONITOR_ADDR": "nowhere", "RUNTIME_BINARY": runtimeBinary}
	_, err = platform.Start(context.Background(), platform.Options{
		DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler),
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err == nil || !strings.Contains(err.Error(), "EMBEDDED_NATS_MONITOR_ADDR") {
		t.Errorf("Start with a bad monitor address: %v", err)
	}
}
