package natscli_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/e2e"
	"clawdbot.cloud/cmd/clawctl/internal/natscli"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/pgtest"
)

var runtimeBinary string

func TestMain(m *testing.M) { e2e.Main(m, &runtimeBinary) }

// env is a running platform, the NATS CLI pointed at it and a reader.
type env struct {
	p     *platform.Platform
	cli   natscli.CLI
	js    jetstream.JetStream
	dbURL string
}

func start(t *testing.T, vars map[string]string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := natscli.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := e2e.TraversableDir(t)
	base, err := bench.IsolatedEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dbURL: pgtest.NewDatabase(t)}
	over := map[string]string{"DATABASE_URL": e.dbURL, "RUNTIME_BINARY": runtimeBinary}
	for k, v := range vars {
		over[k] = v
	}
	level := slog.LevelError
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	p, err := platform.Start(context.Background(), platform.Options{
		DataDir: dir, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Env: func(k string) (string, bool) {
			if v, ok := over[k]; ok {
				return v, true
			}
			return base(k)
		},
	})
	if err != nil {
		t.Fatalf("start platform: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop platform: %v", err)
		}
	})
	// The operator's credentials, as the runbooks use them.
	e.p, e.cli = p, natscli.CLI{Bin: bin, Server: p.NATSURL, User: busauth.Operator, Password: p.NATSPassword(busauth.Operator)}
	b, err := bus.Connect(context.Background(), p.NATSURL, "natscli-test", slog.New(slog.DiscardHandler), nil, p.BusOptions(busauth.Operator)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	e.js = b.JetStream()
	return e
}

func (e *env) conn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored returns every message of the CLAW stream (subject and headers).
func (e *env) stored(t *testing.T, stream string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for range info.NumPending {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// quiet waits until every durable consumer of stream has handled everything.
func (e *env) quiet(t *testing.T, stream string) {
	t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var behind string
	deadline := time.Now().Add(30 * time.Second)
	for {
		behind = ""
		infos := s.ListConsumers(ctx)
		for info := range infos.Info() {
			// Only the services' durable consumers; readers are ephemeral.
			if info.Config.Durable != "" && (info.NumPending > 0 || info.NumAckPending > 0) {
				behind += fmt.Sprintf(" %s(pending %d, ack pending %d)", info.Name, info.NumPending, info.NumAckPending)
			}
		}
		if infos.Err() == nil && behind == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumers did not catch up:%s %v", behind, infos.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runtimeProcesses counts live processes of the runtime binary.
func runtimeProcesses() int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && exe == runtimeBinary {
			n++
		}
	}
	return n
}
