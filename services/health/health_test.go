package health_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// instance is a stand-in runtime whose /health answers 503 until it has been
// asked failures times, then 200.
func instance(t *testing.T, failures int64) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if hits.Add(1) <= failures {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, hits
}

func TestReadyAfterStartingUp(t *testing.T) {
	f := newFixture(t, nil)
	url, hits := instance(t, 3)

	f.check("signup-up", url)
	ready := servicetest.WaitStep[pb.InstanceReady](t, f.events, subjects.InstanceReady, "signup-up", 1, waitFor)

	if ready.GetInstanceUrl() != url {
		t.Errorf("instance_url = %q, want %q", ready.GetInstanceUrl(), url)
	}
	if ready.GetStep().GetName() != "instance" || ready.GetStep().GetAttempt() != 1 {
		t.Errorf("step not echoed: %v", ready.GetStep())
	}
	if ready.GetLatencyMs() < 0 || ready.GetLatencyMs() > 2000 {
		t.Errorf("latency_ms = %d", ready.GetLatencyMs())
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("instance probed %d times, want 4 (3 unhealthy, then ready)", n)
	}
	if n := len(servicetest.Steps[pb.StepFailed](t, f.events, subjects.InstanceFailed, "signup-up")); n != 0 {
		t.Errorf("%d instance.failed for a healthy instance", n)
	}
	if got := servicetest.Counter(t, f.svc.Metrics, "claw_step_commands_total", checkResult("ok")); got != 1 {
		t.Errorf("checks ready = %v, want 1", got)
	}
}

func TestNotReadyInTime(t *testing.T) {
	f := newFixture(t, map[string]string{"HEALTH_CHECK_TIMEOUT": "400ms", "HEALTH_PROBE_TIMEOUT": "100ms"})

	down, _ := instance(t, 1<<40)
	hanging := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hanging.Close)
	redirecting := httptest.NewServer(http.RedirectHandler("https://example.com/", http.StatusFound))
	t.Cleanup(redirecting.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there any more

	tests := []struct {
		name, url, wantReason string
	}{
		{"unhealthy", down, "HTTP 503"},
		{"hanging", hanging.URL, "error:"},
		{"redirecting", redirecting.URL, "HTTP 302"},
		{"unreachable", gone.URL, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saga := "signup-" + tt.name
			f.check(saga, tt.url)
			failed := servicetest.WaitStep[pb.StepFailed](t, f.events, subjects.InstanceFailed, saga, 1, waitFor)
			if !strings.Contains(failed.GetReason(), tt.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", failed.GetReason(), tt.wantReason)
			}
			if failed.GetStep().GetSagaId() != saga {
				t.Errorf("step not echoed: %v", failed.GetStep())
			}
			servicetest.Eventually(t, waitFor, "the command dead-lettered", func() bool { return len(f.events.DeadLettersOf(saga)) == 1 })
			if n := len(servicetest.Steps[pb.InstanceReady](t, f.events, subjects.InstanceReady, saga)); n != 0 {
				t.Errorf("%d instance.ready for an instance that never became healthy", n)
			}
		})
	}
	if got := servicetest.Counter(t, f.svc.Metrics, "claw_step_commands_total", checkResult("failed")); got != float64(len(tests)) {
		t.Errorf("checks failed = %v, want %d", got, len(tests))
	}
}

func TestInvalidInstanceURL(t *testing.T) {
	f := newFixture(t, nil)
	for i, url := range []string{"", "not a url", "/health", "ftp://instance.example", "http://user:secret@instance.example", "http://"} {
		saga := "signup-invalid-" + string(rune('a'+i))
		t.Run(url, func(t *testing.T) {
			f.check(saga, url)
			failed := servicetest.WaitStep[pb.StepFailed](t, f.events, subjects.InstanceFailed, saga, 1, waitFor)
			if !strings.Contains(failed.GetReason(), "invalid instance URL") {
				t.Errorf("reason = %q", failed.GetReason())
			}
			if strings.Contains(failed.GetReason(), "secret") {
				t.Errorf("reason repeats the URL's password: %q", failed.GetReason())
			}
			servicetest.Eventually(t, waitFor, "the command dead-lettered", func() bool { return len(f.events.DeadLettersOf(saga)) == 1 })
		})
	}
	if got := servicetest.Counter(t, f.svc.Metrics, "claw_step_commands_total", checkResult("failed")); got != 6 {
		t.Errorf("checks invalid = %v, want 6", got)
	}
}

