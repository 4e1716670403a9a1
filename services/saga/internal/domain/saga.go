// Package domain is the sagas and the customer lifecycle as pure state
// machines: it knows the steps, their order, the retry and timeout policy,
// the compensations and the customer's states, and nothing about the bus,
// the database or the clock (callers pass now).
//
// Every transition mutates a Saga in place and returns an Outcome telling
// the caller what to persist and send. Inputs that do not apply to the
// current state (duplicates, late or stale results) change nothing and say
// why in Outcome.Ignored: idempotency comes from state, not from the bus's
// dedup window.
package domain

import (
	"strings"
	"time"
)

// Kind is the kind of saga this package drives first: a customer's signup.
const Kind = KindSignup

// Saga kinds. Every kind runs on the same machine: its steps are sent rank
// by rank (steps of equal rank in parallel), a failed step compensates the
// compensable steps in reverse order, and the customer's record follows
// the saga's final status (see Customer).
const (
	KindSignup      = "signup"
	KindReactivate  = "reactivate"
	KindPlanChange  = "plan_change"
	KindSuspend     = "suspend"
	KindResume      = "resume"
	KindCancel      = "cancel"
	KindArchive     = "archive"
	KindDelete      = "delete"
	KindDeprovision = "deprovision"
)

// Kinds lists every saga kind.
var Kinds = []string{KindSignup, KindReactivate, KindPlanChange, KindSuspend, KindResume, KindCancel, KindArchive, KindDelete, KindDeprovision}

// StepName names a step. A name is unique across kinds: the step service
// echoes it in pb.Step.name and it selects the command and compensation.
type StepName string

// The steps of the signup saga.
const (
	Database StepName = "database"
	// Prepare does, in parallel with Database, the compute work that needs
	// no database (cmd.compute.prepare: with Railway, the service and its
	// domain); Compute then only sets variables and deploys. Undone by
	// cmd.compute.delete, like Compute.
	Prepare   StepName = "prepare"
	Workspace StepName = "workspace"
	Compute   StepName = "compute"
	Instance  StepName = "instance"
)

// The steps of the lifecycle sagas.
const (
	// Resize applies the plan's compute size and quota; undone by resizing
	// back to the previous plan.
	Resize StepName = "resize"
	// Skills re-renders the plan's skills; undone by rendering the previous
	// plan's.
	Skills StepName = "skills"
	// Stop stops the runtime (suspended or canceled).
	Stop StepName = "stop"
	// StartCompute starts a stopped runtime.
	StartCompute StepName = "start"
	// Revoke revokes every API key.
	Revoke StepName = "revoke"
	// Rekey issues a new API key through cmd.workspace.build (reactivation).
	Rekey StepName = "rekey"
	// Archive dumps the database (and so the workspace) to archive storage.
	Archive StepName = "archive"
	// Restore recreates the database from its archive.
	Restore StepName = "restore"
	// DestroyArchive deletes the archive for good.
	DestroyArchive StepName = "destroy_archive"
	// DestroyCompute deletes the compute service for good.
	DestroyCompute StepName = "destroy_compute"
	// DestroyWorkspace deletes the workspace for good.
	DestroyWorkspace StepName = "destroy_workspace"
	// DestroyDatabase deletes the live database for good.
	DestroyDatabase StepName = "destroy_database"
)

// Order lists the signup steps in their forward order.
var Order = []StepName{Database, Prepare, Compute, Workspace, Instance}

// Command is what a step asks a step service to do, named
// <service>.<verb>. The coordinator's app publishes each on its bus subject;
// this package knows nothing of the bus.
type Command string

// The commands of the step services.
const (
	CmdCreateDatabase   Command = "database.create"
	CmdDeleteDatabase   Command = "database.delete"
	CmdArchiveDatabase  Command = "database.archive"
	CmdRestoreDatabase  Command = "database.restore"
	CmdDeleteArchive    Command = "database.delete_archive"
	CmdPrepareCompute   Command = "compute.prepare"
	CmdProvisionCompute Command = "compute.provision"
	CmdDeleteCompute    Command = "compute.delete"
	CmdResizeCompute    Command = "compute.resize"
	CmdStopCompute      Command = "compute.stop"
	CmdStartCompute     Command = "compute.start"
	CmdBuildWorkspace   Command = "workspace.build"
	CmdDeleteWorkspace  Command = "workspace.delete"
	CmdRenderSkills     Command = "workspace.render_skills"
	CmdRevokeKeys       Command = "workspace.revoke_keys"
	CmdCheckInstance    Command = "instance.check"
)

// Commands lists every command a saga sends.
var Commands = []Command{
	CmdCreateDatabase, CmdDeleteDatabase, CmdArchiveDatabase, CmdRestoreDatabase, CmdDeleteArchive,
	CmdPrepareCompute, CmdProvisionCompute, CmdDeleteCompute, CmdResizeCompute, CmdStopCompute, CmdStartCompute,
	CmdBuildWorkspace, CmdDeleteWorkspace, CmdRenderSkills, CmdRevokeKeys, CmdCheckInstance,
}

