package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health"
	"clawdbot.cloud/services/health/internal/slacktest"
	"clawdbot.cloud/services/health/internal/smtptest"
)

// live is a stand-in runtime for monitoring: /health answers as told and
// counts probes; /status reports messages against a quota of 100 to the
// instance token only.
type live struct {
	url, token string
	healthy    atomic.Bool
	probes     atomic.Int64
	messages   atomic.Int64
	// tgBrokenAt, when not 0, is when the instance's Telegram bot broke
	// (Unix seconds), reported in /status.
	tgBrokenAt atomic.Int64
	// withActivity makes /health and /status carry an activity token, as
	// the runtime does; work moves it; reads counts /status answers.
	withActivity bool
	work         atomic.Int64
	reads        atomic.Int64
	// statusFails makes /status answer 500 (counted in reads).
	statusFails atomic.Bool
}

// activity is the instance's activity token.
func (l *live) activity() string { return fmt.Sprintf("a1b2c3.%d", l.work.Load()) }

func newLive(t *testing.T, token string, opts ...func(*live)) *live {
	t.Helper()
	l := &live{token: token}
	for _, o := range opts {
		o(l)
	}
	l.healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			l.probes.Add(1)
			if !l.healthy.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			if l.withActivity {
				json.NewEncoder(w).Encode(map[string]string{"status": "ok", "activity": l.activity()})
				return
			}
			io.WriteString(w, `{"status":"ok"}`)
		case "/status":
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			if l.statusFails.Load() {
				l.reads.Add(1)
				http.Error(w, "usage unavailable, try again", http.StatusServiceUnavailable)
				return
			}
			start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			body := map[string]any{
				"plan":  "starter",
				"usage": map[string]any{"messages": l.messages.Load(), "period_start": start},
				"quota": map[string]any{"monthly_messages": 100, "reset_at": start.AddDate(0, 1, 0)},
			}
			if l.withActivity {
				body["activity"] = l.activity()
			}
			l.reads.Add(1)
			if at := l.tgBrokenAt.Load(); at != 0 {
				body["channels"] = map[string]any{"telegram": map[string]any{"broken": true, "bot_username": "ada_bot",
					"broken_reason": "Telegram refused the bot token (401 Unauthorized)", "broken_at": time.Unix(at, 0).UTC()}}
			}
			json.NewEncoder(w).Encode(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL
	return l
}

// waitProbes waits for n more probes of l: n cycles went by.
func (l *live) waitProbes(t *testing.T, n int64) {
	t.Helper()
	target := l.probes.Load() + n
	servicetest.Eventually(t, waitFor, "probes", func() bool { return l.probes.Load() >= target })
}

type monitorFixture struct {
	svc, other *service.Env
	slack      *slacktest.Receiver
	smtp       *smtptest.Server
	events     *servicetest.Recorder
}

func newMonitorFixture(t *testing.T, extra ...map[string]string) *monitorFixture {
	t.Helper()
	p := servicetest.New(t)
	f := &monitorFixture{slack: slacktest.Start(t), smtp: smtptest.Start(t)}
	env := map[string]string{
		"HEALTH_PROBE_INTERVAL": "20ms",
		"HEALTH_PROBE_JITTER":   "5ms",
		"HEALTH_PROBE_TIMEOUT":  "1s",
		"HEALTH_RESTART_AFTER":  "4",
		"SLACK_WEBHOOK_URL":     f.slack.URL,
		"SMTP_ADDR":             f.smtp.Addr,
		"SMTP_FROM":             "alerts@clawdbot.test",
		"ALERT_EMAIL_TO":        "ops@clawdbot.test",
	}
	for _, e := range extra {
		maps.Copy(env, e)
	}
	f.svc = p.Env(t, "health", env)
	f.other = p.Env(t, "saga", nil)
	f.events = servicetest.Record(t, f.other.Bus.JetStream())
	servicetest.Start(t, f.svc, health.Run)
	return f
}

func (f *monitorFixture) publish(t *testing.T, subject, id string, msg proto.Message) {
	t.Helper()
	if _, err := f.other.Bus.Publish(context.Background(), subject, msg, bus.Envelope{MsgID: id}); err != nil {
		t.Fatal(err)
	}
}

// mailsTo returns the mails to addr.
// liveCustomer stores customer's instance token and publishes its signup
// (email, starter) and its instance at in, as the saga would.
func (f *monitorFixture) liveCustomer(t *testing.T, customer, email string, in *live) {
	t.Helper()
	if err := f.other.Secrets.Put(context.Background(), names.InstanceTokenRef(customer), []byte(in.token)); err != nil {
		t.Fatal(err)
	}
	saga := "signup-cs_" + customer
	f.publish(t, subjects.CustomerSignedUp, "evt_"+customer, &pb.CustomerSignedUp{CustomerId: customer, Email: email,
		Name: "Ada", Plan: "starter", SagaId: saga})
	f.publish(t, subjects.ComputeProvisioned, "prov-"+customer, &pb.ComputeProvisioned{
		Step: &pb.Step{SagaId: saga, CustomerId: customer, Name: "compute", Attempt: 1}, InstanceUrl: in.url})
}

func (f *monitorFixture) mailsTo(addr string) []smtptest.Message {
	var out []smtptest.Message
	for _, m := range f.smtp.Messages() {
		if len(m.To) > 0 && m.To[0] == addr {
			out = append(out, m)
		}
	}
	return out
}

// The whole monitoring side through the bus: an instance learnt from
// events is probed; an outage of many failed probes is one alert per
// channel, restart requests and one recovery; quota and customer notices go
// out once; a suspended customer is no longer probed.
func TestMonitoring(t *testing.T) {
	f := newMonitorFixture(t)
	in := newLive(t, "tok-a")
	ctx := context.Background()
	if err := f.other.Secrets.Put(ctx, names.InstanceTokenRef("cus_a"), []byte("tok-a")); err != nil {
		t.Fatal(err)
	}
	f.publish(t, subjects.CustomerSignedUp, "evt_1", &pb.CustomerSignedUp{CustomerId: "cus_a", Email: "ada@example.com",
		Name: "Ada", Plan: "starter", SagaId: "signup-cs_1"})
	f.publish(t, subjects.ComputeProvisioned, "prov-1", &pb.ComputeProvisioned{
		Step: &pb.Step{SagaId: "signup-cs_1", CustomerId: "cus_a", Name: "compute", Attempt: 1}, InstanceUrl: in.url})
	in.waitProbes(t, 3)

	// Outage: many failed probes.
	in.healthy.Store(false)
	in.waitProbes(t, 15)
	servicetest.Eventually(t, waitFor, "down alert", func() bool { return len(f.slack.Messages()) == 1 })
	in.healthy.Store(true)
	servicetest.Eventually(t, waitFor, "recovery alert", func() bool { return len(f.slack.Messages()) == 2 })
	in.waitProbes(t, 5)
	slack := f.slack.Messages()
	if len(slack) != 2 || !strings.Contains(slack[0], "Instance down: cus_a") || !strings.Contains(slack[1], "Instance recovered: cus_a") {
		t.Fatalf("slack = %q", slack)
	}
	if ops := f.mailsTo("ops@clawdbot.test"); len(ops) != 2 {
		t.Fatalf("%d alert mails, want 2", len(ops))
	}
	if n := len(f.events.Messages(subjects.InstanceUnhealthy, "")); n != 1 {
		t.Errorf("%d instance.unhealthy", n)
	}
	if n := len(f.events.Messages(subjects.InstanceRecovered, "")); n != 1 {
		t.Errorf("%d instance.recovered", n)
	}
	restarts := f.events.Messages(subjects.CmdComputeRestart, "")
	if len(restarts) < 1 || len(restarts) > 3 {
		t.Errorf("%d restart requests, want 1 to 3 (every 4 failures, max 3)", len(restarts))
	}

	// Quota: 85 of 100 messages → one 80% notice, whatever the cycles.
	in.messages.Store(85)
	servicetest.Eventually(t, waitFor, "quota mail", func() bool { return len(f.mailsTo("ada@example.com")) == 1 })
	in.waitProbes(t, 5)
	mails := f.mailsTo("ada@example.com")
	if len(mails) != 1 || !strings.Contains(mails[0].Header("Subject"), "80%") {
		t.Fatalf("customer mails: %+v", mails)
	}

	// A notice delivered twice under different message ids is sent once.
	for _, id := range []string{"n-1", "n-2"} {
		f.publish(t, subjects.CustomerNotice, id, &pb.CustomerNotice{NoticeId: "welcome-cus_a", CustomerId: "cus_a",
			Kind: "welcome", InstanceUrl: in.url})
	}
	f.publish(t, subjects.SagaCompensated, "comp-1", &pb.SagaCompensated{SagaId: "signup-cs_9", CustomerId: "cus_9",
		FailedStep: "database", Reason: "quota exceeded"})
	servicetest.Eventually(t, waitFor, "saga alert", func() bool { return len(f.slack.Messages()) == 3 })
	servicetest.Eventually(t, waitFor, "welcome mail", func() bool { return len(f.mailsTo("ada@example.com")) == 2 })
	servicetest.Eventually(t, waitFor, "the duplicate welcome handled", func() bool {
		return servicetest.Counter(t, f.svc.Metrics, "claw_health_notifications_total",
			map[string]string{"kind": "welcome", "result": "duplicate"}) == 1
	})
	if got := servicetest.Counter(t, f.svc.Metrics, "claw_health_notifications_total",
		map[string]string{"kind": "welcome", "result": "sent"}); got != 1 {
		t.Errorf("welcome sent = %v, want 1", got)
	}

	// Suspended: no more probes. A second instance, provisioned after the
	// suspension was published, shows the cycles going on.
	f.publish(t, subjects.CustomerStateChanged, "state-1", &pb.CustomerStateChanged{CustomerId: "cus_a",
		State: "suspended", PreviousState: "past_due"})
	canary := newLive(t, "tok-b")
	f.publish(t, subjects.ComputeProvisioned, "prov-2", &pb.ComputeProvisioned{
		Step: &pb.Step{SagaId: "signup-cs_2", CustomerId: "cus_b", Name: "compute", Attempt: 1}, InstanceUrl: canary.url})
	canary.waitProbes(t, 3)
	suspended := in.probes.Load()
	canary.waitProbes(t, 5)
	if n := in.probes.Load() - suspended; n != 0 {
		t.Errorf("suspended instance probed %d times", n)
	}
	if got := servicetest.Counter(t, f.svc.Metrics, "claw_health_alerts_total",
		map[string]string{"kind": "instance_down", "result": "sent"}); got != 2 {
		t.Errorf("instance_down alerts sent = %v, want 2 (slack and email)", got)
	}
	if mails := f.mailsTo("ada@example.com"); len(mails) != 2 {
		t.Errorf("%d customer mails, want 2 (quota 80%%, welcome)", len(mails))
	}
}

// An instance that sends an activity token has its /status (a backend on
// its database) read only when the token moved or the last read is
// HEALTH_STATUS_MAX_AGE old — and the quota notice still goes out on the
// work that crossed 80%.
func TestStatusReadOnlyAfterActivity(t *testing.T) {
	for _, tc := range []struct {
		name, maxAge string
	}{{"idle", "1h"}, {"max age", "150ms"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMonitorFixture(t, map[string]string{"HEALTH_STATUS_MAX_AGE": tc.maxAge})
			in := newLive(t, "tok-act", func(l *live) { l.withActivity = true })
			f.liveCustomer(t, "cus_act", "act@example.com", in)
			in.waitProbes(t, 3)
			servicetest.Eventually(t, waitFor, "the first /status read", func() bool { return in.reads.Load() >= 1 })
			// 30 cycles of 20 ms: at least 600 ms.
			in.waitProbes(t, 30)
			reads := in.reads.Load()
			if tc.maxAge == "1h" && reads != 1 {
				t.Fatalf("an idle instance's /status was read %d times in 30+ cycles, want once", reads)
			}
			if tc.maxAge != "1h" && reads < 2 {
				t.Fatalf("/status read %d times in 30 cycles with HEALTH_STATUS_MAX_AGE %s, want it read again", reads, tc.maxAge)
			}
			skipped := servicetest.Counter(t, f.svc.Metrics, "claw_health_status_reads_total", map[string]string{"result": "skipped"})
			if skipped < 20 {
				t.Errorf("status reads skipped = %v, want most of the 30 cycles", skipped)
			}
			// Work: 85 of 100 messages, the token moves → read, notice.
			in.messages.Store(85)
			in.work.Add(1)
			servicetest.Eventually(t, waitFor, "the quota mail after the work", func() bool { return len(f.mailsTo("act@example.com")) == 1 })
		})
	}
}

