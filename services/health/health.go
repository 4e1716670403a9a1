// Package health is the health service. It has two sides:
//
//   - Readiness checks (cmd.instance.check, consumer "health"): it polls a
//     freshly provisioned instance's /health until it answers 200 and reports
//     instance.ready, or instance.failed when the check's deadline passes, so
//     the signup saga completes or compensates.
//   - Monitoring (consumer "health-monitor" and a probe loop): it keeps its
//     own table of live instances from events (customer.signed_up,
//     compute.provisioned/started/stopped/deleted, customer.state_changed),
//     probes each on a schedule with hysteresis (instance.unhealthy,
//     instance.recovered, cmd.compute.restart after repeated failures), raises
//     operator alerts on Slack and by email (saga.compensated, saga.failed, an
//     instance down and its recovery), emails customers their notices
//     (customer.notice), and publishes the 80% and 100% quota notices it
//     reads from each instance's /status.
//
// Settings (environment):
//
//	HEALTH_CHECK_TIMEOUT        how long a new instance has to become healthy (default 45s), counted
//	                            from the check's start or its last 503 {"status":"starting"}
//	HEALTH_START_TIMEOUT        the most a check gets while the instance says its engine is starting
//	                            (an OpenClaw gateway; default 5m)
//	HEALTH_PROBE_TIMEOUT        how long one probe may take (default 2s)
//	HEALTH_CONCURRENCY          how many readiness checks run at once (default 64)
//	HEALTH_PROBE_INTERVAL       time between monitoring cycles (default 30s)
//	HEALTH_PROBE_JITTER         spread of a cycle's probes (default interval/4, at most 5s)
//	HEALTH_MONITOR_CONCURRENCY  monitoring probes in flight (default 16)
//	HEALTH_STATUS_TIMEOUT       how long the quota check's read of an instance's /status may take
//	                            (default 10s: under load its database backend starts slowly)
//	HEALTH_STATUS_RETRY         wait after a failed /status read before the next, doubling with each
//	                            failure in a row up to HEALTH_STATUS_MAX_AGE (default 1m)
//	HEALTH_DOWN_AFTER           failed probes in a row before down (default 3)
//	HEALTH_RECOVER_AFTER        good probes in a row before healthy again (default 2)
//	HEALTH_RESTART_AFTER        failed probes in a row before a restart request (default 3)
//	HEALTH_MAX_RESTARTS         restart requests per incident (default 3)
//	HEALTH_ALERT_BURST          alerts sent at once before rate limiting (default 5)
//	HEALTH_ALERT_INTERVAL       one more alert allowed per interval (default 1m)
//	SLACK_WEBHOOK_URL           Slack incoming webhook for alerts (off when empty)
//	SMTP_ADDR, SMTP_FROM        mail submission server host:port and sender (email off when empty)
//	SMTP_USERNAME, SMTP_PASSWORD optional PLAIN auth
//	ALERT_EMAIL_TO              comma-separated operator addresses for alerts
package health

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/telemetry"
	"clawdbot.cloud/services/health/internal/alert"
	"clawdbot.cloud/services/health/internal/app"
	"clawdbot.cloud/services/health/internal/monitor"
	"clawdbot.cloud/services/health/internal/notice"
	"clawdbot.cloud/services/health/internal/notify"
	"clawdbot.cloud/services/health/internal/probe"
	"clawdbot.cloud/services/health/internal/store"
)

// Run runs the health service until ctx ends. It is a service.Service.
func Run(ctx context.Context, env *service.Env) error {
	cfg := loadConfig(env)
	if err := env.Config.Err(); err != nil {
		return err
	}

	prober := probe.New(cfg.probeTimeout, func(rt http.RoundTripper) http.RoundTripper { return telemetry.TraceTransport(rt, env.Tracer) })
	defer prober.Close()
	a, err := app.New(app.Options{
		Log:          env.Log,
		Bus:          env.Bus,
		Prober:       prober,
		CheckTimeout: cfg.checkTimeout,
		StartTimeout: cfg.startTimeout,
		Metrics:      env.Metrics,
	})
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, env.DB)
	if err != nil {
		return err
	}
	events, mon, err := wireMonitor(env, cfg, st, prober)
	if err != nil {
		return err
	}

	monitored := bus.NewRouter()
	events.Register(monitored)

	ticker := time.NewTicker(cfg.interval)
	defer ticker.Stop()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, run := range []func() error{
		func() error { return env.Bus.Run(ctx, a.ConsumerConfig(cfg.workers), a.Router()) },
		func() error { return env.Bus.Run(ctx, events.ConsumerConfig(), monitored) },
		func() error { return mon.Run(ctx, ticker.C) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = run(); errs[i] != nil {
				cancel() // one part failing stops the service
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// wireMonitor builds the monitoring side from the settings.
func wireMonitor(env *service.Env, cfg config, st *store.Store, prober *probe.Prober) (*app.Events, *monitor.Monitor, error) {
	var slack *notify.Slack
	if cfg.slackURL != "" {
		slack = &notify.Slack{URL: cfg.slackURL, Client: &http.Client{Timeout: 10 * time.Second}}
	}
	var mail *notify.SMTP
	if cfg.smtp.Addr != "" {
		mail = &cfg.smtp
	}
	alertsMetric := alert.NewMetric()
	noticesMetric := notice.NewMetric()
	monMetrics := monitor.NewMetrics()
	if err := monMetrics.Register(env.Metrics); err != nil {
		return nil, nil, err
	}
	for _, c := range []prometheus.Collector{alertsMetric, noticesMetric} {
		if err := env.Metrics.Register(c); err != nil {
			return nil, nil, err
		}
	}
	events := &app.Events{
		Store: st,
		Alerter: alert.New(alert.Options{
			Log: env.Log, Store: st, Slack: slack, Mail: mail, MailTo: cfg.alertTo,
			Limiter: rate.NewLimiter(rate.Every(cfg.alertInterval), max(cfg.alertBurst, 1)), Now: env.Now, Metrics: alertsMetric,
		}),
		Notifier: notice.New(notice.Options{Log: env.Log, Store: st, Mail: mailer(mail), Now: env.Now, Metrics: noticesMetric}),
	}
	var usage *monitor.UsageReader
	if env.Secrets != nil {
		usage = &monitor.UsageReader{
			Client:     &http.Client{Timeout: cfg.statusTimeout},
			Secrets:    env.Secrets,
			IsNotFound: func(err error) bool { return errors.Is(err, secrets.ErrNotFound) },
		}
	}
	mon := monitor.New(monitor.Options{
		Log: env.Log, Store: st, Prober: prober, Bus: env.Bus, Usage: usage, Now: env.Now,
		Concurrency: cfg.monitorWorkers, Jitter: cfg.jitter, Policy: cfg.policy, Metrics: monMetrics,
		StatusMaxAge: cfg.statusMaxAge, StatusRetry: cfg.statusRetry,
	})
	return events, mon, nil
}

// mailer keeps a nil *notify.SMTP a nil interface.
func mailer(m *notify.SMTP) notice.Mailer {
	if m == nil {
		return nil
	}
	return m
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
