package domain

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var policy = Policy{StepTimeout: 30 * time.Second, InstanceTimeout: 60 * time.Second, EngineTimeout: 6 * time.Minute, MaxAttempts: 3}

// input is one thing that happens to a saga in a script.
type input struct {
	kind    string // ok, fail, deleted, tick
	step    StepName
	attempt int
	advance time.Duration // clock moves this much before the input
}

func ok(n StepName, attempt int) input      { return input{kind: "ok", step: n, attempt: attempt} }
func fail(n StepName, attempt int) input    { return input{kind: "fail", step: n, attempt: attempt} }
func deleted(n StepName, attempt int) input { return input{kind: "deleted", step: n, attempt: attempt} }
func tick(d time.Duration) input            { return input{kind: "tick", advance: d} }

func fwd(n StepName, attempt int) Send  { return Send{Step: n, Attempt: attempt} }
func undo(n StepName, attempt int) Send { return Send{Step: n, Attempt: attempt, Compensation: true} }

// run starts a saga, applies script and returns every command sent, in order.
func run(t *testing.T, script []input) (*Saga, []Send, []Outcome) {
	t.Helper()
	now := t0
	s, out := Start(Signup{SagaID: "signup-cs_1", CustomerID: "cus_1", CheckoutSessionID: "cs_1", Plan: "pro"}, now, policy)
	sends := append([]Send(nil), out.Sends...)
	outs := []Outcome{out}
	for _, in := range script {
		now = now.Add(in.advance)
		switch in.kind {
		case "ok":
			out = s.Succeeded(Result{Step: in.step, Attempt: in.attempt, DatabaseRef: "db/cus_1", APIKeyRef: "apikey/signup-cs_1", InstanceURL: "http://i"}, now, policy)
		case "fail":
			out = s.StepFailed(in.step, in.attempt, "boom", now, policy)
		case "deleted":
			out = s.Compensated(in.step, in.attempt, now, policy)
		case "tick":
			out = s.Expire(now, policy)
		default:
			t.Fatalf("bad input %q", in.kind)
		}
		if out.Changed == (out.Ignored != "") {
			t.Fatalf("input %+v: changed %v but ignored %q", in, out.Changed, out.Ignored)
		}
		sends = append(sends, out.Sends...)
		outs = append(outs, out)
	}
	return s, sends, outs
}

func TestHappyPath(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []input
		want   []Send
	}{{
		name:   "workspace finishes first",
		script: []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), ok(Workspace, 1), ok(Instance, 1)},
		want:   []Send{fwd(Database, 1), fwd(Prepare, 1), fwd(Compute, 1), fwd(Workspace, 1), fwd(Instance, 1)},
	}, {
		name:   "instance finishes first",
		script: []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), ok(Instance, 1), ok(Workspace, 1)},
		want:   []Send{fwd(Database, 1), fwd(Prepare, 1), fwd(Compute, 1), fwd(Workspace, 1), fwd(Instance, 1)},
	}, {
		name:   "prepare finishes before the database",
		script: []input{ok(Prepare, 1), ok(Database, 1), ok(Compute, 1), ok(Workspace, 1), ok(Instance, 1)},
		want:   []Send{fwd(Database, 1), fwd(Prepare, 1), fwd(Compute, 1), fwd(Workspace, 1), fwd(Instance, 1)},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, sends, outs := run(t, tc.script)
			if diff := cmp.Diff(tc.want, sends); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if s.Status != Completed || outs[len(outs)-1].Finished != Completed {
				t.Errorf("status %s, last finished %q; want completed", s.Status, outs[len(outs)-1].Finished)
			}
			if s.DatabaseRef != "db/cus_1" || s.APIKeyRef != "apikey/signup-cs_1" || s.InstanceURL != "http://i" {
				t.Errorf("refs not kept: %+v", s)
			}
			for _, st := range s.Steps {
				if st.Status != StepDone || !st.Deadline.IsZero() {
					t.Errorf("step %s: %s deadline %v", st.Name, st.Status, st.Deadline)
				}
			}
		})
	}
}