// Service is the step service that carries c out ("database", "compute",
// "workspace", "instance").
func (c Command) Service() string {
	service, _, _ := strings.Cut(string(c), ".")
	return service
}

// stepDef is what the machine knows about a step: its command, its
// compensation ("" when it has none), its rank, and its policy: which
// configured timeout bounds one attempt, and how many attempts it gets.
// Steps of a saga run rank by rank; steps of the same rank run in parallel.
type stepDef struct {
	forward, backward Command
	rank              int
	wait              wait
	tries             tries
}

// tries names how many attempts a step gets.
type tries int

const (
	// triesConfigured: Policy.MaxAttempts. A customer waits on these steps
	// (signup, plan change, resume), or a failure is compensated at once.
	triesConfigured tries = iota
	// triesPatient: twice Policy.MaxAttempts, for the archive and deletion
	// steps of day 7 and day 30. Nobody waits on them, each is idempotent,
	// and giving up stops the saga for an operator (a leftover database or
	// service that keeps costing money), so they try longer first.
	triesPatient
)

// wait names the configured timeout that bounds one attempt of a step.
type wait int

const (
	// waitAnswer: a step service answers (Policy.StepTimeout).
	waitAnswer wait = iota
	// waitBoot: a freshly started runtime answers (Policy.InstanceTimeout):
	// its first health probe (the instance check), or the compute service
	// that started it (the compute step: the process driver waits until it
	// answers, up to RUNTIME_START_TIMEOUT, 1 minute; the Railway driver
	// until its deployment succeeds, up to 10 minutes). At the answer
	// timeout (30 s) a burst of 300 signups on two cores re-sent 39-76
	// compute commands, each of which held one of the compute service's
	// handlers waiting on the customer's lock for the first, and a Railway
	// deployment longer than three of them failed the signup.
	waitBoot
	// waitEngine: the compute service restarts the runtime (a resize, a
	// resume's start), perhaps on another engine, and answers once it is
	// healthy: an OpenClaw gateway's start takes minutes on a loaded
	// machine (the larger of Policy.EngineTimeout and Policy.StepTimeout).
	// The compute service bounds the wait itself (OPENCLAW_START_TIMEOUT)
	// and answers compute.failed, so this timeout only covers a compute
	// service that does not answer at all.
	waitEngine
)

// defs is every step. A signup's workspace follows the compute step and
// goes to its running instance, which writes it through the connection it
// opened at start (one backend per new customer instead of two), beside the
// instance check, which does not need it.
var defs = map[StepName]stepDef{
	Database:  {CmdCreateDatabase, CmdDeleteDatabase, 0, waitAnswer, triesConfigured},
	Prepare:   {CmdPrepareCompute, CmdDeleteCompute, 0, waitAnswer, triesConfigured},
	Compute:   {CmdProvisionCompute, CmdDeleteCompute, 1, waitBoot, triesConfigured},
	Workspace: {CmdBuildWorkspace, CmdDeleteWorkspace, 2, waitAnswer, triesConfigured},
	Instance:  {CmdCheckInstance, "", 2, waitBoot, triesConfigured},

	Resize:           {CmdResizeCompute, CmdResizeCompute, 0, waitEngine, triesConfigured},
	Skills:           {CmdRenderSkills, CmdRenderSkills, 1, waitAnswer, triesConfigured},
	Stop:             {CmdStopCompute, "", 0, waitAnswer, triesConfigured},
	Revoke:           {CmdRevokeKeys, "", 0, waitAnswer, triesConfigured},
	Restore:          {CmdRestoreDatabase, "", 0, waitAnswer, triesConfigured},
	Rekey:            {CmdBuildWorkspace, "", 1, waitAnswer, triesConfigured},
	StartCompute:     {CmdStartCompute, "", 2, waitEngine, triesConfigured},
	Archive:          {CmdArchiveDatabase, "", 0, waitAnswer, triesPatient},
	DestroyCompute:   {CmdDeleteCompute, "", 0, waitAnswer, triesPatient},
	DestroyWorkspace: {CmdDeleteWorkspace, "", 1, waitAnswer, triesPatient},
	DestroyDatabase:  {CmdDeleteDatabase, "", 2, waitAnswer, triesPatient},
	DestroyArchive:   {CmdDeleteArchive, "", 2, waitAnswer, triesPatient},
}

// Known reports whether n is a step of some saga.
func Known(n StepName) bool {
	_, ok := defs[n]
	return ok
}

// Compensable reports whether a step has something to undo. The instance
// step only checks health, so it has no compensation; lifecycle steps other
// than resize and skills are not undone (a failure stops the saga and the
// operator retries it).
func Compensable(n StepName) bool { return defs[n].backward != "" }