// A failed /status read is retried after HEALTH_STATUS_RETRY, doubling,
// not every cycle: under load every read that times out has still cost the
// customer's database a backend. Once the instance answers again the
// notice goes out.
func TestFailedStatusReadBacksOff(t *testing.T) {
	f := newMonitorFixture(t, map[string]string{"HEALTH_STATUS_RETRY": "200ms", "HEALTH_STATUS_MAX_AGE": "1h"})
	in := newLive(t, "tok-fail", func(l *live) { l.withActivity = true })
	in.statusFails.Store(true)
	in.messages.Store(85)
	f.liveCustomer(t, "cus_fail", "fail@example.com", in)
	servicetest.Eventually(t, waitFor, "the first /status read", func() bool { return in.reads.Load() >= 1 })
	in.waitProbes(t, 30) // 30 cycles of 20 ms: 600 ms or more
	// Reads at 0, +200 ms, +600 ms (200, 400, 800 ms waits): 30 cycles hold
	// at most 3, and more only if the cycles ran slowly.
	probes := in.probes.Load()
	reads := in.reads.Load()
	if reads > 4 || reads*8 > probes {
		t.Fatalf("a failing /status was read %d times in %d cycles; want it put off, doubling", reads, probes)
	}
	deferred := servicetest.Counter(t, f.svc.Metrics, "claw_health_status_reads_total", map[string]string{"result": "deferred"})
	if deferred < 20 {
		t.Errorf("status reads deferred = %v, want most of the 30 cycles", deferred)
	}
	if len(f.mailsTo("fail@example.com")) != 0 {
		t.Fatal("a quota mail without a read")
	}
	in.statusFails.Store(false)
	servicetest.Eventually(t, waitFor, "the quota mail once /status answers", func() bool { return len(f.mailsTo("fail@example.com")) == 1 })
	// A good read ends the backoff: the idle instance is skipped, not deferred.
	before := in.reads.Load()
	in.waitProbes(t, 10)
	if got := in.reads.Load(); got != before {
		t.Errorf("after a good read an idle instance's /status was read %d more times, want none", got-before)
	}
}

