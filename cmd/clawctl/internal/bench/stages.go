package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Stages records the spans of a platform's services in this process (a
// span processor of the tracer provider they share) and tells, for a
// phase, where its signups spent their time: every kind of span by service
// and name, how many, how long they took and when they ended.
type Stages struct {
	mu    sync.Mutex
	spans []span
}

// span is what Stages keeps of one ended span.
type span struct {
	service, name string
	start, end    time.Time
}

// NewStages returns an empty recorder; add it to the tracer provider with
// sdktrace.WithSpanProcessor.
func NewStages() *Stages { return &Stages{} }

var _ sdktrace.SpanProcessor = (*Stages)(nil)

// OnStart is part of sdktrace.SpanProcessor.
func (s *Stages) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd keeps the span's service, name and times.
func (s *Stages) OnEnd(sp sdktrace.ReadOnlySpan) {
	service := ""
	for _, kv := range sp.Attributes() {
		if kv.Key == "claw.service" {
			service = kv.Value.AsString()
			break
		}
	}
	s.mu.Lock()
	s.spans = append(s.spans, span{service: service, name: stageName(sp.Name()), start: sp.StartTime(), end: sp.EndTime()})
	s.mu.Unlock()
}

// Shutdown is part of sdktrace.SpanProcessor.
func (s *Stages) Shutdown(context.Context) error { return nil }

// ForceFlush is part of sdktrace.SpanProcessor.
func (s *Stages) ForceFlush(context.Context) error { return nil }

// Reset forgets the spans recorded so far (call it before a phase).
func (s *Stages) Reset() {
	s.mu.Lock()
	s.spans = nil
	s.mu.Unlock()
}

// port is the port of a loopback URL in a span name: each runtime listens
// on its own, and its calls are one stage.
var port = regexp.MustCompile(`(127\.0\.0\.1|localhost):\d+`)

// stageName is name with the runtimes' ports left out.
func stageName(name string) string { return port.ReplaceAllString(name, "${1}:*") }

// Stage is one kind of span in a phase: its service's and its name's, with
// times relative to the phase's start.
type Stage struct {
	Service, Name string
	Count         int
	// EndP50 and EndMax are when half of them, and all, had ended.
	EndP50, EndMax time.Duration
	// P50, P90 and Max are their durations.
	P50, P90, Max time.Duration
	// Total is their durations summed: the stage's share of the work (a
	// span that waited counts its wait too).
	Total time.Duration
}

// Table returns the stages of the spans that started at or after since,
// in the order half of each had ended: the order a signup goes through
// them.
func (s *Stages) Table(since time.Time) []Stage {
	s.mu.Lock()
	type key struct{ service, name string }
	by := map[key][]span{}
	for _, sp := range s.spans {
		if sp.start.Before(since) {
			continue
		}
		k := key{sp.service, sp.name}
		by[k] = append(by[k], sp)
	}
	s.mu.Unlock()
	out := make([]Stage, 0, len(by))
	for k, spans := range by {
		ends := make([]time.Duration, len(spans))
		durs := make([]time.Duration, len(spans))
		var total time.Duration
		for i, sp := range spans {
			ends[i] = sp.end.Sub(since)
			durs[i] = sp.end.Sub(sp.start)
			total += durs[i]
		}
		slices.Sort(ends)
		slices.Sort(durs)
		out = append(out, Stage{
			Service: k.service, Name: k.name, Count: len(spans),
			EndP50: quantile(ends, 0.5), EndMax: ends[len(ends)-1],
			P50: quantile(durs, 0.5), P90: quantile(durs, 0.9), Max: durs[len(durs)-1], Total: total,
		})
	}
	slices.SortFunc(out, func(a, b Stage) int {
		return cmp.Or(cmp.Compare(a.EndP50, b.EndP50), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// quantile is the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// WriteStages prints stages as a table, leaving out those with fewer than
// minCount spans (a phase of n signups: a stage of every signup has n or
// more).
func WriteStages(w io.Writer, stages []Stage, minCount int) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	if _, err := fmt.Fprintf(w, "  %-10s %-50s %6s %8s %8s %8s %8s %8s %9s\n",
		"service", "span", "count", "end p50", "end max", "dur p50", "dur p90", "dur max", "total ms"); err != nil {
		return err
	}
	for _, st := range stages {
		if st.Count < minCount {
			continue
		}
		service := cmp.Or(st.Service, "-")
		if _, err := fmt.Fprintf(w, "  %-10s %-50s %6d %8s %8s %8s %8s %8s %9s\n", service, st.Name, st.Count,
			ms(st.EndP50), ms(st.EndMax), ms(st.P50), ms(st.P90), ms(st.Max), ms(st.Total)); err != nil {
			return err
		}
	}
	return nil
}
