package domain

import (
	"fmt"
	"time"
)

// Signup is what starting a signup saga needs, taken from customer.signed_up.
type Signup struct {
	SagaID            string
	CustomerID        string
	CheckoutSessionID string
	Plan              string
	Email             string
	Name              string
	Timezone          string
}

// Start returns a new running saga whose database step has been sent.
func Start(in Signup, now time.Time, p Policy) (*Saga, Outcome) {
	return Begin(Saga{
		ID: in.SagaID, Kind: KindSignup, CustomerID: in.CustomerID, CheckoutSessionID: in.CheckoutSessionID,
		Plan: in.Plan, Email: in.Email, Name: in.Name, Timezone: in.Timezone,
	}, Order, now, p)
}

// Begin returns a new running saga made of spec (identity and inputs) and
// steps, with the steps of the lowest rank sent.
func Begin(spec Saga, steps []StepName, now time.Time, p Policy) (*Saga, Outcome) {
	s := &spec
	s.Status, s.CreatedAt, s.UpdatedAt = Running, now, now
	s.Steps = nil
	for _, n := range steps {
		s.Steps = append(s.Steps, Step{Name: n, Status: StepPending})
	}
	out := Outcome{Changed: true}
	s.sendRank(s.nextRank(-1), now, p, &out)
	return s, out
}

// Result is a step's success event (database.created, workspace.built,
// compute.provisioned, instance.ready, compute.resized, ...) with what the
// saga keeps from it.
type Result struct {
	Step    StepName
	Attempt int
	// DatabaseRef comes with database.created and database.restored.
	DatabaseRef string
	// APIKeyRef comes with workspace.built.
	APIKeyRef string
	// InstanceURL comes with compute.provisioned and compute.started.
	InstanceURL string
	// ArchiveRef comes with database.archived.
	ArchiveRef string
}

// Succeeded applies a step's success event. When every step of its rank is
// done, the next rank is sent; after the last, the saga is completed.
func (s *Saga) Succeeded(r Result, now time.Time, p Policy) Outcome {
	var out Outcome
	st := s.forwardInFlight(r.Step, r.Attempt, anySent, &out)
	if st == nil {
		return out
	}
	s.settle(st, StepDone, now)
	out.Changed = true
	out.note(Note{Kind: NoteStepDone, Step: st.Name, Duration: now.Sub(st.StartedAt)})
	for _, kv := range []struct {
		dst *string
		v   string
	}{
		{&s.DatabaseRef, r.DatabaseRef}, {&s.APIKeyRef, r.APIKeyRef}, {&s.InstanceURL, r.InstanceURL}, {&s.ArchiveRef, r.ArchiveRef},
	} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	rank := defs[st.Name].rank
	for _, o := range s.Steps {
		if defs[o.Name].rank == rank && o.Status != StepDone {
			s.touch(now, &out)
			return out
		}
	}
	if next := s.nextRank(rank); next >= 0 {
		s.sendRank(next, now, p, &out)
	} else {
		s.finish(Completed, now, &out)
	}
	s.touch(now, &out)
	return out
}

// nextRank is the lowest rank above after among the saga's steps, -1 if none.
func (s *Saga) nextRank(after int) int {
	next := -1
	for _, st := range s.Steps {
		if r := defs[st.Name].rank; r > after && (next < 0 || r < next) {
			next = r
		}
	}
	return next
}

// sendRank sends every step of rank, in the saga's step order.
func (s *Saga) sendRank(rank int, now time.Time, p Policy, out *Outcome) {
	for _, st := range s.Steps {
		if defs[st.Name].rank == rank {
			s.send(st.Name, now, p, out)
		}
	}
}

// StepFailed applies a step's <domain>.failed event. For a forward step it
// starts compensating; for a compensation in flight it retries the
// compensation (or gives up when its attempts are spent).
func (s *Saga) StepFailed(n StepName, attempt int, reason string, now time.Time, p Policy) Outcome {
	var out Outcome
	if s.Status == Compensating {
		st := s.Step(n)
		if st == nil || st.Status != StepCompensating || st.CompensationAttempt != attempt {
			out.ignore("%s.failed attempt %d does not match the compensation in flight", n, attempt)
			return out
		}
		out.note(Note{Kind: NoteStepFailure, Step: n, FailKind: FailCompensation})
		s.retryCompensation(st, reason, now, p, &out)
		s.touch(now, &out)
		return out
	}
	st := s.forwardInFlight(n, attempt, onlyLatest, &out)
	if st == nil {
		return out
	}
	out.note(Note{Kind: NoteStepFailure, Step: n, FailKind: FailReported})
	st.Error = reason
	s.settle(st, StepFailed, now)
	s.compensate(st.Name, reason, now, p, &out)
	s.touch(now, &out)
	return out
}

