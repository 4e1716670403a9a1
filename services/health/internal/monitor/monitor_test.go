package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health/internal/probe"
	"clawdbot.cloud/services/health/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// published is one message the monitor published.
type published struct {
	subject string
	msg     proto.Message
	id      string
}

type recorder struct {
	mu   sync.Mutex
	msgs []published
}

func (r *recorder) Publish(_ context.Context, subject string, msg proto.Message, env bus.Envelope) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, published{subject, msg, env.MsgID})
	return false, nil
}

func (r *recorder) on(subject string) []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []published
	for _, m := range r.msgs {
		if m.subject == subject {
			out = append(out, m)
		}
	}
	return out
}

// clock is a controllable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// instance is a stand-in runtime: /health answers 200 or 503 as told, and
// /status reports usage to the right instance token only.
type instance struct {
	*httptest.Server
	healthy     atomic.Bool
	healthHits  atomic.Int64
	messages    atomic.Int64
	periodStart atomic.Value // time.Time
	token       string
}

func newInstance(t *testing.T, token string) *instance {
	t.Helper()
	in := &instance{token: token}
	in.healthy.Store(true)
	in.periodStart.Store(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			in.healthHits.Add(1)
			if !in.healthy.Load() {
				http.Error(w, `{"status":"db down"}`, http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, `{"status":"ok"}`)
		case "/status":
			if r.Header.Get("Authorization") != "Bearer "+in.token {
				http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
			start := in.periodStart.Load().(time.Time)
			json.NewEncoder(w).Encode(map[string]any{
				"plan":  "starter",
				"usage": map[string]any{"messages": in.messages.Load(), "period_start": start, "period_end": start.AddDate(0, 1, 0)},
				"quota": map[string]any{"monthly_messages": 100, "remaining": 0, "exceeded": false, "reset_at": start.AddDate(0, 1, 0)},
			})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(in.Close)
	return in
}

type secretMap map[string]string

func (s secretMap) Get(_ context.Context, ref string) ([]byte, error) {
	if v, ok := s[ref]; ok {
		return []byte(v), nil
	}
	return nil, errNotFound
}

var errNotFound = fmt.Errorf("not found")

type fixture struct {
	st      *store.Store
	pub     *recorder
	clock   *clock
	mon     *Monitor
	metrics *Metrics
	secrets secretMap
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, pub: &recorder{}, clock: &clock{now: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)},
		metrics: NewMetrics(), secrets: secretMap{}}
	prober := probe.New(time.Second)
	t.Cleanup(prober.Close)
	f.mon = New(Options{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: st, Prober: prober, Bus: f.pub,
		Usage: &UsageReader{Client: &http.Client{Timeout: time.Second}, Secrets: f.secrets,
			IsNotFound: func(err error) bool { return err == errNotFound }},
		Now: f.clock.Now, Concurrency: 2, Policy: Policy{DownAfter: 3, RecoverAfter: 2, RestartAfter: 3, MaxRestarts: 3},
		Metrics: f.metrics,
	})
	return f
}

// cycles runs n probe cycles, 30 s apart on the test clock.
func (f *fixture) cycles(t *testing.T, n int) {
	t.Helper()
	for range n {
		if err := f.mon.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(30 * time.Second)
	}
}

// An outage of many failed probes is one instance.unhealthy, restarts after
// every 3 failures up to the maximum, and one instance.recovered.
func TestOutage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := newInstance(t, "tok")
	other := newInstance(t, "tok2")
	must(t, f.st.ComputeUp(ctx, "cus_a", in.URL, 0))
	must(t, f.st.ComputeUp(ctx, "cus_b", other.URL, 0))

	f.cycles(t, 2)
	in.healthy.Store(false)
	f.cycles(t, 12)
	if got := testutil.ToFloat64(f.metrics.Instances.WithLabelValues(store.Down)); got != 1 {
		t.Errorf("instances down = %v, want 1", got)
	}
	in.healthy.Store(true)
	f.cycles(t, 4)

	down := f.pub.on(subjects.InstanceUnhealthy)
	rec := f.pub.on(subjects.InstanceRecovered)
	restarts := f.pub.on(subjects.CmdComputeRestart)
	if len(down) != 1 || len(rec) != 1 {
		t.Fatalf("unhealthy %d, recovered %d; want 1 and 1", len(down), len(rec))
	}
	u := down[0].msg.(*pb.InstanceUnhealthy)
	r := rec[0].msg.(*pb.InstanceRecovered)
	if u.GetCustomerId() != "cus_a" || u.GetIncidentId() != r.GetIncidentId() || u.GetConsecutiveFailures() != 3 {
		t.Errorf("unhealthy %v, recovered %v", u, r)
	}
	if r.GetDownForMs() != (13 * 30 * time.Second).Milliseconds() {
		t.Errorf("down_for_ms = %d", r.GetDownForMs())
	}
	if len(restarts) != 3 {
		t.Fatalf("restarts asked %d, want 3 (after 3, 6 and 9 failures; max 3)", len(restarts))
	}
	for i, m := range restarts {
		rc := m.msg.(*pb.RestartCompute)
		st := rc.GetStep()
		if st.GetCustomerId() != "cus_a" || st.GetName() != "restart" || int(st.GetAttempt()) != i+1 ||
			st.GetSagaId() != "health-"+u.GetIncidentId() {
			t.Errorf("restart %d step = %v", i, st)
		}
		if want := fmt.Sprintf("%s-%s-%d", subjects.CmdComputeRestart, u.GetIncidentId(), i+1); m.id != want {
			t.Errorf("restart msg id %q, want %q", m.id, want)
		}
	}
	if got := testutil.ToFloat64(f.metrics.Instances.WithLabelValues(store.Healthy)); got != 2 {
		t.Errorf("instances healthy = %v, want 2", got)
	}
	if n := other.healthHits.Load(); n != 18 {
		t.Errorf("healthy neighbour probed %d times, want 18", n)
	}
}

