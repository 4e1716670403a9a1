package domain

import (
	"fmt"
	"time"
)

// compensate starts undoing the saga after step failed for reason. Steps
// still in flight are abandoned: they may have partly succeeded, so they are
// compensated too, as is the failed step itself (a step service may leave
// part of its work behind, and every delete is idempotent). Compensations
// run one at a time in reverse order of completion; steps that never
// finished count as finishing now, in forward order, so they are undone
// first.
func (s *Saga) compensate(failed StepName, reason string, now time.Time, p Policy, out *Outcome) {
	s.Status = Compensating
	s.FailedStep = failed
	s.Reason = fmt.Sprintf("%s: %s", failed, reason)
	for i := range s.Steps {
		st := &s.Steps[i]
		if st.Status == StepRunning {
			st.Error = fmt.Sprintf("abandoned: %s failed", failed)
			s.settle(st, StepFailed, now)
		}
	}
	s.compensateNext(now, p, out)
}

// compensateNext sends the next compensation, or ends the saga compensated
// when nothing is left to undo.
func (s *Saga) compensateNext(now time.Time, p Policy, out *Outcome) {
	var next *Step
	for i := range s.Steps {
		st := &s.Steps[i]
		if !needsCompensation(st) {
			continue
		}
		if s.undoneBySame(st) {
			// Its compensation already ran for a later step (prepare's
			// cmd.compute.delete, sent for compute): nothing left to undo.
			st.Status, st.FinishedAt, st.Deadline = StepCompensated, now, time.Time{}
			continue
		}
		if next == nil || st.DoneOrder > next.DoneOrder {
			next = st
		}
	}
	out.Changed = true
	if next == nil {
		s.finish(Compensated, now, out)
		return
	}
	out.note(Note{Kind: NoteCompensationStarted, Step: next.Name})
	s.sendCompensation(next, now, p, out)
}

// undoneBySame reports whether another step with the same compensation
// command has been compensated already. Those commands act on the customer,
// not on the step (cmd.compute.delete removes the customer's service whether
// prepare or compute created it), so sending it again would only repeat it.
func (s *Saga) undoneBySame(st *Step) bool {
	for _, o := range s.Steps {
		if o.Name != st.Name && o.Status == StepCompensated && defs[o.Name].backward == defs[st.Name].backward {
			return true
		}
	}
	return false
}

// needsCompensation reports whether st was ever sent, may have done
// something, and has not been undone yet.
func needsCompensation(st *Step) bool {
	return Compensable(st.Name) && st.Attempt > 0 && (st.Status == StepDone || st.Status == StepFailed)
}

func (s *Saga) sendCompensation(st *Step, now time.Time, p Policy, out *Outcome) {
	st.Status = StepCompensating
	st.CompensationAttempt++
	st.Deadline = now.Add(p.Step(st.Name).UndoTimeout)
	out.Sends = append(out.Sends, Send{Step: st.Name, Attempt: st.CompensationAttempt, Compensation: true})
	out.Changed = true
}

// Compensated applies a compensation's result (<domain>.deleted), of any
// attempt sent so far (anySent: an undo is re-sent unchanged too).
func (s *Saga) Compensated(n StepName, attempt int, now time.Time, p Policy) Outcome {
	var out Outcome
	st := s.Step(n)
	switch {
	case st == nil:
		out.ignore("unknown step %q", n)
	case s.Status != Compensating:
		out.ignore("saga is %s", s.Status)
	case st.Status != StepCompensating:
		out.ignore("step %s is %s", n, st.Status)
	case !anySent.applies(attempt, st.CompensationAttempt):
		out.ignore("step %s: compensation result of attempt %d, attempt %d in flight", n, attempt, st.CompensationAttempt)
	default:
		st.Status = StepCompensated
		st.FinishedAt = now
		st.Deadline = time.Time{}
		s.compensateNext(now, p, &out)
		s.touch(now, &out)
	}
	return out
}

// retryCompensation re-sends st's compensation after a failure, or, when
// its attempts are spent, stops: the saga is Failed and needs an operator,
// since undoing the earlier steps while this one is stuck could leave it
// pointing at nothing (compute using a deleted database).
func (s *Saga) retryCompensation(st *Step, reason string, now time.Time, p Policy, out *Outcome) {
	if st.CompensationAttempt < p.Step(st.Name).Attempts {
		st.Error = "compensation " + reason
		s.sendCompensation(st, now, p, out)
		return
	}
	st.Error = fmt.Sprintf("compensation failed after %d attempts: %s", st.CompensationAttempt, reason)
	st.Status = StepFailed
	st.FinishedAt = now
	st.Deadline = time.Time{}
	s.Reason = fmt.Sprintf("%s; compensating %s failed after %d attempts: %s", s.Reason, st.Name, st.CompensationAttempt, reason)
	s.finish(Failed, now, out)
}
