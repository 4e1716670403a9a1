package process

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/promreg"
)

// metrics are the driver's instruments; no customer id is ever a label.
type metrics struct {
	reg       prometheus.Registerer
	instances *instancesCollector
	restarts  *prometheus.CounterVec
	// versions and rollouts are the openclaw engine's versions (Rollout).
	versions *versionsCollector
	rollouts *prometheus.CounterVec
	// early counts the runtimes started early by what became of them.
	early *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, phases, versions func() map[string]int) (*metrics, error) {
	m := &metrics{
		reg: reg,
		instances: &instancesCollector{
			phases: phases,
			desc: prometheus.NewDesc("claw_compute_instances",
				"Runtime instances by state: starting, running, backoff (supervised), prepared (started early, waiting for their configuration).", []string{"state"}, nil),
		},
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_compute_restarts_total",
			Help: "Runtime restarts by reason (crash, oom: killed by the kernel for exceeding its memory, requested).",
		}, []string{"reason"}),
		versions: &versionsCollector{
			versions: versions,
			desc: prometheus.NewDesc("claw_compute_openclaw_instances",
				"Supervised instances on the openclaw engine by the OpenClaw version they run (a directory of OPENCLAW_INSTALLS).",
				[]string{"version"}, nil),
		},
		rollouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_compute_openclaw_rollouts_total",
			Help: "OpenClaw version rollouts by outcome (succeeded, rolled_back, rollback_failed, refused).",
		}, []string{"outcome"}),
		early: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_compute_early_starts_total",
			Help: "Runtimes started early (by cmd.compute.prepare, waiting for their configuration) by what became of them: used (provisioned), expired (no provision in time), discarded (deleted, another plan, failed to start or exited, or the service stopped).",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	reg.Unregister(m.versions)
	if err := reg.Register(m.versions); err != nil {
		return nil, fmt.Errorf("register compute metrics: %w", err)
	}
	// A driver started again on the same registry replaces the gauge of the
	// previous one and keeps counting restarts.
	reg.Unregister(m.instances)
	if err := reg.Register(m.instances); err != nil {
		return nil, fmt.Errorf("register compute metrics: %w", err)
	}
	var err error
	if m.restarts, err = promreg.Register(reg, m.restarts); err != nil {
		return nil, fmt.Errorf("register compute metrics: %w", err)
	}
	if m.rollouts, err = promreg.Register(reg, m.rollouts); err != nil {
		return nil, fmt.Errorf("register compute metrics: %w", err)
	}
	if m.early, err = promreg.Register(reg, m.early); err != nil {
		return nil, fmt.Errorf("register compute metrics: %w", err)
	}
	for _, r := range []string{earlyUsed, earlyExpired, earlyDiscarded} {
		m.early.WithLabelValues(r)
	}
	for _, o := range []string{RolloutSucceeded, RolloutRolledBack, RolloutRollbackFailed, RolloutRefused} {
		m.rollouts.WithLabelValues(o) // every outcome is a series from the start, for the alert's increase()
	}
	return m, nil
}

// unregister removes the instances gauge, which reads a closed driver.
func (m *metrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.instances)
		m.reg.Unregister(m.versions)
	}
}

// instancesCollector counts the supervised instances by phase at scrape time.
type instancesCollector struct {
	phases func() map[string]int
	desc   *prometheus.Desc
}

func (c *instancesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *instancesCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.phases()
	for _, p := range []string{starting.String(), running.String(), backoff.String(), prepared} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[p]), p)
	}
}

// prepared is the instances gauge's state of runtimes started early.
const prepared = "prepared"

// phases counts the supervised instances by phase, and the runtimes
// started early as prepared.
func (d *Driver) phases() map[string]int {
	d.mu.Lock()
	sups := make([]*supervisor, 0, len(d.sups))
	for _, s := range d.sups {
		sups = append(sups, s)
	}
	out := map[string]int{prepared: len(d.early)}
	d.mu.Unlock()
	for _, s := range sups {
		out[s.status().Phase]++
	}
	return out
}

// versionsCollector counts the supervised openclaw instances by version at
// scrape time.
type versionsCollector struct {
	versions func() map[string]int
	desc     *prometheus.Desc
}

func (c *versionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *versionsCollector) Collect(ch chan<- prometheus.Metric) {
	for v, n := range c.versions() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), v)
	}
}
