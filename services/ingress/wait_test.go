package ingress_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/ingress/internal/changes"
)

// conditionalRequest is a read of cs's provisioning with If-None-Match:
// etag and, when prefer is set, Prefer: prefer.
func (h *harness) conditionalRequest(t *testing.T, cs, etag, prefer string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+"/v1/provisioning/"+cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", etag)
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	return req
}

// answer is what a conditional read got; err is set when it got nothing.
type answer struct {
	code   int
	header http.Header
	raw    []byte
	took   time.Duration
	err    error
}

// send makes the request; it only reports (it may run off the test's
// goroutine).
func send(req *http.Request) answer {
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return answer{code: res.StatusCode, header: res.Header, raw: raw, took: time.Since(start), err: err}
}

// check checks a against the API's contract and decodes it.
func (a answer) check(t *testing.T, req *http.Request) response {
	t.Helper()
	if a.err != nil {
		t.Fatalf("GET %s: %v", req.URL.Path, a.err)
	}
	checkContract(t, req, a.code, a.header, a.raw)
	r := response{Code: a.code, Header: a.header}
	if a.code == http.StatusNotModified {
		if len(a.raw) != 0 {
			t.Fatalf("304 with a body: %q", a.raw)
		}
		return r
	}
	if err := json.Unmarshal(a.raw, &r.Body); err != nil {
		t.Fatalf("%d with a body that is not a JSON object: %q", a.code, a.raw)
	}
	return r
}

// conditional reads the provisioning of cs with If-None-Match: etag and,
// when prefer is set, Prefer: prefer.
func (h *harness) conditional(t *testing.T, cs, etag, prefer string) response {
	t.Helper()
	req := h.conditionalRequest(t, cs, etag, prefer)
	return send(req).check(t, req)
}

// TestProvisioningWaitsForAChange: a read that sends the ETag it has and
// Prefer: wait is answered when the progress changes, with 304 when the
// wait runs out, and at once without a wait or with a stale ETag.
func TestProvisioningWaitsForAChange(t *testing.T) {
	h := start(t)
	const cs = "cs_test_wait00001"
	saga := names.SignupSagaID(cs)
	if res := h.deliver(t, checkout{EventID: "evt_wait", SessionID: cs, Customer: "cus_W1", Plan: "starter"}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d %v", res.Code, res.Body)
	}
	first := h.get(t, "/v1/provisioning/"+cs)
	etag := first.Header.Get("ETag")
	if first.Code != 200 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
		t.Fatalf("first read: %d, ETag %q", first.Code, etag)
	}
	if again := h.get(t, "/v1/provisioning/"+cs); again.Header.Get("ETag") != etag {
		t.Fatalf("the same progress read twice has ETags %q and %q", etag, again.Header.Get("ETag"))
	}

	// Conditional without a wait, and a malformed wait: 304 at once.
	for _, prefer := range []string{"", "wait=soon", "wait=-3"} {
		if r := h.conditional(t, cs, etag, prefer); r.Code != http.StatusNotModified || r.Header.Get("ETag") != etag {
			t.Fatalf("Prefer %q: %d, ETag %q", prefer, r.Code, r.Header.Get("ETag"))
		}
	}
	// A stale ETag is answered at once with the progress.
	if r := h.conditional(t, cs, `"stale"`, "wait=20"); r.Code != 200 || r.Body["status"] != "provisioning" {
		t.Fatalf("stale ETag: %d %v", r.Code, r.Body)
	}

	// Nothing changes: 304 once the wait is over. The read is counted, but
	// its duration (the wait) stays out of the route's latency histogram.
	route := map[string]string{"route": "GET /v1/provisioning/{checkout_session_id}"}
	observed := servicetest.HistogramCount(t, h.env.Metrics, "claw_ingress_http_request_duration_seconds", route)
	requests := servicetest.Counter(t, h.env.Metrics, "claw_ingress_http_requests_total", route)
	if r := h.conditional(t, cs, etag, "respond-async, wait=1"); r.Code != http.StatusNotModified {
		t.Fatalf("unchanged: %d %v", r.Code, r.Body)
	}
	if got := servicetest.Counter(t, h.env.Metrics, "claw_ingress_http_requests_total", route); got != requests+1 {
		t.Errorf("requests counted %v, want %v", got, requests+1)
	}
	if got := servicetest.HistogramCount(t, h.env.Metrics, "claw_ingress_http_request_duration_seconds", route); got != observed {
		t.Errorf("a waiting read's duration was observed: %v samples, was %v", got, observed)
	}

	// A step while the read waits: answered with it, well before the wait's end.
	waiting := h.conditionalRequest(t, cs, etag, "wait=25")
	done := make(chan answer, 1)
	go func() { done <- send(waiting) }()
	servicetest.Eventually(t, 10*time.Second, "the read to be waiting", func() bool {
		return servicetest.Gauge(t, h.env.Metrics, "claw_ingress_provisioning_waiting", nil) == 1
	})
	sb := h.sagaBus(t)
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: &pb.Step{SagaId: saga, CustomerId: "cus_W1", Name: "database", Attempt: 1}})
	select {
	case a := <-done:
		r := a.check(t, waiting)
		if r.Code != 200 || strings.Join(steps(r.Body), ",") != "database:started" || r.Header.Get("ETag") == etag {
			t.Fatalf("after a step: %d %v ETag %q", r.Code, r.Body, r.Header.Get("ETag"))
		}
		if a.took >= 25*time.Second {
			t.Fatalf("answered after %v: the wait ran out", a.took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting read was never answered")
	}
	if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_provisioning_waits_total", map[string]string{"outcome": "changed"}); n != 1 {
		t.Errorf("waits changed = %v, want 1", n)
	}
}

