package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/e2e"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/proto/subjects"
)

var runtimeBinary string

func TestMain(m *testing.M) { e2e.Main(m, &runtimeBinary) }

// harness is one platform under test with the handles tests inspect it by.
type harness struct {
	running *platform.Platform // nil while stopped
	dir     string
	dbURL   string
	vars    map[string]string
	tracer  trace.TracerProvider // nil: tracing as the environment says
	// Addresses stay the same across restarts so URLs stay valid.
	IngressURL, NATSURL, WebhookSecret, WebURL string
	// operator connects to the bus as the operator (the platform's bus
	// requires credentials).
	operator []bus.Option
}

func start(t *testing.T, vars map[string]string) *harness {
	t.Helper()
	h := &harness{dir: e2e.TraversableDir(t), dbURL: pgtest.NewDatabase(t), vars: vars}
	h.up(t)
	t.Cleanup(func() { h.down(t) })
	return h
}

// up starts (or restarts) the platform on the harness's data and database.
func (h *harness) up(t *testing.T) {
	t.Helper()
	env, err := bench.IsolatedEnv(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	over := map[string]string{"DATABASE_URL": h.dbURL, "RUNTIME_BINARY": runtimeBinary}
	for k, v := range h.vars {
		over[k] = v
	}
	if h.NATSURL != "" {
		over["EMBEDDED_NATS_ADDR"] = strings.TrimPrefix(h.NATSURL, "nats://")
		over["INGRESS_ADDR"] = strings.TrimPrefix(h.IngressURL, "http://")
		over["WEB_ADDR"] = strings.TrimPrefix(h.WebURL, "http://")
	}
	lookup := func(k string) (string, bool) {
		if v, ok := over[k]; ok {
			return v, true
		}
		return env(k)
	}
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	p, err := platform.Start(context.Background(), platform.Options{
		DataDir: h.dir, Env: lookup, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Tracer: h.tracer,
	})
	if err != nil {
		t.Fatalf("start platform: %v", err)
	}
	h.running = p
	h.IngressURL, h.NATSURL, h.WebhookSecret, h.WebURL = p.IngressURL, p.NATSURL, p.WebhookSecret, p.WebURL
	h.operator = p.BusOptions(busauth.Operator)
}

// down stops the platform if it runs.
func (h *harness) down(t *testing.T) {
	t.Helper()
	if h.running == nil {
		return
	}
	if err := h.running.Stop(); err != nil {
		t.Errorf("stop platform: %v", err)
	}
	h.running = nil
}

func (h *harness) signup(t *testing.T, plan string) *signup.Result {
	t.Helper()
	res, err := signup.Run(context.Background(), signup.Options{
		IngressURL: h.IngressURL, Secret: h.WebhookSecret, Timeout: 90 * time.Second,
		Checkout: stripefixture.Checkout{Email: "ada@example.com", Name: "Ada Lovelace", Plan: plan},
	})
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	return res
}

// call makes a request to an instance and returns the status code and body.
func call(t *testing.T, url, key string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

// events returns the payloads stored on subject for a saga.
func (h *harness) events(t *testing.T, subject, sagaID string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range h.messages(t, subject) {
		if m.Headers().Get(bus.HeaderSagaID) == sagaID {
			out = append(out, m.Data())
		}
	}
	return out
}

// messages returns every message stored in the event stream on the
// subjects (all of them when none is given), read as the operator.
func (h *harness) messages(t *testing.T, subjectFilter ...string) []jetstream.Msg {
	t.Helper()
	b, err := bus.Connect(context.Background(), h.NATSURL, "e2e-reader", slog.New(slog.DiscardHandler), nil, h.operator...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := b.JetStream().OrderedConsumer(ctx, subjects.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: subjectFilter})
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

// runtimeProcesses counts live processes of the runtime binary.
func runtimeProcesses(t *testing.T) int {
	t.Helper()
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

func (h *harness) adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func exists(t *testing.T, c *pgx.Conn, query, arg string) bool {
	t.Helper()
	var ok bool
	if err := c.QueryRow(context.Background(), "SELECT EXISTS ("+query+")", arg).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
