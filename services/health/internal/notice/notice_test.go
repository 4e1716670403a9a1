package notice

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/services/health/internal/notify"
	"clawdbot.cloud/services/health/internal/smtptest"
	"clawdbot.cloud/services/health/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newNotifier(t *testing.T) (*Notifier, *store.Store, *smtptest.Server) {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := smtptest.Start(t)
	n := New(Options{
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Store: st,
		Mail:  &notify.SMTP{Addr: srv.Addr, From: "Clawdbot <hello@clawdbot.test>", Timeout: 5 * time.Second},
	})
	return n, st, srv
}

// Every kind renders, reaches the customer's address, and a redelivered
// notice (even concurrently) is sent once.
func TestSentOncePerID(t *testing.T) {
	n, st, srv := newNotifier(t)
	ctx := context.Background()
	if err := st.SignedUp(ctx, "cus_a", "ada@example.com", "Ada", "pro"); err != nil {
		t.Fatal(err)
	}
	kinds := []string{"welcome", "trial_will_end", "payment_failed", "suspended", "resumed", "canceled", "deleted", "quota_80", "quota_100", "telegram_broken"}
	for _, kind := range kinds {
		notice := &pb.CustomerNotice{NoticeId: kind + "-cus_a-1", CustomerId: "cus_a", Kind: kind,
			InstanceUrl: "https://claw-a.example", Plan: "pro",
			Details: map[string]string{"trial_end": "2026-12-01", "monthly_messages": "5000"}}
		errs := make(chan error, 4)
		for range 4 {
			go func() { errs <- n.Handle(ctx, notice) }()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
		}
	}
	msgs := srv.Messages()
	if len(msgs) != len(kinds) {
		t.Fatalf("%d mails for %d notices delivered 4 times each", len(msgs), len(kinds))
	}
	for i, m := range msgs {
		if len(m.To) != 1 || m.To[0] != "ada@example.com" || !strings.HasPrefix(m.Body(), "Hello Ada,") {
			t.Errorf("%s: to %v, body %q", kinds[i], m.To, m.Body())
		}
		if strings.Contains(m.Body(), "claw_") {
			t.Errorf("%s: body mentions a key: %q", kinds[i], m.Body())
		}
	}
	if !strings.Contains(msgs[0].Body(), "https://claw-a.example") {
		t.Errorf("welcome lacks the instance URL: %q", msgs[0].Body())
	}
	if got := testutil.ToFloat64(n.o.Metrics.WithLabelValues("welcome", "duplicate")); got != 3 {
		t.Errorf("welcome duplicates = %v, want 3", got)
	}
}

// A notice whose email is in the event needs no sign-up record; one with no
// email known waits; a failed send is retried and then sent once.
func TestRetries(t *testing.T) {
	n, st, srv := newNotifier(t)
	ctx := context.Background()
	err := n.Handle(ctx, &pb.CustomerNotice{NoticeId: "welcome-cus_b", CustomerId: "cus_b", Kind: "welcome"})
	if err == nil || bus.IsPermanent(err) {
		t.Fatalf("no email known: %v, want a retry", err)
	}
	if err := st.SignedUp(ctx, "cus_b", "bo@example.com", "", "starter"); err != nil {
		t.Fatal(err)
	}
	srv.RejectNext(1)
	if err := n.Handle(ctx, &pb.CustomerNotice{NoticeId: "welcome-cus_b", CustomerId: "cus_b", Kind: "welcome"}); err == nil {
		t.Fatal("rejected send reported success")
	}
	for range 2 {
		if err := n.Handle(ctx, &pb.CustomerNotice{NoticeId: "welcome-cus_b", CustomerId: "cus_b", Kind: "welcome"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Handle(ctx, &pb.CustomerNotice{NoticeId: "x-1", CustomerId: "cus_z", Kind: "suspended", Email: "z@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Messages()); got != 2 {
		t.Errorf("%d mails, want 2", got)
	}
	for _, bad := range []*pb.CustomerNotice{
		{NoticeId: "y", CustomerId: "cus_z", Kind: "lottery", Email: "z@example.com"},
		{NoticeId: "y", CustomerId: "cus_z", Kind: "welcome", Email: "z@example.com\r\nBcc: all@example.com"},
	} {
		if err := n.Handle(ctx, bad); !bus.IsPermanent(err) {
			t.Errorf("%v: %v, want permanent", bad, err)
		}
	}
}