// otherProcess starts a changes.Feed of its own on a bus connection of its
// own (as another ingress process would) until ctx ends, and returns it
// once it receives the ingress's notices.
func (h *harness) otherProcess(ctx context.Context, t *testing.T) *changes.Feed {
	t.Helper()
	other := changes.New(h.p.Env(t, "ingress", nil).Bus.Conn(), slog.New(slog.DiscardHandler))
	go other.Run(ctx)
	probe := changes.New(h.env.Bus.Conn(), slog.New(slog.DiscardHandler))
	servicetest.Eventually(t, 10*time.Second, "another process to receive notices", func() bool {
		// A notice for the probe and for no other saga since a fresh mark:
		// Run wakes everyone once it has subscribed, which proves nothing.
		m := other.Mark()
		probe.Notify("signup-probe")
		time.Sleep(10 * time.Millisecond)
		return other.ChangedSince("signup-probe", m) && !other.ChangedSince("signup-nobody", m)
	})
	return other
}

// TestChangesNotifyEveryProcess: progress recorded by the projector wakes
// a subscriber of another ingress process, through the bus alone.
func TestChangesNotifyEveryProcess(t *testing.T) {
	h := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other := h.otherProcess(ctx, t)
	const cs = "cs_test_notify0001"
	saga := names.SignupSagaID(cs)
	changed, stop := other.Subscribe(saga)
	defer stop()
	_, quiet := other.Subscribe(names.SignupSagaID("cs_test_someone_else"))
	defer quiet()
	if other.Waiting() != 2 {
		t.Fatalf("waiting = %d, want 2", other.Waiting())
	}
	if res := h.deliver(t, checkout{EventID: "evt_notify", SessionID: cs, Customer: "cus_N1", Plan: "starter"}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d %v", res.Code, res.Body)
	}
	h.sagaBus(t).publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: &pb.Step{SagaId: saga, CustomerId: "cus_N1", Name: "database", Attempt: 1}})
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no notice for the saga's progress")
	}
	stop()
	quiet()
	if other.Waiting() != 0 {
		t.Fatalf("waiting after stop = %d", other.Waiting())
	}
}

// TestWaitAfterAnAnswerSkipsItsRead: a client back with the ETag this
// process just answered for a signup in progress waits without a read
// first, and still misses no change: one made while it waits answers it,
// and one made between the answer and its next request answers that
// request at once.
func TestWaitAfterAnAnswerSkipsItsRead(t *testing.T) {
	h := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const cs = "cs_test_skip00001"
	saga := names.SignupSagaID(cs)
	// A process of its own tells the test when a step was notified.
	changed, stop := h.otherProcess(ctx, t).Subscribe(saga)
	defer stop()
	if res := h.deliver(t, checkout{EventID: "evt_skip", SessionID: cs, Customer: "cus_S1", Plan: "starter"}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d %v", res.Code, res.Body)
	}
	skipped := func() float64 {
		return servicetest.Counter(t, h.env.Metrics, "claw_ingress_provisioning_reads_skipped_total", nil)
	}
	first := h.get(t, "/v1/provisioning/"+cs)
	etag := first.Header.Get("ETag")
	if first.Code != 200 || etag == "" {
		t.Fatalf("first read: %d, ETag %q", first.Code, etag)
	}

	// Right behind its answer, a read waits without reading; a step while
	// it waits answers it.
	sb := h.sagaBus(t)
	waiting := h.conditionalRequest(t, cs, etag, "wait=25")
	done := make(chan answer, 1)
	go func() { done <- send(waiting) }()
	// Counted before it waits (the gauge goes up before the check).
	servicetest.Eventually(t, 10*time.Second, "the read to wait without reading", func() bool {
		return skipped() == 1
	})
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: &pb.Step{SagaId: saga, CustomerId: "cus_S1", Name: "database", Attempt: 1}})
	var second response
	select {
	case a := <-done:
		second = a.check(t, waiting)
		if second.Code != 200 || strings.Join(steps(second.Body), ",") != "database:started" || a.took >= 25*time.Second {
			t.Fatalf("after a step: %d %v after %v", second.Code, second.Body, a.took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting read was never answered")
	}
	select { // the database step's notification
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no notification for the database step")
	}

	// A step between that answer and the next request: answered at once
	// (read at once when this process has had the notification, else
	// skipped and woken by it a moment later).
	sb.publish(subjects.SagaStepStarted, &pb.SagaStepStarted{Step: &pb.Step{SagaId: saga, CustomerId: "cus_S1", Name: "workspace", Attempt: 1}})
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no notification for the step")
	}
	req := h.conditionalRequest(t, cs, second.Header.Get("ETag"), "wait=25")
	a := send(req)
	third := a.check(t, req)
	if third.Code != 200 || strings.Join(steps(third.Body), ",") != "database:started,workspace:started" || a.took >= 25*time.Second {
		t.Fatalf("a step before the request: %d %v after %v", third.Code, third.Body, a.took)
	}

	// Nothing since: the next wait skips its read and ends 304, with the
	// ETag it was sent.
	etag = third.Header.Get("ETag")
	before := skipped()
	if r := h.conditional(t, cs, etag, "wait=1"); r.Code != http.StatusNotModified || r.Header.Get("ETag") != etag {
		t.Fatalf("unchanged: %d, ETag %q", r.Code, r.Header.Get("ETag"))
	}
	if n := skipped(); n != before+1 {
		t.Fatalf("reads skipped = %v after an unchanged wait, want %v", n, before+1)
	}
}
