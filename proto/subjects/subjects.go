// Package subjects names every subject on the bus, once, and maps each to the
// protobuf message it carries. Nothing else in the repository spells a subject.
package subjects

import (
	"google.golang.org/protobuf/proto"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// Stream names.
const (
	// Stream is the Limits-retention stream of every domain event and command;
	// its history is what operators replay.
	Stream = "CLAW"
	// DeadLetterStream holds messages a consumer terminated or gave up on.
	DeadLetterStream = "CLAW_DLQ"
	// DeadLetterPrefix prefixes dead-letter subjects: deadletter.<consumer>.
	DeadLetterPrefix = "deadletter."
)

// Domain events.
const (
	CustomerSignedUp   = "customer.signed_up"
	DatabaseCreated    = "database.created"
	DatabaseDeleted    = "database.deleted"
	DatabaseFailed     = "database.failed"
	WorkspaceBuilt     = "workspace.built"
	WorkspaceDeleted   = "workspace.deleted"
	WorkspaceFailed    = "workspace.failed"
	ComputeProvisioned = "compute.provisioned"
	ComputePrepared    = "compute.prepared"
	ComputeDeleted     = "compute.deleted"
	ComputeFailed      = "compute.failed"
	InstanceReady      = "instance.ready"
	InstanceFailed     = "instance.failed"
	SagaStepStarted    = "saga.step_started"
	SagaCompleted      = "saga.completed"
	SagaCompensated    = "saga.compensated"
	SagaFailed         = "saga.failed"

	CustomerPlanChanged      = "customer.plan_changed"
	CustomerTrialWillEnd     = "customer.trial_will_end"
	CustomerPaymentFailed    = "customer.payment_failed"
	CustomerPaymentSucceeded = "customer.payment_succeeded"
	CustomerCanceled         = "customer.canceled"
	CustomerStateChanged     = "customer.state_changed"
	CustomerNotice           = "customer.notice"

	ComputeResized   = "compute.resized"
	ComputeStopped   = "compute.stopped"
	ComputeStarted   = "compute.started"
	SkillsRendered   = "workspace.skills_rendered"
	KeysRevoked      = "workspace.keys_revoked"
	DatabaseArchived = "database.archived"
	DatabaseRestored = "database.restored"
	ArchiveDeleted   = "database.archive_deleted"

	InstanceUnhealthy = "instance.unhealthy"
	InstanceRecovered = "instance.recovered"
	ComputeRestarted  = "compute.restarted"
)

// Commands the coordinator sends to step services.
const (
	CmdDatabaseCreate   = "cmd.database.create"
	CmdDatabaseDelete   = "cmd.database.delete"
	CmdWorkspaceBuild   = "cmd.workspace.build"
	CmdWorkspaceDelete  = "cmd.workspace.delete"
	CmdComputeProvision = "cmd.compute.provision"
	CmdComputePrepare   = "cmd.compute.prepare"
	CmdComputeDelete    = "cmd.compute.delete"
	CmdInstanceCheck    = "cmd.instance.check"

	CmdComputeResize       = "cmd.compute.resize"
	CmdComputeStop         = "cmd.compute.stop"
	CmdComputeStart        = "cmd.compute.start"
	CmdWorkspaceSkills     = "cmd.workspace.render_skills"
	CmdWorkspaceRevoke     = "cmd.workspace.revoke_keys"
	CmdDatabaseArchive     = "cmd.database.archive"
	CmdDatabaseRestore     = "cmd.database.restore"
	CmdDatabaseDropArchive = "cmd.database.delete_archive"

	// CmdComputeRestart is sent by the health service, not the coordinator.
	CmdComputeRestart = "cmd.compute.restart"
)

// The commands of each step service: its consumer's one filter, which the
// bus permissions pin (pkg/busauth).
const (
	CmdDatabaseAll  = "cmd.database.>"
	CmdWorkspaceAll = "cmd.workspace.>"
	CmdComputeAll   = "cmd.compute.>"
)

// StreamSubjects are the subject filters of Stream.
var StreamSubjects = []string{"customer.>", "database.>", "workspace.>", "compute.>", "instance.>", "saga.>", "cmd.>"}

var registry = map[string]func() proto.Message{
	CustomerSignedUp:    func() proto.Message { return &pb.CustomerSignedUp{} },
	DatabaseCreated:     func() proto.Message { return &pb.DatabaseCreated{} },
	DatabaseDeleted:     func() proto.Message { return &pb.DatabaseDeleted{} },
	DatabaseFailed:      func() proto.Message { return &pb.StepFailed{} },
	WorkspaceBuilt:      func() proto.Message { return &pb.WorkspaceBuilt{} },
	WorkspaceDeleted:    func() proto.Message { return &pb.WorkspaceDeleted{} },
	WorkspaceFailed:     func() proto.Message { return &pb.StepFailed{} },
	ComputeProvisioned:  func() proto.Message { return &pb.ComputeProvisioned{} },
	ComputeDeleted:      func() proto.Message { return &pb.ComputeDeleted{} },
	ComputePrepared:     func() proto.Message { return &pb.ComputePrepared{} },
	ComputeFailed:       func() proto.Message { return &pb.StepFailed{} },
	InstanceReady:       func() proto.Message { return &pb.InstanceReady{} },
	InstanceFailed:      func() proto.Message { return &pb.StepFailed{} },
	SagaStepStarted:     func() proto.Message { return &pb.SagaStepStarted{} },
	SagaCompleted:       func() proto.Message { return &pb.SagaCompleted{} },
	SagaCompensated:     func() proto.Message { return &pb.SagaCompensated{} },
	SagaFailed:          func() proto.Message { return &pb.SagaFailed{} },
	CmdDatabaseCreate:   func() proto.Message { return &pb.CreateDatabase{} },
	CmdDatabaseDelete:   func() proto.Message { return &pb.DeleteDatabase{} },
	CmdWorkspaceBuild:   func() proto.Message { return &pb.BuildWorkspace{} },
	CmdWorkspaceDelete:  func() proto.Message { return &pb.DeleteWorkspace{} },
	CmdComputeProvision: func() proto.Message { return &pb.ProvisionCompute{} },
	CmdComputeDelete:    func() proto.Message { return &pb.DeleteCompute{} },
	CmdComputePrepare:   func() proto.Message { return &pb.PrepareCompute{} },
	CmdInstanceCheck:    func() proto.Message { return &pb.CheckInstance{} },

	CustomerPlanChanged:      func() proto.Message { return &pb.CustomerPlanChanged{} },
	CustomerTrialWillEnd:     func() proto.Message { return &pb.CustomerTrialWillEnd{} },
	CustomerPaymentFailed:    func() proto.Message { return &pb.CustomerPaymentFailed{} },
	CustomerPaymentSucceeded: func() proto.Message { return &pb.CustomerPaymentSucceeded{} },
	CustomerCanceled:         func() proto.Message { return &pb.CustomerCanceled{} },
	CustomerStateChanged:     func() proto.Message { return &pb.CustomerStateChanged{} },
	CustomerNotice:           func() proto.Message { return &pb.CustomerNotice{} },
	ComputeResized:           func() proto.Message { return &pb.ComputeResized{} },
	ComputeStopped:           func() proto.Message { return &pb.ComputeStopped{} },
	ComputeStarted:           func() proto.Message { return &pb.ComputeStarted{} },
	SkillsRendered:           func() proto.Message { return &pb.SkillsRendered{} },
	KeysRevoked:              func() proto.Message { return &pb.KeysRevoked{} },
	DatabaseArchived:         func() proto.Message { return &pb.DatabaseArchived{} },
	DatabaseRestored:         func() proto.Message { return &pb.DatabaseRestored{} },
	ArchiveDeleted:           func() proto.Message { return &pb.ArchiveDeleted{} },
	CmdComputeResize:         func() proto.Message { return &pb.ResizeCompute{} },
	CmdComputeStop:           func() proto.Message { return &pb.StopCompute{} },
	CmdComputeStart:          func() proto.Message { return &pb.StartCompute{} },
	CmdWorkspaceSkills:       func() proto.Message { return &pb.RenderSkills{} },
	CmdWorkspaceRevoke:       func() proto.Message { return &pb.RevokeKeys{} },
	CmdDatabaseArchive:       func() proto.Message { return &pb.ArchiveDatabase{} },
	CmdDatabaseRestore:       func() proto.Message { return &pb.RestoreDatabase{} },
	CmdDatabaseDropArchive:   func() proto.Message { return &pb.DeleteArchive{} },
	InstanceUnhealthy:        func() proto.Message { return &pb.InstanceUnhealthy{} },
	InstanceRecovered:        func() proto.Message { return &pb.InstanceRecovered{} },
	ComputeRestarted:         func() proto.Message { return &pb.ComputeRestarted{} },
	CmdComputeRestart:        func() proto.Message { return &pb.RestartCompute{} },
}

// New returns an empty message of the type subject carries, or nil for a
// subject the platform does not know.
func New(subject string) proto.Message {
	if f, ok := registry[subject]; ok {
		return f()
	}
	return nil
}

// All returns every known subject.
func All() []string {
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	return out
}

// Admin request/reply subjects (core NATS, not the stream): the saga
// coordinator answers them with JSON; the ingress admin endpoints and the
// CLI call them. Request and response shapes: services/saga/README.md.
const (
	// AdminSagaCustomerGet shows one customer: plan, state, instance,
	// resources, timers due, recent sagas.
	AdminSagaCustomerGet = "admin.saga.customer.get"
	// AdminSagaCustomerDeprovision force-deprovisions a customer.
	AdminSagaCustomerDeprovision = "admin.saga.customer.deprovision"
	// AdminSagaList lists sagas, filtered by status, kind or customer.
	AdminSagaList = "admin.saga.sagas.list"
	// AdminSagaGet shows one saga with its steps, timings and errors.
	AdminSagaGet = "admin.saga.saga.get"
	// AdminSagaRetry retries a saga that ended compensated or failed.
	AdminSagaRetry = "admin.saga.saga.retry"
)

// IngressProgressChanged is a core NATS subject (not the stream): the
// ingress's projector publishes a saga id on it after recording progress of
// that signup, and every ingress process wakes the reads waiting on it. Only
// the ingress may publish or subscribe (pkg/busauth). The payload is the
// saga id as plain text: saga ids grant nothing (they are in every log line),
// the Checkout Session id, which does, is never sent.
const IngressProgressChanged = "ingress.progress.changed"

// Admin request/reply subjects of the compute service (core NATS): the
// process driver's owner answers them with JSON; `clawctl openclaw` calls
// them as the operator. Shapes: services/railway/README.md.
const (
	// AdminComputeAll matches every compute admin subject.
	AdminComputeAll = "admin.compute.>"
	// AdminComputeOpenClawRollout starts a health-gated rollout of an
	// OpenClaw version and answers at once.
	AdminComputeOpenClawRollout = "admin.compute.openclaw.rollout"
	// AdminComputeOpenClawStatus shows the pinned version, the instances
	// by version and the latest rollout's report.
	AdminComputeOpenClawStatus = "admin.compute.openclaw.status"
)