func TestParallelStepsStartTogether(t *testing.T) {
	_, _, outs := run(t, []input{ok(Database, 1)})
	if diff := cmp.Diff([]Send{fwd(Database, 1), fwd(Prepare, 1)}, outs[0].Sends); diff != "" {
		t.Errorf("prepare does not run with the database (-want +got):\n%s", diff)
	}
	if len(outs[1].Sends) != 0 {
		t.Errorf("rank 1 started before compute was prepared: %v", outs[1].Sends)
	}
	_, _, outs = run(t, []input{ok(Database, 1), ok(Prepare, 1)})
	if diff := cmp.Diff([]Send{fwd(Compute, 1)}, outs[2].Sends); diff != "" {
		t.Errorf("after database.created and compute.prepared (-want +got):\n%s", diff)
	}
	// The workspace goes to the running instance, beside its check.
	_, _, outs = run(t, []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1)})
	if diff := cmp.Diff([]Send{fwd(Workspace, 1), fwd(Instance, 1)}, outs[3].Sends); diff != "" {
		t.Errorf("after compute.provisioned (-want +got):\n%s", diff)
	}
}

func TestPrepareIsUndoneByComputeDelete(t *testing.T) {
	if got := CommandOf(Prepare, false); got != CmdPrepareCompute {
		t.Errorf("prepare command %q", got)
	}
	if got := CommandOf(Prepare, true); got != CmdDeleteCompute {
		t.Errorf("prepare compensation %q, want %q", got, CmdDeleteCompute)
	}
	if got := Domain(Prepare); got != "compute" {
		t.Errorf("prepare answers on %q.*", got)
	}
}

