package domain

import (
	"fmt"
	"time"
)

// Timer causes, recorded as a saga's Cause and a state change's cause.
const (
	CauseGrace   = "timer.grace"
	CauseArchive = "timer.archive"
	CauseDelete  = "timer.delete"
)

// NextDue is the earliest timer of c that can fire, zero when none.
func (c *Customer) NextDue() time.Time {
	var due time.Time
	for _, t := range []time.Time{c.GraceUntil, c.ArchiveAt, c.DeleteAt} {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	return due
}

// FireTimers starts the saga of the first timer of c due at now, if c is
// idle. A timer that no longer applies to c's state is dropped. The
// verdict's Status is "" when nothing was due.
func (c *Customer) FireTimers(now time.Time, p Policy) Verdict {
	var v Verdict
	if c.ActiveSaga != "" {
		return v
	}
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	key := func(t time.Time) string { return fmt.Sprint(t.Unix()) }
	switch {
	case due(c.GraceUntil):
		t := c.GraceUntil
		c.GraceUntil = time.Time{}
		v.Status = EventApplied
		if c.State != StatePastDue {
			return v
		}
		c.begin(&v, Saga{ID: lifecycleSagaID(KindSuspend, c.ID, key(t)), Kind: KindSuspend, Cause: CauseGrace}, []StepName{Stop}, now, p)
	case due(c.ArchiveAt):
		t := c.ArchiveAt
		c.ArchiveAt = time.Time{}
		v.Status = EventApplied
		if c.State != StateCanceled {
			return v
		}
		c.begin(&v, Saga{ID: lifecycleSagaID(KindArchive, c.ID, key(t)), Kind: KindArchive, Cause: CauseArchive}, []StepName{Archive}, now, p)
	case due(c.DeleteAt):
		t := c.DeleteAt
		c.DeleteAt = time.Time{}
		v.Status = EventApplied
		steps := []StepName{DestroyCompute, DestroyDatabase}
		switch c.State {
		case StateArchived:
			steps = []StepName{DestroyCompute, DestroyArchive}
		case StateCanceled:
		default:
			return v
		}
		c.begin(&v, Saga{ID: lifecycleSagaID(KindDelete, c.ID, key(t)), Kind: KindDelete, Cause: CauseDelete}, steps, now, p)
	}
	return v
}

// Deprovision starts the operator's force-deprovision of c at now: compute,
// workspace, database and archive are deleted whatever the state.
func (c *Customer) Deprovision(now time.Time, p Policy) (Verdict, error) {
	if c.ActiveSaga != "" {
		return Verdict{}, fmt.Errorf("saga %s is running for %s", c.ActiveSaga, c.ID)
	}
	if c.State == StateDeleted {
		return Verdict{}, fmt.Errorf("customer %s is deleted already", c.ID)
	}
	v := Verdict{Status: EventApplied}
	c.GraceUntil, c.ArchiveAt, c.DeleteAt = time.Time{}, time.Time{}, time.Time{}
	id := lifecycleSagaID(KindDeprovision, c.ID, fmt.Sprint(now.Unix()))
	c.begin(&v, Saga{ID: id, Kind: KindDeprovision, Cause: "operator"}, DeprovisionSteps, now, p)
	return v, nil
}

// Retry starts a new saga redoing old (which ended compensated or failed)
// for c, with id retry<n>-<old>.
func (c *Customer) Retry(old *Saga, n int, now time.Time, p Policy) (Verdict, error) {
	if old.Status != Compensated && old.Status != Failed {
		return Verdict{}, fmt.Errorf("saga %s is %s; only compensated or failed sagas are retried", old.ID, old.Status)
	}
	if c.ActiveSaga != "" {
		return Verdict{}, fmt.Errorf("saga %s is running for %s", c.ActiveSaga, c.ID)
	}
	v := Verdict{Status: EventApplied}
	// No checkout session: it belongs to the original saga (and is unique).
	spec := Saga{ID: fmt.Sprintf("retry%d-%s", n, old.ID), Kind: old.Kind,
		Plan: old.Plan, PreviousPlan: old.PreviousPlan, Cause: "retry " + old.ID}
	var steps []StepName
	for _, st := range old.Steps {
		steps = append(steps, st.Name)
	}
	c.begin(&v, spec, steps, now, p)
	if old.Kind == KindSignup {
		// A fresh signup provisions from scratch with the customer's inputs.
		v.Saga.Email, v.Saga.Name, v.Saga.Timezone = old.Email, old.Name, old.Timezone
		v.Saga.DatabaseRef, v.Saga.InstanceURL = "", ""
		if c.State == StateDeleted {
			c.setState(&v, StateProvisioning, "retry", spec.ID, spec.ID)
		}
	}
	return v, nil
}

// Finished applies the end of c's active saga s to c: its state, refs,
// timers and notices. A saga that is not c's active one changes nothing.
func (c *Customer) Finished(s *Saga, now time.Time, l Lifecycle) Verdict {
	var v Verdict
	if c.ActiveSaga != s.ID || !s.Status.Final() {
		return v
	}
	v.Status = EventApplied
	c.ActiveSaga = ""
	done := s.Status == Completed
	cause := "saga." + string(s.Status)
	switch s.Kind {
	case KindSignup:
		switch {
		case done:
			c.DatabaseRef, c.InstanceURL = s.DatabaseRef, s.InstanceURL
			c.setState(&v, StateActive, cause, s.ID, s.ID)
			c.notice(&v, "welcome", s.ID, nil)
		case s.Status == Compensated:
			c.setState(&v, StateDeleted, cause, s.ID, s.ID)
		}
	case KindReactivate:
		if done {
			c.DatabaseRef, c.InstanceURL, c.ArchiveRef = s.DatabaseRef, s.InstanceURL, ""
			c.GraceUntil, c.ArchiveAt, c.DeleteAt = time.Time{}, time.Time{}, time.Time{}
			c.setState(&v, StateActive, cause, s.ID, s.ID)
			c.notice(&v, "welcome", s.ID, nil)
		}
	case KindPlanChange:
		if done {
			c.Plan = s.Plan
		}
	case KindSuspend:
		if done {
			c.setState(&v, StateSuspended, CauseGrace, s.ID, s.ID)
			c.notice(&v, "suspended", s.ID, nil)
		}
	case KindResume:
		if done {
			if s.InstanceURL != "" {
				c.InstanceURL = s.InstanceURL
			}
			c.setState(&v, StateActive, cause, s.ID, s.ID)
			c.notice(&v, "resumed", s.ID, nil)
		}
	case KindCancel:
		if done {
			c.ArchiveAt, c.DeleteAt = now.Add(l.ArchiveAfter), now.Add(l.DeleteAfter)
			c.setState(&v, StateCanceled, cause, s.ID, s.ID)
			c.notice(&v, "canceled", s.ID, map[string]string{
				"archive_at": c.ArchiveAt.UTC().Format(time.RFC3339), "delete_at": c.DeleteAt.UTC().Format(time.RFC3339),
			})
		}
	case KindArchive:
		if done {
			c.ArchiveRef = s.ArchiveRef
			c.setState(&v, StateArchived, CauseArchive, s.ID, s.ID)
		}
	case KindDelete, KindDeprovision:
		if done {
			c.GraceUntil, c.ArchiveAt, c.DeleteAt = time.Time{}, time.Time{}, time.Time{}
			c.ArchiveRef = ""
			c.setState(&v, StateDeleted, cause, s.ID, s.ID)
			c.notice(&v, "deleted", s.ID, nil)
		}
	}
	return v
}
