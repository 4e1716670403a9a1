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
}

func newMetrics(reg prometheus.Registerer, phases func() map[string]int) (*metrics, error) {
	m := &metrics{
		reg: reg,
		instances: &instancesCollector{
			phases: phases,
			desc: prometheus.NewDesc("claw_compute_instances",
				"Supervised runtime instances by state (starting, running, backoff).", []string{"state"}, nil),
		},
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_compute_restarts_total",
			Help: "Runtime restarts by reason (crash, oom: killed by the kernel for exceeding its memory, requested).",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
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
	return m, nil
}

// unregister removes the instances gauge, which reads a closed driver.
func (m *metrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m.instances)
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
	for _, p := range []phase{starting, running, backoff} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[p.String()]), p.String())
	}
}

// phases counts the supervised instances by phase.
func (d *Driver) phases() map[string]int {
	d.mu.Lock()
	sups := make([]*supervisor, 0, len(d.sups))
	for _, s := range d.sups {
		sups = append(sups, s)
	}
	d.mu.Unlock()
	out := map[string]int{}
	for _, s := range sups {
		out[s.status().Phase]++
	}
	return out
}