// startingInstance is a stand-in runtime on the openclaw engine: /health
// answers 503 {"status":"starting"} until ready is closed, then 200. first
// is when it was first probed.
type startingInstance struct {
	*httptest.Server
	ready chan struct{}
	first atomic.Int64
}

func newStartingInstance(t *testing.T) *startingInstance {
	t.Helper()
	in := &startingInstance{ready: make(chan struct{})}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.first.CompareAndSwap(0, time.Now().UnixNano())
		select {
		case <-in.ready:
			w.Write([]byte(`{"status":"ok"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"starting","error":"engine not ready"}`))
		}
	}))
	t.Cleanup(in.Close)
	return in
}

// probedFor reports whether the instance has been probed for at least d.
func (in *startingInstance) probedFor(d time.Duration) bool {
	first := in.first.Load()
	return first != 0 && time.Since(time.Unix(0, first)) >= d
}

// TestStartingEngineGetsTheStartBudget: an instance whose front door says
// its engine is starting (an OpenClaw gateway) is waited for past
// HEALTH_CHECK_TIMEOUT, up to HEALTH_START_TIMEOUT; one that stops
// answering is given up on HEALTH_CHECK_TIMEOUT after its last answer.
// (An instance that never says it is starting fails at HEALTH_CHECK_TIMEOUT
// as before: TestNotReadyInTime, whose start budget is the default 5m.)
func TestStartingEngineGetsTheStartBudget(t *testing.T) {
	f := newFixture(t, map[string]string{"HEALTH_CHECK_TIMEOUT": "400ms", "HEALTH_START_TIMEOUT": "30s", "HEALTH_PROBE_TIMEOUT": "200ms"})

	t.Run("ready after the check timeout", func(t *testing.T) {
		in := newStartingInstance(t)
		f.check("signup-slowengine", in.URL)
		// The gateway takes three times HEALTH_CHECK_TIMEOUT.
		servicetest.Eventually(t, waitFor, "probed for 1.2s", func() bool { return in.probedFor(1200 * time.Millisecond) })
		if n := len(servicetest.Steps[pb.StepFailed](t, f.events, subjects.InstanceFailed, "signup-slowengine")); n != 0 {
			t.Fatalf("instance.failed while the engine was starting")
		}
		close(in.ready)
		servicetest.WaitStep[pb.InstanceReady](t, f.events, subjects.InstanceReady, "signup-slowengine", 1, waitFor)
	})
	t.Run("dies while starting", func(t *testing.T) {
		in := newStartingInstance(t)
		f.check("signup-diedstarting", in.URL)
		servicetest.Eventually(t, waitFor, "probed for 800ms", func() bool { return in.probedFor(800 * time.Millisecond) })
		in.CloseClientConnections()
		in.Close() // nothing answers any more
		died := time.Now()
		failed := servicetest.WaitStep[pb.StepFailed](t, f.events, subjects.InstanceFailed, "signup-diedstarting", 1, waitFor)
		if waited := time.Since(died); waited > 10*time.Second {
			t.Errorf("failed %s after the instance died, want about HEALTH_CHECK_TIMEOUT (400ms), not the start budget", waited)
		}
		if !strings.Contains(failed.GetReason(), "engine was starting") {
			t.Errorf("reason = %q, want it to say the engine was starting", failed.GetReason())
		}
	})
}