func TestFailureCompensatesInReverse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []input
		want   []Send // commands after the initial cmd.database.create
		reason string
	}{{
		name:   "database fails while prepare runs",
		script: []input{fail(Database, 1), deleted(Prepare, 1), deleted(Database, 1)},
		want:   []Send{fwd(Prepare, 1), undo(Prepare, 1), undo(Database, 1)},
	}, {
		name:   "database fails after prepare",
		script: []input{ok(Prepare, 1), fail(Database, 1), deleted(Database, 1), deleted(Prepare, 1)},
		want:   []Send{fwd(Prepare, 1), undo(Database, 1), undo(Prepare, 1)},
	}, {
		name:   "prepare fails after the database",
		script: []input{ok(Database, 1), fail(Prepare, 1), deleted(Prepare, 1), deleted(Database, 1)},
		want:   []Send{fwd(Prepare, 1), undo(Prepare, 1), undo(Database, 1)},
	}, {
		name: "compute fails",
		script: []input{ok(Database, 1), ok(Prepare, 1), fail(Compute, 1),
			deleted(Compute, 1), deleted(Database, 1)},
		want: []Send{fwd(Prepare, 1), fwd(Compute, 1),
			undo(Compute, 1), undo(Database, 1)},
	}, {
		name: "workspace fails while the instance check runs",
		script: []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), fail(Workspace, 1),
			deleted(Workspace, 1), deleted(Compute, 1), deleted(Database, 1)},
		want: []Send{fwd(Prepare, 1), fwd(Compute, 1), fwd(Workspace, 1), fwd(Instance, 1),
			undo(Workspace, 1), undo(Compute, 1), undo(Database, 1)},
	}, {
		name: "workspace fails after the instance check",
		script: []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), ok(Instance, 1), fail(Workspace, 1),
			deleted(Workspace, 1), deleted(Compute, 1), deleted(Database, 1)},
		want: []Send{fwd(Prepare, 1), fwd(Compute, 1), fwd(Workspace, 1), fwd(Instance, 1),
			undo(Workspace, 1), undo(Compute, 1), undo(Database, 1)},
	}, {
		name: "instance fails",
		script: []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), ok(Workspace, 1), fail(Instance, 1),
			deleted(Workspace, 1), deleted(Compute, 1), deleted(Database, 1)},
		want: []Send{fwd(Prepare, 1), fwd(Compute, 1), fwd(Workspace, 1), fwd(Instance, 1),
			undo(Workspace, 1), undo(Compute, 1), undo(Database, 1)},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, sends, outs := run(t, tc.script)
			if diff := cmp.Diff(tc.want, sends[1:]); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if s.Status != Compensated || outs[len(outs)-1].Finished != Compensated {
				t.Errorf("status %s; want compensated", s.Status)
			}
			if s.Reason != string(s.FailedStep)+": boom" {
				t.Errorf("reason %q", s.Reason)
			}
			for _, st := range s.Steps {
				if !st.Deadline.IsZero() {
					t.Errorf("step %s keeps deadline %v", st.Name, st.Deadline)
				}
				if Compensable(st.Name) && st.Attempt > 0 && st.Status != StepCompensated {
					t.Errorf("step %s ends %s, want compensated", st.Name, st.Status)
				}
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("retry then succeed", func(t *testing.T) {
		s, sends, _ := run(t, []input{tick(29 * time.Second), tick(time.Second), ok(Database, 1), ok(Database, 2), ok(Prepare, 2)})
		want := []Send{fwd(Database, 1), fwd(Prepare, 1), fwd(Database, 2), fwd(Prepare, 2), fwd(Compute, 1)}
		if diff := cmp.Diff(want, sends); diff != "" {
			t.Errorf("commands (-want +got):\n%s", diff)
		}
		if st := s.Step(Database); st.Status != StepDone || st.Attempt != 2 {
			t.Errorf("database %s attempt %d", st.Status, st.Attempt)
		}
	})
	t.Run("an older attempt's success ends the step", func(t *testing.T) {
		// Attempt 2 was sent when attempt 1 passed its deadline; attempt
		// 1's answer, late, is as good as attempt 2's would be.
		s, sends, outs := run(t, []input{tick(30 * time.Second), ok(Database, 1), ok(Prepare, 1), ok(Database, 2)})
		want := []Send{fwd(Database, 1), fwd(Prepare, 1), fwd(Database, 2), fwd(Prepare, 2), fwd(Compute, 1)}
		if diff := cmp.Diff(want, sends); diff != "" {
			t.Errorf("commands (-want +got):\n%s", diff)
		}
		if st := s.Step(Database); st.Status != StepDone || st.Deadline != (time.Time{}) {
			t.Errorf("database %s, deadline %v", st.Status, st.Deadline)
		}
		if outs[4].Ignored == "" {
			t.Errorf("the newer attempt's answer after the step ended was applied: %+v", outs[4])
		}
	})
	t.Run("an older compensation attempt's success ends the undo", func(t *testing.T) {
		s, sends, _ := run(t, []input{ok(Database, 1), ok(Prepare, 1), fail(Compute, 1), tick(30 * time.Second), deleted(Compute, 1), deleted(Database, 1)})
		want := []Send{fwd(Prepare, 1), fwd(Compute, 1), undo(Compute, 1), undo(Compute, 2), undo(Database, 1)}
		if diff := cmp.Diff(want, sends[1:]); diff != "" {
			t.Errorf("commands (-want +got):\n%s", diff)
		}
		if s.Status != Compensated {
			t.Errorf("status %s, want compensated", s.Status)
		}
	})
	t.Run("exhausted then compensate", func(t *testing.T) {
		s, sends, outs := run(t, []input{tick(30 * time.Second), tick(30 * time.Second), tick(30 * time.Second), deleted(Prepare, 1), deleted(Database, 1)})
		want := []Send{fwd(Database, 1), fwd(Prepare, 1), fwd(Database, 2), fwd(Prepare, 2), fwd(Database, 3), fwd(Prepare, 3),
			undo(Prepare, 1), undo(Database, 1)}
		if diff := cmp.Diff(want, sends); diff != "" {
			t.Errorf("commands (-want +got):\n%s", diff)
		}
		if s.Status != Compensated || s.FailedStep != Database || s.Reason != "database: timed out after 3 attempts" {
			t.Errorf("status %s failed %s reason %q", s.Status, s.FailedStep, s.Reason)
		}
		if got := outs[3].Notes; len(got) != 2 || got[0].FailKind != FailTimeout || got[1].Kind != NoteCompensationStarted {
			t.Errorf("notes on exhaustion: %+v", got)
		}
	})
	t.Run("instance has a longer timeout", func(t *testing.T) {
		_, sends, _ := run(t, []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), ok(Workspace, 1), tick(30 * time.Second), tick(30 * time.Second)})
		if diff := cmp.Diff(fwd(Instance, 2), sends[len(sends)-1]); diff != "" || len(sends) != 6 {
			t.Errorf("instance re-sent at 60s only: %v", sends)
		}
	})
	t.Run("parallel steps time out together", func(t *testing.T) {
		_, sends, _ := run(t, []input{tick(30 * time.Second)})
		if diff := cmp.Diff([]Send{fwd(Database, 2), fwd(Prepare, 2)}, sends[2:]); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("compensation retried then saga failed", func(t *testing.T) {
		s, sends, outs := run(t, []input{ok(Database, 1), ok(Prepare, 1), fail(Compute, 1),
			tick(30 * time.Second), fail(Compute, 2), fail(Compute, 3), deleted(Database, 1)})
		want := []Send{fwd(Prepare, 1), fwd(Compute, 1), undo(Compute, 1), undo(Compute, 2), undo(Compute, 3)}
		if diff := cmp.Diff(want, sends[1:]); diff != "" {
			t.Errorf("commands (-want +got):\n%s", diff)
		}
		if s.Status != Failed || outs[6].Finished != Failed {
			t.Errorf("status %s; want failed", s.Status)
		}
		if want := "compute: boom; compensating compute failed after 3 attempts: boom"; s.Reason != want {
			t.Errorf("reason %q, want %q", s.Reason, want)
		}
		if outs[7].Ignored == "" {
			t.Errorf("a result after the saga failed was applied")
		}
	})
	t.Run("nothing due", func(t *testing.T) {
		_, _, outs := run(t, []input{tick(29 * time.Second)})
		if outs[1].Changed || outs[1].Ignored == "" {
			t.Errorf("tick before the deadline changed the saga: %+v", outs[1])
		}
	})
}

func TestIgnored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []input
	}{
		{"duplicate result", []input{ok(Database, 1), ok(Database, 1)}},
		{"failure of an older attempt", []input{tick(30 * time.Second), fail(Database, 1)}},
		{"older attempt after the newer's success", []input{tick(30 * time.Second), ok(Database, 2), ok(Database, 1)}},
		{"compensation failure of an older attempt", []input{fail(Database, 1), tick(30 * time.Second), fail(Database, 1)}},
		{"result of an attempt never sent", []input{ok(Database, 2)}},
		{"result for a pending step", []input{ok(Workspace, 1)}},
		{"failure after success", []input{ok(Database, 1), fail(Database, 1)}},
		{"late success while compensating", []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), fail(Workspace, 1), ok(Instance, 1)}},
		{"late prepare while compensating", []input{fail(Database, 1), ok(Prepare, 1)}},
		{"prepare deleted while running", []input{deleted(Prepare, 1)}},
		{"deleted while running", []input{deleted(Database, 1)}},
		{"duplicate deleted", []input{fail(Database, 1), deleted(Database, 1), deleted(Database, 1)}},
		{"result after completion", []input{ok(Database, 1), ok(Prepare, 1), ok(Compute, 1), ok(Workspace, 1), ok(Instance, 1), ok(Instance, 1)}},
		{"unknown step", []input{ok("billing", 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := run(t, tc.script[:len(tc.script)-1])
			before := clone(s)
			_, _, outs := run(t, tc.script)
			last := outs[len(outs)-1]
			if last.Changed || len(last.Sends) != 0 || last.Finished != "" || last.Ignored == "" {
				t.Errorf("input was applied: %+v", last)
			}
			after, _, _ := run(t, tc.script)
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("saga changed (-before +after):\n%s", diff)
			}
		})
	}
}

