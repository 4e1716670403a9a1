// Package notice emails customers the notices asked for on customer.notice
// (welcome, trial ending, payment failed, suspended, resumed, canceled,
// quota 80% and 100%, a broken Telegram channel, deleted), once per notice_id: the id is recorded in the
// same transaction that holds its lock while the mail goes out, so a
// duplicate delivery, even a concurrent one, sends nothing.
package notice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/services/health/internal/notify"
	"clawdbot.cloud/services/health/internal/store"
)

// Mailer sends one email; *notify.SMTP satisfies it.
type Mailer interface {
	Send(ctx context.Context, m notify.Mail) error
}

// Options configure a Notifier.
type Options struct {
	Log   *slog.Logger
	Store *store.Store
	// Mail is nil when SMTP is not configured: notices are then recorded
	// as skipped, not sent.
	Mail    Mailer
	Now     func() time.Time
	Metrics *prometheus.CounterVec
}

// Notifier sends customer notices.
type Notifier struct {
	o Options
}

// New returns a Notifier.
func New(o Options) *Notifier {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetric()
	}
	return &Notifier{o: o}
}

// NewMetric returns the unregistered notifications counter.
func NewMetric() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claw_health_notifications_total",
		Help: "Customer notices by kind and result (sent, failed, duplicate, skipped, invalid).",
	}, []string{"kind", "result"})
}

// ErrNoEmail reports a notice for a customer whose email is not known yet.
var ErrNoEmail = errors.New("customer email not known")

// Handle sends n unless its notice_id was handled already.
func (s *Notifier) Handle(ctx context.Context, n *pb.CustomerNotice) error {
	kind := n.GetKind()
	tmpl, ok := templates[kind]
	if !ok || n.GetNoticeId() == "" || n.GetCustomerId() == "" {
		s.o.Metrics.WithLabelValues("unknown", "invalid").Inc()
		return bus.Permanent(fmt.Errorf("notice %q: unknown kind %q or missing ids", n.GetNoticeId(), kind))
	}
	email := n.GetEmail()
	name := n.GetName()
	if email == "" || name == "" {
		c, found, err := s.o.Store.Get(ctx, n.GetCustomerId())
		if err != nil {
			return err
		}
		if found && email == "" {
			email = c.Email
		}
		if found && name == "" {
			name = c.Name
		}
	}
	if email == "" {
		// customer.signed_up comes first in the stream; wait for it a little.
		return bus.RetryAfter(fmt.Errorf("notice %s: %w", n.GetNoticeId(), ErrNoEmail), 5*time.Second)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil {
		s.o.Metrics.WithLabelValues(kind, "invalid").Inc()
		return bus.Permanent(fmt.Errorf("notice %s: invalid email address", n.GetNoticeId()))
	}
	subject, body := tmpl.render(n, name)
	return s.o.Store.Once(ctx, "notice:"+n.GetNoticeId(), func(ctx context.Context, tx pgx.Tx) error {
		done, err := store.NoticeSent(ctx, tx, n.GetNoticeId())
		if err != nil {
			return err
		}
		if done {
			s.o.Metrics.WithLabelValues(kind, "duplicate").Inc()
			return nil
		}
		result := "sent"
		if s.o.Mail == nil {
			result = "skipped"
			s.o.Log.Warn("SMTP not configured; customer notice not sent", "notice_id", n.GetNoticeId(), "kind", kind)
		} else if err := s.o.Mail.Send(ctx, notify.Mail{To: []string{addr.Address}, Subject: subject, Body: body,
			ID: "notice." + n.GetNoticeId()}); err != nil {
			s.o.Metrics.WithLabelValues(kind, "failed").Inc()
			return fmt.Errorf("notice %s: %w", n.GetNoticeId(), err)
		}
		if err := store.RecordNotice(ctx, tx, n.GetNoticeId(), kind, n.GetCustomerId(), result, s.o.Now()); err != nil {
			return err
		}
		s.o.Metrics.WithLabelValues(kind, result).Inc()
		return nil
	})
}
