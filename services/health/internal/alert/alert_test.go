package alert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/health/internal/notify"
	"clawdbot.cloud/services/health/internal/slacktest"
	"clawdbot.cloud/services/health/internal/smtptest"
	"clawdbot.cloud/services/health/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type fixture struct {
	a     *Alerter
	slack *slacktest.Receiver
	smtp  *smtptest.Server
	now   time.Time
}

func newFixture(t *testing.T, burst int, every time.Duration) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{slack: slacktest.Start(t), smtp: smtptest.Start(t), now: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
	f.a = New(Options{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Store:   st,
		Slack:   &notify.Slack{URL: f.slack.URL, Client: &http.Client{Timeout: 5 * time.Second}},
		Mail:    &notify.SMTP{Addr: f.smtp.Addr, From: "alerts@clawdbot.test", Timeout: 5 * time.Second},
		MailTo:  []string{"ops@clawdbot.test", "oncall@clawdbot.test"},
		Limiter: rate.NewLimiter(rate.Every(every), burst),
		Now:     func() time.Time { return f.now },
	})
	return f
}

func down(incident string) Alert {
	return Alert{Key: "instance.down/" + incident, Kind: "instance_down", Subject: "Instance down: " + incident, Text: "down"}
}

func recovered(incident string) Alert {
	return Alert{Key: "instance.recovered/" + incident, Follows: "instance.down/" + incident, Kind: "instance_recovered",
		Subject: "Instance recovered: " + incident, Text: "back"}
}

// An alert delivered many times (redeliveries, replays) goes out once per
// channel; its recovery once too.
func TestDeduplicated(t *testing.T) {
	f := newFixture(t, 5, time.Minute)
	ctx := context.Background()
	for range 5 {
		if err := f.a.Send(ctx, down("cus_a-1")); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := f.a.Send(ctx, recovered("cus_a-1")); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.slack.Messages(); len(got) != 2 || !strings.Contains(got[0], "Instance down") || !strings.Contains(got[1], "recovered") {
		t.Errorf("slack got %q", got)
	}
	mails := f.smtp.Messages()
	if len(mails) != 2 {
		t.Fatalf("%d mails, want 2", len(mails))
	}
	m := mails[0]
	if m.From != "alerts@clawdbot.test" || fmt.Sprint(m.To) != "[ops@clawdbot.test oncall@clawdbot.test]" ||
		m.Header("Subject") != "[clawdbot] Instance down: cus_a-1" || !strings.Contains(m.Header("Message-ID"), "alert.instance.down") {
		t.Errorf("mail = %+v", m)
	}
	if got := testutil.ToFloat64(f.a.o.Metrics.WithLabelValues("instance_down", "email", "sent")); got != 1 {
		t.Errorf("alerts sent by email = %v", got)
	}
}

// Concurrent duplicates of one alert still send it once.
func TestConcurrentDuplicates(t *testing.T) {
	f := newFixture(t, 5, time.Minute)
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- f.a.Send(context.Background(), down("cus_c-1")) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, m := len(f.slack.Messages()), len(f.smtp.Messages()); n != 1 || m != 1 {
		t.Errorf("slack %d, mail %d; want 1 and 1", n, m)
	}
}

// A storm is cut at the burst; suppressed outages get no recovery either;
// the bucket refills on the clock.
func TestRateLimited(t *testing.T) {
	f := newFixture(t, 3, 10*time.Minute)
	ctx := context.Background()
	for i := range 10 {
		if err := f.a.Send(ctx, down(fmt.Sprintf("cus_%d-1", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := f.a.Send(ctx, recovered(fmt.Sprintf("cus_%d-1", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.slack.Messages()); n != 6 {
		t.Errorf("slack got %d, want 3 outages + 3 recoveries", n)
	}
	if got := testutil.ToFloat64(f.a.o.Metrics.WithLabelValues("instance_down", "none", "suppressed")); got != 7 {
		t.Errorf("suppressed = %v, want 7", got)
	}
	f.now = f.now.Add(10 * time.Minute)
	if err := f.a.Send(ctx, Alert{Key: "saga.failed/s1", Kind: "saga_failed", Subject: "Saga FAILED", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Send(ctx, Alert{Key: "saga.failed/s2", Kind: "saga_failed", Subject: "Saga FAILED", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.slack.Messages()); n != 7 {
		t.Errorf("slack got %d after the refill, want 7 (one token back)", n)
	}
}

// A channel that fails is retried alone; the other is not sent again.
func TestPartialFailureRetried(t *testing.T) {
	f := newFixture(t, 5, time.Minute)
	ctx := context.Background()
	f.slack.FailNext(http.StatusTooManyRequests)
	err := f.a.Send(ctx, down("cus_p-1"))
	if err == nil || bus.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
	var rl *notify.ErrRateLimited
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Errorf("err = %v, want Slack's Retry-After", err)
	}
	f.smtp.RejectNext(1)
	if err := f.a.Send(ctx, down("cus_p-1")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("mail sent %d times, want 1", n)
	}
	if n := len(f.slack.Messages()); n != 1 {
		t.Fatalf("slack sent %d times, want 1", n)
	}
}