// CommandOf is a step's command: its forward command, or its compensation
// when compensation is true ("" if it has none).
func CommandOf(n StepName, compensation bool) Command {
	if compensation {
		return defs[n].backward
	}
	return defs[n].forward
}

// undoSuffix marks, in pb.Step.name, the compensation of a step whose
// compensation is sent on the same subject as its command (resize, skills):
// the answer then says which of the two it answers, and the step service's
// answer ids (built from the name) differ.
const undoSuffix = "_undo"

// WireName is the pb.Step.name of step n's command or compensation.
func WireName(n StepName, compensation bool) string {
	if compensation && defs[n].backward == defs[n].forward {
		return string(n) + undoSuffix
	}
	return string(n)
}

// ParseWireName inverts WireName: the step and whether the name is that of
// its compensation (only ever true for resize and skills).
func ParseWireName(name string) (StepName, bool) {
	if base, ok := strings.CutSuffix(name, undoSuffix); ok && Known(StepName(base)) {
		return StepName(base), true
	}
	return StepName(name), false
}

// Domain is the step's service domain ("database", "workspace", "compute",
// "instance"): the service that answers it.
func Domain(n StepName) string { return defs[n].forward.Service() }

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

// Saga is the persisted state of one saga.
type Saga struct {
	ID                string
	Kind              string
	CustomerID        string
	CheckoutSessionID string
	// Plan is the plan the saga applies; PreviousPlan the one a plan change
	// leaves (the compensation's target).
	Plan         string
	PreviousPlan string
	// Cause is the Stripe event id, timer or operator action behind it.
	Cause    string
	Email    string
	Name     string
	Timezone string

	Status     Status
	FailedStep StepName
	Reason     string

	DatabaseRef string
	InstanceURL string
	APIKeyRef   string
	ArchiveRef  string

	CreatedAt, UpdatedAt time.Time
	// CompletedAt is when the saga reached a final status; zero before.
	CompletedAt time.Time

	// Steps holds one entry per step, in forward order.
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

// Policy is the configured retry and timeout policy; the step table says
// which of its timeouts bounds each step (Policy.Step).
type Policy struct {
	// StepTimeout bounds one attempt of a step that waits for a step
	// service's answer, and of every compensation but a resize's.
	StepTimeout time.Duration
	// InstanceTimeout bounds one attempt of a step that waits for a freshly
	// started runtime (the compute step, the instance check); their undo
	// takes StepTimeout.
	InstanceTimeout time.Duration
	// EngineTimeout bounds one attempt of a resize (and of its
	// compensation), which may restart the runtime on the openclaw engine
	// and is answered once that is healthy; never less than StepTimeout.
	EngineTimeout time.Duration
	// MaxAttempts is how many times a command is sent before the step (or
	// compensation) is given up.
	MaxAttempts int
}

// DefaultPolicy is the policy used when nothing is configured. Its
// EngineTimeout is longer than the compute service's default
// OPENCLAW_START_TIMEOUT (5 minutes), so a gateway too slow to start is
// reported by the compute service, with its reason, rather than timed out.
//
// InstanceTimeout is as long: the health service bounds a readiness check
// itself (HEALTH_CHECK_TIMEOUT, 45 s, for an instance that does not answer;
// up to HEALTH_START_TIMEOUT, 5 minutes, while an openclaw instance says
// its gateway is starting) and answers instance.failed, so this timeout is
// only the backstop for a health service that does not answer; shorter, it
// would resend the check, and give up on a signup, while a gateway starts.
var DefaultPolicy = Policy{StepTimeout: 30 * time.Second, InstanceTimeout: 6 * time.Minute, EngineTimeout: 6 * time.Minute, MaxAttempts: 3}

// StepPolicy is one step's policy (temporal's ActivityOptions): how long
// one attempt of its command (Timeout) or of its compensation (UndoTimeout)
// may take before it is sent again, and how many attempts are sent before it
// is given up.
type StepPolicy struct {
	Timeout     time.Duration
	UndoTimeout time.Duration
	Attempts    int
}

// Step is step n's policy: the timeout and the attempts its row in the step
// table names.
func (p Policy) Step(n StepName) StepPolicy {
	timeout, undo := p.StepTimeout, p.StepTimeout
	switch defs[n].wait {
	case waitBoot:
		// Undoing it (deleting the compute) boots nothing.
		timeout = p.InstanceTimeout
	case waitEngine:
		// Undoing a resize restarts the runtime too.
		timeout = max(p.StepTimeout, p.EngineTimeout)
		undo = timeout
	}
	attempts := p.MaxAttempts
	if defs[n].tries == triesPatient {
		attempts *= 2
	}
	return StepPolicy{Timeout: timeout, UndoTimeout: undo, Attempts: attempts}
}
