package chaos_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"clawdbot.cloud/cmd/clawctl/internal/chaos"
	"clawdbot.cloud/cmd/clawctl/internal/e2e"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// binDir holds nats-server, the services' and the runtime's binaries.
var binDir string

func TestMain(m *testing.M) {
	pkgs := []string{"github.com/nats-io/nats-server/v2", "clawdbot.cloud/services/runtime/cmd/runtime"}
	for _, s := range platform.Services {
		pkgs = append(pkgs, "clawdbot.cloud/services/"+s.Name+"/cmd/"+s.Name)
	}
	e2e.MainWithBinaries(m, &binDir, pkgs...)
}

// A small chaos run: ten customers through every lifecycle script while
// the leader of the event stream is killed and brought back, one replica
// of every service is killed (and restarted by the supervisor) and
// Postgres crashes and restarts. Every invariant must hold afterwards.
func TestChaos(t *testing.T) {
	dir := e2e.TraversableDir(t)
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	r, err := chaos.Run(context.Background(), chaos.Options{
		Dir: dir, BinDir: binDir, Customers: 10, Concurrency: 3,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.Print(&b)
	t.Log("\n" + b.String())
	if len(r.Faults) != 2+len(platform.Services) {
		t.Errorf("%d faults struck, want %d", len(r.Faults), 2+len(platform.Services))
	}
	for _, f := range r.Faults {
		if f.Err != "" {
			t.Errorf("fault %s on %s: %s", f.What, f.Target, f.Err)
		}
	}
	if !r.OK() {
		dumpLogs(t, dir)
		t.Fatal("invariants broken under chaos (report above)")
	}
}

func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if len(b) > 2500 {
			b = b[len(b)-2500:]
		}
		t.Logf("--- %s\n%s", filepath.Base(l), b)
	}
}
