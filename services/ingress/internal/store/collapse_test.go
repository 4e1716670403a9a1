package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCollapse(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	in := []StepState{
		{Name: "database", Status: StepDone, At: at(2)}, // the result overtook its start
		{Name: "database", Status: StepStarted, At: at(3)},
		{Name: "compute", Status: StepStarted, At: at(4)},
		{Name: "compute", Status: StepFailed, At: at(5)},
		{Name: "database", Compensation: true, Status: StepStarted, At: at(6)},
		{Name: "compute", Status: StepDone, At: at(7)}, // a stale success after the failure
	}
	want := []StepState{
		{Name: "database", Status: StepDone, At: at(2)},
		{Name: "compute", Status: StepFailed, At: at(5)},
		{Name: "database", Compensation: true, Status: StepStarted, At: at(6)},
	}
	if d := cmp.Diff(want, collapse(in)); d != "" {
		t.Fatalf("collapse (-want +got):\n%s", d)
	}
	if got := collapse(nil); got == nil || len(got) != 0 {
		t.Fatalf("collapse(nil) = %#v, want an empty list", got)
	}
}
