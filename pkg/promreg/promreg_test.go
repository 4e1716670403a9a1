package promreg_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"clawdbot.cloud/pkg/promreg"
)

func TestRegisterReusesTheCollectorAlreadyThere(t *testing.T) {
	reg := prometheus.NewRegistry()
	newCounter := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claw_test_total", Help: "test"}, []string{"op"})
	}
	first, err := promreg.Register(reg, newCounter())
	if err != nil {
		t.Fatal(err)
	}
	first.WithLabelValues("a").Inc()
	second, err := promreg.Register(reg, newCounter())
	if err != nil {
		t.Fatal(err)
	}
	second.WithLabelValues("a").Inc()
	if got := testutil.ToFloat64(first.WithLabelValues("a")); got != 2 {
		t.Errorf("counter = %v, want both registrations counting into one series (2)", got)
	}
	// Same name, another type: an error, not a silent reuse.
	if _, err := promreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "claw_test_total", Help: "test"})); err == nil {
		t.Error("a conflicting collector was accepted")
	}
	if c, err := promreg.Register[prometheus.Counter](nil, prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})); err != nil || c == nil {
		t.Errorf("nil registry: %v, %v", c, err)
	}
}
