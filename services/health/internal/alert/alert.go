// Package alert raises operator alerts (a failed or compensated saga, an
// instance down and its recovery) on Slack and by email, deduplicated and
// rate-limited: each alert key is decided once (send or suppress) and
// delivered at most once per channel, whatever the redeliveries; a token
// bucket bounds how many alerts go out in a storm; a recovery goes out only
// if its outage's alert did, so an outage is one alert and one recovery.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/services/health/internal/notify"
	"clawdbot.cloud/services/health/internal/store"
)

// Decisions recorded per alert key.
const (
	decisionSend     = "send"
	decisionSuppress = "suppressed"
)

// Alert is one alert.
type Alert struct {
	// Key identifies the alert for deduplication ("instance.down/<incident>").
	Key string
	// Kind is the metric label: saga_compensated, saga_failed,
	// instance_down, instance_recovered.
	Kind    string
	Subject string
	Text    string
	// Follows is the key of the alert this one closes (a recovery closes
	// its outage): it is sent only if that one was.
	Follows string
}

// Options configure an Alerter. A nil Slack or Mail turns that channel off.
type Options struct {
	Log    *slog.Logger
	Store  *store.Store
	Slack  *notify.Slack
	Mail   *notify.SMTP
	MailTo []string
	// Limiter rate-limits new incidents (a token bucket read on the
	// alerter's clock); default 5 at once, then one a minute.
	Limiter *rate.Limiter
	Now     func() time.Time
	Metrics *prometheus.CounterVec
}

// Alerter sends alerts.
type Alerter struct {
	o Options
}

// New returns an Alerter.
func New(o Options) *Alerter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Limiter == nil {
		o.Limiter = rate.NewLimiter(rate.Every(time.Minute), 5)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetric()
	}
	return &Alerter{o: o}
}

// NewMetric returns the unregistered alerts counter.
func NewMetric() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claw_health_alerts_total",
		Help: "Operator alerts by kind, channel (slack, email, none) and result (sent, failed, suppressed).",
	}, []string{"kind", "channel", "result"})
}

// Send decides and delivers a. A channel that fails returns a retryable
// error (after the other channels went out); the retry sends only what is
// missing.
func (a *Alerter) Send(ctx context.Context, al Alert) error {
	return a.o.Store.Once(ctx, "alert:"+al.Key, func(ctx context.Context, tx pgx.Tx) error {
		now := a.o.Now()
		decision, err := store.AlertDecision(ctx, tx, al.Key)
		if err != nil {
			return err
		}
		if decision == "" {
			decision, err = a.decide(ctx, tx, al, now)
			if err != nil {
				return err
			}
			if err := store.RecordAlertDecision(ctx, tx, al.Key, al.Kind, decision, now); err != nil {
				return err
			}
			if decision == decisionSuppress {
				a.o.Metrics.WithLabelValues(al.Kind, "none", "suppressed").Inc()
				a.o.Log.Warn("alert suppressed", "key", al.Key, "kind", al.Kind)
			}
		}
		if decision != decisionSend {
			return nil
		}
		var errs []error
		for _, ch := range a.channels() {
			done, err := store.Delivered(ctx, tx, al.Key, ch.name)
			if err != nil {
				return err
			}
			if done {
				continue
			}
			if err := ch.send(ctx, al); err != nil {
				a.o.Metrics.WithLabelValues(al.Kind, ch.name, "failed").Inc()
				errs = append(errs, err)
				continue
			}
			a.o.Metrics.WithLabelValues(al.Kind, ch.name, "sent").Inc()
			if err := store.RecordDelivery(ctx, tx, al.Key, ch.name, now); err != nil {
				return err
			}
		}
		if err := errors.Join(errs...); err != nil {
			var rl *notify.ErrRateLimited
			if errors.As(err, &rl) {
				return bus.RetryAfter(fmt.Errorf("alert %s: %w", al.Key, err), rl.RetryAfter)
			}
			return fmt.Errorf("alert %s: %w", al.Key, err)
		}
		return nil
	})
}

// decide makes the one decision for a new alert key.
func (a *Alerter) decide(ctx context.Context, tx pgx.Tx, al Alert, now time.Time) (string, error) {
	if al.Follows != "" {
		prev, err := store.AlertDecision(ctx, tx, al.Follows)
		if err != nil {
			return "", err
		}
		if prev == decisionSend {
			return decisionSend, nil
		}
		return decisionSuppress, nil
	}
	if a.o.Limiter.AllowN(now, 1) {
		return decisionSend, nil
	}
	return decisionSuppress, nil
}

type channel struct {
	name string
	send func(context.Context, Alert) error
}

func (a *Alerter) channels() []channel {
	var out []channel
	if a.o.Slack != nil {
		out = append(out, channel{"slack", func(ctx context.Context, al Alert) error {
			return a.o.Slack.Send(ctx, "*"+al.Subject+"*\n"+al.Text)
		}})
	}
	if a.o.Mail != nil && len(a.o.MailTo) > 0 {
		out = append(out, channel{"email", func(ctx context.Context, al Alert) error {
			return a.o.Mail.Send(ctx, notify.Mail{To: a.o.MailTo, Subject: "[clawdbot] " + al.Subject,
				Body: al.Text, ID: "alert." + al.Key})
		}})
	}
	return out
}