// Expire handles every deadline due at now: a forward attempt that timed out
// is re-sent, or, once its attempts are spent, fails the step and starts
// compensating; a compensation that timed out is re-sent or gives up.
func (s *Saga) Expire(now time.Time, p Policy) Outcome {
	var out Outcome
	for i := range s.Steps {
		st := &s.Steps[i]
		if st.Deadline.IsZero() || now.Before(st.Deadline) {
			continue
		}
		switch {
		case s.Status == Running && st.Status == StepRunning:
			out.note(Note{Kind: NoteStepFailure, Step: st.Name, FailKind: FailTimeout})
			if st.Attempt < p.Step(st.Name).Attempts {
				st.Error = fmt.Sprintf("attempt %d timed out", st.Attempt)
				s.send(st.Name, now, p, &out)
				break
			}
			st.Error = fmt.Sprintf("timed out after %d attempts", st.Attempt)
			s.settle(st, StepFailed, now)
			s.compensate(st.Name, st.Error, now, p, &out)
		case s.Status == Compensating && st.Status == StepCompensating:
			out.note(Note{Kind: NoteStepFailure, Step: st.Name, FailKind: FailCompensation})
			s.retryCompensation(st, fmt.Sprintf("attempt %d timed out", st.CompensationAttempt), now, p, &out)
		default:
			// A deadline left behind by an earlier state: drop it.
			st.Deadline = time.Time{}
			out.Changed = true
		}
	}
	if !out.Changed {
		out.ignore("no deadline due")
		return out
	}
	s.touch(now, &out)
	return out
}

// Which attempts of a step a result may answer (forwardInFlight,
// Compensated).
type answers bool

const (
	// anySent: a success. Every attempt of a step sends the same command,
	// and a step service answers a command it already carried out with the
	// same result, so the first success to arrive ends the step, whichever
	// attempt it answers. Waiting for the latest attempt's own answer threw
	// successes away under load: a compute step past its deadline was
	// re-sent, the re-send queued behind the burst, and the first attempt's
	// answer, a few seconds late, was ignored, so the step ended only if a
	// re-send was answered within its own deadline (in a burst of 500
	// signups, 381 second attempts timed out and 5 steps were compensated
	// with their runtimes running: docs/architecture.md, "Late answers").
	anySent answers = true
	// onlyLatest: a failure. An earlier attempt's failure says nothing of
	// the attempt in flight, which may still succeed.
	onlyLatest answers = false
)

// applies reports whether a result of attempt answers a step whose latest
// attempt is latest.
func (a answers) applies(attempt, latest int) bool {
	if a == anySent {
		return attempt >= 1 && attempt <= latest
	}
	return attempt == latest
}

// forwardInFlight returns step n if a result for its attempt applies now:
// the saga runs, the step runs, and attempt is one which answers (see
// answers).
func (s *Saga) forwardInFlight(n StepName, attempt int, which answers, out *Outcome) *Step {
	st := s.Step(n)
	switch {
	case st == nil:
		out.ignore("unknown step %q", n)
	case s.Status != Running:
		out.ignore("saga is %s", s.Status)
	case st.Status != StepRunning:
		out.ignore("step %s is %s", n, st.Status)
	case !which.applies(attempt, st.Attempt):
		out.ignore("step %s: result of attempt %d, attempt %d in flight", n, attempt, st.Attempt)
	default:
		return st
	}
	return nil
}

// send sends the next forward attempt of step n.
func (s *Saga) send(n StepName, now time.Time, p Policy, out *Outcome) {
	st := s.Step(n)
	st.Status = StepRunning
	st.Attempt++
	if st.Attempt == 1 {
		st.StartedAt = now
	}
	st.Deadline = now.Add(p.Step(n).Timeout)
	out.Sends = append(out.Sends, Send{Step: n, Attempt: st.Attempt})
	out.Changed = true
}

// settle ends the step's command in flight with status.
func (s *Saga) settle(st *Step, status StepStatus, now time.Time) {
	st.Status = status
	st.FinishedAt = now
	st.Deadline = time.Time{}
	if st.DoneOrder == 0 {
		st.DoneOrder = s.nextOrder()
	}
}

func (s *Saga) nextOrder() int {
	max := 0
	for _, st := range s.Steps {
		if st.DoneOrder > max {
			max = st.DoneOrder
		}
	}
	return max + 1
}

func (s *Saga) finish(st Status, now time.Time, out *Outcome) {
	s.Status = st
	s.CompletedAt = now
	out.Finished = st
	out.Changed = true
}

func (s *Saga) touch(now time.Time, out *Outcome) {
	if out.Changed {
		s.UpdatedAt = now
	}
}
