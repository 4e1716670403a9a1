package health

import (
	"net"
	"net/mail"
	"time"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/health/internal/monitor"
	"clawdbot.cloud/services/health/internal/notify"
)

// config is the service's settings, read once (see the package comment).
type config struct {
	checkTimeout, startTimeout time.Duration
	probeTimeout               time.Duration
	workers, monitorWorkers    int
	interval, jitter           time.Duration
	statusMaxAge               time.Duration
	statusTimeout, statusRetry time.Duration
	policy                     monitor.Policy
	alertBurst                 int
	alertInterval              time.Duration
	slackURL                   string
	smtp                       notify.SMTP
	alertTo                    []string
}

func loadConfig(env *service.Env) config {
	l := env.Config
	c := config{
		checkTimeout:   l.Duration("HEALTH_CHECK_TIMEOUT", 45*time.Second),
		startTimeout:   l.Duration("HEALTH_START_TIMEOUT", 5*time.Minute),
		probeTimeout:   l.Duration("HEALTH_PROBE_TIMEOUT", 2*time.Second),
		workers:        l.Int("HEALTH_CONCURRENCY", 64),
		interval:       l.Duration("HEALTH_PROBE_INTERVAL", 30*time.Second),
		monitorWorkers: l.Int("HEALTH_MONITOR_CONCURRENCY", 16),
		statusMaxAge:   l.Duration("HEALTH_STATUS_MAX_AGE", 15*time.Minute),
		statusTimeout:  l.Duration("HEALTH_STATUS_TIMEOUT", 10*time.Second),
		statusRetry:    l.Duration("HEALTH_STATUS_RETRY", time.Minute),
		policy: monitor.Policy{
			DownAfter:    l.Int("HEALTH_DOWN_AFTER", 3),
			RecoverAfter: l.Int("HEALTH_RECOVER_AFTER", 2),
			RestartAfter: l.Int("HEALTH_RESTART_AFTER", 3),
			MaxRestarts:  l.Int("HEALTH_MAX_RESTARTS", 3),
		},
		alertBurst:    l.Int("HEALTH_ALERT_BURST", 5),
		alertInterval: l.Duration("HEALTH_ALERT_INTERVAL", time.Minute),
		slackURL:      l.URL("SLACK_WEBHOOK_URL", "", "https", "http"),
		smtp: notify.SMTP{
			Addr:     l.String("SMTP_ADDR", ""),
			From:     l.String("SMTP_FROM", ""),
			Username: l.String("SMTP_USERNAME", ""),
			Password: l.String("SMTP_PASSWORD", ""),
		},
		alertTo: splitList(l.String("ALERT_EMAIL_TO", "")),
	}
	c.policy.StartingGrace = c.startTimeout
	c.jitter = l.Duration("HEALTH_PROBE_JITTER", min(c.interval/4, 5*time.Second))
	if c.startTimeout < c.checkTimeout {
		l.Problem("HEALTH_START_TIMEOUT must be at least HEALTH_CHECK_TIMEOUT")
	}
	for name, d := range map[string]time.Duration{"HEALTH_CHECK_TIMEOUT": c.checkTimeout,
		"HEALTH_PROBE_TIMEOUT": c.probeTimeout, "HEALTH_PROBE_INTERVAL": c.interval, "HEALTH_ALERT_INTERVAL": c.alertInterval,
		"HEALTH_STATUS_MAX_AGE": c.statusMaxAge, "HEALTH_STATUS_TIMEOUT": c.statusTimeout, "HEALTH_STATUS_RETRY": c.statusRetry} {
		if d <= 0 {
			l.Problem("%s must be positive", name)
		}
	}
	if c.jitter < 0 || c.jitter >= c.interval {
		l.Problem("HEALTH_PROBE_JITTER must be at least 0 and less than HEALTH_PROBE_INTERVAL")
	}
	for name, n := range map[string]int{"HEALTH_CONCURRENCY": c.workers, "HEALTH_MONITOR_CONCURRENCY": c.monitorWorkers,
		"HEALTH_DOWN_AFTER": c.policy.DownAfter, "HEALTH_RECOVER_AFTER": c.policy.RecoverAfter,
		"HEALTH_RESTART_AFTER": c.policy.RestartAfter, "HEALTH_MAX_RESTARTS": c.policy.MaxRestarts,
		"HEALTH_ALERT_BURST": c.alertBurst} {
		if n < 1 {
			l.Problem("%s must be at least 1", name)
		}
	}
	if c.smtp.Addr != "" {
		if _, _, err := net.SplitHostPort(c.smtp.Addr); err != nil {
			l.Problem("SMTP_ADDR=%q is not a host:port address", c.smtp.Addr)
		}
		if _, err := mail.ParseAddress(c.smtp.From); err != nil {
			l.Problem("SMTP_FROM must be an email address when SMTP_ADDR is set")
		}
	}
	for _, to := range c.alertTo {
		if _, err := mail.ParseAddress(to); err != nil {
			l.Problem("ALERT_EMAIL_TO: %q is not an email address", to)
		}
	}
	if len(c.alertTo) > 0 && c.smtp.Addr == "" {
		l.Problem("ALERT_EMAIL_TO needs SMTP_ADDR")
	}
	return c
}
