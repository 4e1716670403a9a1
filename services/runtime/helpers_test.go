package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/testbuf"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/openaitest"
)

// instance is a runtime serving in-process on its own fresh database.
type instance struct {
	url  string
	pool *pgxpool.Pool   // the instance's database, for arranging test data
	logs *testbuf.Buffer // everything the instance logged
	// stop stops the instance and waits for it (also run at cleanup).
	stop func()
}

// setup is how a test instance is configured.
type setup struct {
	cfg  runtime.Config
	opts runtime.Options
	// serving, when set, is called with the instance's URL as soon as it
	// is started, before it is healthy.
	serving func(url string)
	// healthWait bounds the wait for /health (30 seconds; an OpenClaw
	// gateway needs longer).
	healthWait time.Duration
	// dbURL is the instance's database: a fresh one when empty.
	dbURL string
	// serve serves the instance (runtime.ServeWith when nil).
	serve func(ctx context.Context, cfg runtime.Config, ln net.Listener, log *slog.Logger, opts runtime.Options) error
}

// option changes the setup of a test instance.
type option func(*setup)

// withAnthropic points the instance at a fake Messages API.
func withAnthropic(srv *anthropictest.Server) option {
	return func(s *setup) {
		s.cfg.Env.AnthropicAPIKey, s.cfg.Env.AnthropicBaseURL = anthropictest.APIKey, srv.URL
	}
}

// withOpenAI points the instance at a fake OpenAI-compatible server.
func withOpenAI(srv *openaitest.Server, model string) option {
	return func(s *setup) {
		s.cfg.Env.OpenAIAPIKey, s.cfg.Env.OpenAIBaseURL = openaitest.APIKey, srv.URL
		s.cfg.Model = model
	}
}

func withConfig(f func(*runtime.Config)) option { return func(s *setup) { f(&s.cfg) } }

func withOptions(o runtime.Options) option { return func(s *setup) { s.opts = o } }

// withDatabase runs the instance on an existing database (another
// instance's, stopped: the same customer after a plan change).
func withDatabase(url string) option { return func(s *setup) { s.dbURL = url } }

// withWarmed serves the instance from w, a runtime started warm.
func withWarmed(w *runtime.Warmed) option {
	return func(s *setup) {
		s.serve = func(ctx context.Context, cfg runtime.Config, ln net.Listener, log *slog.Logger, opts runtime.Options) error {
			return runtime.ServeWarmed(ctx, w, cfg, ln, log, opts)
		}
	}
}

func startInstance(t testing.TB, customerID, plan string, opts ...option) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := setup{cfg: runtime.Config{
		CustomerID: customerID,
		Plan:       plan,
		ListenAddr: ln.Addr().String(),
		InstanceID: "test-instance",
		Version:    "v-test",
	}}
	for _, o := range opts {
		o(&s)
	}
	if s.dbURL == "" {
		s.dbURL = pgtest.NewDatabase(t)
	}
	s.cfg.DatabaseURL = s.dbURL
	pool, err := pgxpool.New(t.Context(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &testbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	if s.serve == nil {
		s.serve = runtime.ServeWith
	}
	go func() { done <- s.serve(ctx, s.cfg, ln, log, s.opts) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve returned %v after cancel, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Serve did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	in := &instance{url: "http://" + ln.Addr().String(), pool: pool, logs: logs, stop: stop}
	if s.serving != nil {
		s.serving(in.url)
	}
	waitHealthyWithin(t, in.url, done, s.healthWait)
	return in
}

// waitHealthyWithin polls /health until it answers 200, failing if the
// server exits or the deadline (0: 30 seconds) passes.
func waitHealthyWithin(t testing.TB, url string, exited <-chan error, within time.Duration) {
	t.Helper()
	if within <= 0 {
		within = 30 * time.Second
	}
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("server exited before becoming healthy: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/health not 200 within %s (last error %v)", url, within, err)
		}
	}
}

// addKey stores a fresh key in the instance's database and returns it.
func (in *instance) addKey(t testing.TB) string {
	t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := customerdb.AddAPIKey(t.Context(), in.pool, apikey.Hash(k), apikey.Prefix(k)); err != nil {
		t.Fatal(err)
	}
	return k
}

// get calls path with the key (none if empty) and decodes the JSON body.
func (in *instance) get(t testing.TB, path, key string, body any) *http.Response {
	t.Helper()
	resp, raw := in.do(t, http.MethodGet, path, key, nil)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type = %q", path, ct)
	}
	if err := json.Unmarshal(raw, body); err != nil {
		t.Fatalf("GET %s: decode body %q: %v", path, raw, err)
	}
	return resp
}

// do sends a request with the key (none if empty) and returns the response
// with its whole body read. A body that is a string or []byte is sent as
// is; anything else as JSON. JSON bodies get Content-Type application/json.
func (in *instance) do(t testing.TB, method, path, key string, body any, header ...string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, in.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	checkContract(t, req, resp.StatusCode, resp.Header, raw)
	return resp, raw
}

// call is do that decodes a JSON answer into out (when not nil) and fails
// unless the status is want.
func (in *instance) call(t testing.TB, method, path, key string, body any, want int, out any) *http.Response {
	t.Helper()
	resp, raw := in.do(t, method, path, key, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp
}

// putFiles writes workspace files into the instance's database.
func (in *instance) putFiles(t testing.TB, files ...customerdb.File) {
	t.Helper()
	if err := customerdb.PutFiles(t.Context(), in.pool, files...); err != nil {
		t.Fatal(err)
	}
}

// readFile returns a workspace file's content ("" if absent).
func (in *instance) readFile(t testing.TB, path string) string {
	t.Helper()
	files, err := customerdb.ReadFiles(t.Context(), in.pool, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		return ""
	}
	return files[0].Content
}

// jsonField returns a string field of a JSON object.
func jsonField(t testing.TB, data, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	s, _ := m[field].(string)
	return s
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