// A Telegram bot the instance reports broken is mailed to the customer once
// per breakage, whatever the cycles.
func TestTelegramBrokenNotice(t *testing.T) {
	f := newMonitorFixture(t)
	in := newLive(t, "tok-tg")
	f.liveCustomer(t, "cus_tg", "tg@example.com", in)
	in.waitProbes(t, 3)
	if n := len(f.mailsTo("tg@example.com")); n != 0 {
		t.Fatalf("%d mails while the bot works", n)
	}
	in.tgBrokenAt.Store(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).Unix())
	servicetest.Eventually(t, waitFor, "telegram mail", func() bool { return len(f.mailsTo("tg@example.com")) == 1 })
	in.waitProbes(t, 5)
	mails := f.mailsTo("tg@example.com")
	if len(mails) != 1 || !strings.Contains(mails[0].Header("Subject"), "Telegram") ||
		!strings.Contains(mails[0].Body(), "@ada_bot") || !strings.Contains(mails[0].Body(), "401 Unauthorized") {
		t.Fatalf("mails: %d %q", len(mails), mails[0].Body())
	}
	// Broken again later (reconnected, then revoked again): told again.
	in.tgBrokenAt.Store(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).Unix())
	servicetest.Eventually(t, waitFor, "second telegram mail", func() bool { return len(f.mailsTo("tg@example.com")) == 2 })
}