func clone(s *Saga) *Saga {
	c := *s
	c.Steps = append([]Step(nil), s.Steps...)
	return &c
}

func TestMsgIDs(t *testing.T) {
	got := []string{
		fwd(Database, 2).MsgID("signup-cs_1"),
		undo(Compute, 1).MsgID("signup-cs_1"),
		fwd(Database, 2).StartedMsgID("signup-cs_1"),
		FinishedMsgID("signup-cs_1", Completed),
	}
	want := []string{"signup-cs_1-database-2-cmd", "signup-cs_1-compute-1-compensate-cmd", "signup-cs_1-database-2-started", "signup-cs_1-completed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, n := range Order {
		if CommandOf(n, false) == "" || (Compensable(n) != (CommandOf(n, true) != "")) {
			t.Errorf("step %s: commands %q %q", n, CommandOf(n, false), CommandOf(n, true))
		}
	}
}

// Every step's policy comes from its row in the step table: the compute
// step and the instance check wait for a runtime to boot, a resize and a
// resume's start for a runtime perhaps on another engine to be healthy,
// every other step for an answer; the day-7 and day-30 steps get twice the
// attempts.
func TestStepPolicyFromTheTable(t *testing.T) {
	for n := range defs {
		want := StepPolicy{Timeout: policy.StepTimeout, UndoTimeout: policy.StepTimeout, Attempts: policy.MaxAttempts}
		switch n {
		case Compute, Instance:
			want.Timeout = policy.InstanceTimeout
		case Resize, StartCompute:
			want.Timeout, want.UndoTimeout = policy.EngineTimeout, policy.EngineTimeout
		}
		switch n {
		case Archive, DestroyCompute, DestroyWorkspace, DestroyDatabase, DestroyArchive:
			want.Attempts = 2 * policy.MaxAttempts
		}
		if got := policy.Step(n); got != want {
			t.Errorf("Step(%s) = %+v, want %+v", n, got, want)
		}
	}
	// A policy without an engine timeout never gives a resize less
	// than a step's.
	if got := (Policy{StepTimeout: time.Minute, MaxAttempts: 1}).Step(Resize).Timeout; got != time.Minute {
		t.Errorf("Step(resize) without EngineTimeout = %s, want the step timeout", got)
	}
}
