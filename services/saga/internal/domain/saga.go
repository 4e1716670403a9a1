// Package domain is the signup saga as a pure state machine: it knows the
// steps, their order, the retry and timeout policy and the compensations,
// and nothing about the bus, the database or the clock (callers pass now).
//
// Every transition mutates a Saga in place and returns an Outcome telling
// the caller what to persist and send. Inputs that do not apply to the
// current state (duplicates, late or stale results) change nothing and say
// why in Outcome.Ignored: idempotency comes from state, not from the bus's
// dedup window.
package domain

import (
	"time"

	"clawdbot.cloud/proto/subjects"
)

// Kind is the kind of saga this package drives.
const Kind = "signup"

// StepName names a step of the signup saga.
type StepName string

// The steps of the signup saga.
const (
	Database  StepName = "database"
	Workspace StepName = "workspace"
	Compute   StepName = "compute"
	Instance  StepName = "instance"
)

// Order lists the steps in their forward order; Saga.Steps follows it.
var Order = []StepName{Database, Workspace, Compute, Instance}

// Known reports whether n is a step of the signup saga.
func Known(n StepName) bool {
	for _, o := range Order {
		if o == n {
			return true
		}
	}
	return false
}

// Compensable reports whether a step has something to undo. The instance
// step only checks health, so it has no compensation.
func Compensable(n StepName) bool { return n == Database || n == Workspace || n == Compute }

// CommandSubject is the subject of a step's command: its forward command, or
// its compensation when compensation is true ("" if it has none).
func CommandSubject(n StepName, compensation bool) string {
	forward := map[StepName]string{
		Database:  subjects.CmdDatabaseCreate,
		Workspace: subjects.CmdWorkspaceBuild,
		Compute:   subjects.CmdComputeProvision,
		Instance:  subjects.CmdInstanceCheck,
	}
	backward := map[StepName]string{
		Database:  subjects.CmdDatabaseDelete,
		Workspace: subjects.CmdWorkspaceDelete,
		Compute:   subjects.CmdComputeDelete,
	}
	if compensation {
		return backward[n]
	}
	return forward[n]
}

// Status is the status of a saga.
type Status string

// Saga statuses. Completed, Compensated and Failed are final; Failed means a
// compensation could not finish and an operator must look.
const (
	Running      Status = "running"
	Completed    Status = "completed"
	Compensating Status = "compensating"
	Compensated  Status = "compensated"
	Failed       Status = "failed"
)

// Final reports whether no further transition can happen.
func (s Status) Final() bool { return s == Completed || s == Compensated || s == Failed }

// StepStatus is the status of one step.
type StepStatus string

// Step statuses.
const (
	StepPending      StepStatus = "pending"
	StepRunning      StepStatus = "running"
	StepDone         StepStatus = "done"
	StepFailed       StepStatus = "failed"
	StepCompensating StepStatus = "compensating"
	StepCompensated  StepStatus = "compensated"
)

// Step is the state of one step of a saga.
type Step struct {
	Name   StepName
	Status StepStatus
	// Attempt is the forward command's attempt, 0 before it is first sent.
	Attempt int
	// CompensationAttempt is the compensation command's attempt, 0 before.
	CompensationAttempt int
	// StartedAt is when the first attempt was sent; FinishedAt when the step
	// last settled (done, failed, compensated). Zero when unset.
	StartedAt, FinishedAt time.Time
	// Deadline is when the command in flight times out; zero when none is.
	Deadline time.Time
	// Error is the last failure seen, for operators.
	Error string
	// DoneOrder is the order in which the step settled (1, 2, ...), 0 while
	// it has not. Compensations run in reverse DoneOrder, so the parallel
	// workspace and compute steps are undone in reverse of how they finished.
	DoneOrder int
}

// Saga is the persisted state of one signup saga.
type Saga struct {
	ID                string
	Kind              string
	CustomerID        string
	CheckoutSessionID string
	Plan              string
	Email             string
	Name              string
	Timezone          string

	Status     Status
	FailedStep StepName
	Reason     string

	DatabaseRef string
	InstanceURL string
	APIKeyRef   string

	CreatedAt, UpdatedAt time.Time
	// CompletedAt is when the saga reached a final status; zero before.
	CompletedAt time.Time

	// Steps holds one entry per step, in Order.
	Steps []Step
}

// Step returns the named step, or nil for a name the saga does not have.
func (s *Saga) Step(n StepName) *Step {
	for i := range s.Steps {
		if s.Steps[i].Name == n {
			return &s.Steps[i]
		}
	}
	return nil
}

// Policy is the per-step retry and timeout policy.
type Policy struct {
	// StepTimeout bounds one attempt of the database, workspace and compute
	// steps and of every compensation.
	StepTimeout time.Duration
	// InstanceTimeout bounds one attempt of the instance check, which waits
	// for a freshly started runtime.
	InstanceTimeout time.Duration
	// MaxAttempts is how many times a command is sent before the step (or
	// compensation) is given up.
	MaxAttempts int
}

// DefaultPolicy is the policy used when nothing is configured.
var DefaultPolicy = Policy{StepTimeout: 30 * time.Second, InstanceTimeout: 60 * time.Second, MaxAttempts: 3}

func (p Policy) timeout(n StepName, compensation bool) time.Duration {
	if n == Instance && !compensation {
		return p.InstanceTimeout
	}
	return p.StepTimeout
}