// Suspended, canceled, stopped and deleted instances are not probed.
func TestStopsProbing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := newInstance(t, "tok")
	t0 := f.clock.Now()
	must(t, f.st.ComputeUp(ctx, "cus_a", in.URL, 0))
	f.cycles(t, 1)
	steps := []struct {
		name  string
		do    func() error
		probe bool
	}{
		{"suspended", func() error { return f.st.StateChanged(ctx, "cus_a", "suspended", "", t0.Add(time.Minute)) }, false},
		{"older active replayed", func() error { return f.st.StateChanged(ctx, "cus_a", "active", "", t0) }, false},
		{"resumed", func() error { return f.st.StateChanged(ctx, "cus_a", "active", "", t0.Add(2*time.Minute)) }, true},
		{"stopped", func() error { return f.st.ComputeDown(ctx, "cus_a", 0) }, false},
		{"started", func() error { return f.st.ComputeUp(ctx, "cus_a", in.URL, 0) }, true},
		{"deleted", func() error { return f.st.ComputeDown(ctx, "cus_a", 10) }, false},
		{"older provisioned replayed", func() error { return f.st.ComputeUp(ctx, "cus_a", in.URL, 5) }, false},
		{"provisioned again", func() error { return f.st.ComputeUp(ctx, "cus_a", in.URL, 11) }, true},
		{"canceled", func() error { return f.st.StateChanged(ctx, "cus_a", "canceled", "", t0.Add(3*time.Minute)) }, false},
	}
	for _, s := range steps {
		must(t, s.do())
		before := in.healthHits.Load()
		f.cycles(t, 2)
		if probed := in.healthHits.Load() > before; probed != s.probe {
			t.Errorf("%s: probed = %v, want %v", s.name, probed, s.probe)
		}
	}
}

// The 80% and 100% quota notices go out once each per customer and month.
func TestQuotaNotices(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := newInstance(t, "secret-token-a")
	must(t, f.st.SignedUp(ctx, "cus_a", "a@example.com", "Ada", "starter"))
	must(t, f.st.ComputeUp(ctx, "cus_a", in.URL, 0))

	in.messages.Store(95)
	f.cycles(t, 1)
	if n := len(f.pub.on(subjects.CustomerNotice)); n != 0 {
		t.Fatalf("%d notices without an instance token", n)
	}
	f.secrets[names.InstanceTokenRef("cus_a")] = "secret-token-a"

	kinds := func() []string {
		var out []string
		for _, m := range f.pub.on(subjects.CustomerNotice) {
			out = append(out, m.msg.(*pb.CustomerNotice).GetKind()+"@"+m.msg.(*pb.CustomerNotice).GetNoticeId())
		}
		return out
	}
	in.messages.Store(79)
	f.cycles(t, 2)
	in.messages.Store(80)
	f.cycles(t, 3)
	in.messages.Store(99)
	f.cycles(t, 2)
	in.messages.Store(100)
	f.cycles(t, 3)
	want := []string{"quota_80@quota_80-cus_a-2026-11", "quota_100@quota_100-cus_a-2026-11"}
	if got := kinds(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notices %v, want %v", got, want)
	}
	n := f.pub.on(subjects.CustomerNotice)[0].msg.(*pb.CustomerNotice)
	if n.GetEmail() != "a@example.com" || n.GetName() != "Ada" || n.GetDetails()["monthly_messages"] != "100" {
		t.Errorf("notice = %v", n)
	}

	// A new month: usage starts again, and a jump straight past 100% sends
	// only the 100% notice.
	in.periodStart.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	in.messages.Store(3)
	f.cycles(t, 1)
	in.messages.Store(120)
	f.cycles(t, 3)
	want = append(want, "quota_100@quota_100-cus_a-2026-12")
	if got := kinds(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notices %v, want %v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Run cycles on each tick of its trigger and stops with its context.
func TestRunOnTicks(t *testing.T) {
	f := newFixture(t)
	in := newInstance(t, "tok")
	must(t, f.st.ComputeUp(context.Background(), "cus_a", in.URL, 0))
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.mon.Run(ctx, ticks) }()
	for range 3 {
		ticks <- f.clock.Now()
	}
	// The third tick was taken: the first two cycles are done.
	if n := in.healthHits.Load(); n < 2 {
		t.Fatalf("%d probes after two finished cycles", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := in.healthHits.Load(); n > 3 {
		t.Errorf("%d probes for 3 ticks", n)
	}
}
