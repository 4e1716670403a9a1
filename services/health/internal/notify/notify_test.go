package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/services/health/internal/slacktest"
	"clawdbot.cloud/services/health/internal/smtptest"
)

// A mail survives the SMTP round trip: dot-stuffed lines, non-ASCII
// subject, one transaction for several recipients, and a 451 is an error.
func TestSMTPRoundTrip(t *testing.T) {
	srv := smtptest.Start(t)
	s := &SMTP{Addr: srv.Addr, From: "hello@clawdbot.test", Timeout: 5 * time.Second}
	body := "line one\n.starts with a dot\n..two dots\n.\nend"
	err := s.Send(context.Background(), Mail{To: []string{"a@example.com", "b@example.com"}, Subject: "Grüße",
		Body: body, ID: "notice.welcome-cus_1"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "hello@clawdbot.test" || strings.Join(m.To, ",") != "a@example.com,b@example.com" {
		t.Errorf("envelope %s → %v", m.From, m.To)
	}
	if got := strings.TrimSuffix(m.Body(), "\r\n"); got != strings.ReplaceAll(body, "\n", "\r\n") {
		t.Errorf("body %q", got)
	}
	if m.Header("Subject") != "=?utf-8?q?Gr=C3=BC=C3=9Fe?=" || m.Header("Message-ID") != "<notice.welcome-cus_1@clawdbot.test>" {
		t.Errorf("headers: subject %q, id %q", m.Header("Subject"), m.Header("Message-ID"))
	}
	srv.RejectNext(1)
	if err := s.Send(context.Background(), Mail{To: []string{"a@example.com"}, Subject: "x", Body: "y"}); err == nil ||
		!strings.Contains(err.Error(), "451") {
		t.Errorf("rejected send: %v", err)
	}
}

// Slack: 2xx is sent, 429 carries Retry-After, 5xx is an error that does
// not name the (secret) webhook URL.
func TestSlack(t *testing.T) {
	r := slacktest.Start(t)
	s := &Slack{URL: r.URL, Client: &http.Client{Timeout: 5 * time.Second}}
	ctx := context.Background()
	if err := s.Send(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	r.FailNext(http.StatusTooManyRequests, http.StatusInternalServerError)
	var rl *ErrRateLimited
	if err := s.Send(ctx, "x"); !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Errorf("429: %v", err)
	}
	if err := s.Send(ctx, "x"); err == nil || strings.Contains(err.Error(), "XXXX") {
		t.Errorf("500: %v", err)
	}
	down := &Slack{URL: "http://127.0.0.1:1/services/SECRET", Client: &http.Client{Timeout: time.Second}}
	if err := down.Send(ctx, "x"); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("unreachable: %v", err)
	}
	if got := r.Messages(); len(got) != 1 || got[0] != "hello" {
		t.Errorf("received %q", got)
	}
}
