package app

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// messagesFor turns a transition's outcome into the outbox messages it
// causes: each command with its saga.step_started, then saga.completed or
// saga.compensated when the saga reached one.
func messagesFor(s *domain.Saga, out domain.Outcome) ([]store.Message, error) {
	var msgs []store.Message
	add := func(subject, msgID string, m proto.Message) error {
		data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode %s: %w", subject, err)
		}
		msgs = append(msgs, store.Message{SagaID: s.ID, CustomerID: s.CustomerID, Subject: subject, MsgID: msgID, Payload: data})
		return nil
	}
	for _, c := range out.Sends {
		step := &pb.Step{SagaId: s.ID, CustomerId: s.CustomerID, Name: domain.WireName(c.Step, c.Compensation), Attempt: int32(c.Attempt)}
		if err := add(commandSubjects[c.Command()], c.MsgID(s.ID), command(s, c, step)); err != nil {
			return nil, err
		}
		if err := add(subjects.SagaStepStarted, c.StartedMsgID(s.ID), &pb.SagaStepStarted{Step: step, Compensation: c.Compensation}); err != nil {
			return nil, err
		}
	}
	var err error
	switch out.Finished {
	case domain.Completed:
		err = add(subjects.SagaCompleted, domain.FinishedMsgID(s.ID, out.Finished), &pb.SagaCompleted{
			SagaId: s.ID, CustomerId: s.CustomerID, CheckoutSessionId: s.CheckoutSessionID,
			InstanceUrl: s.InstanceURL, ApiKeyRef: s.APIKeyRef, DurationMs: s.CompletedAt.Sub(s.CreatedAt).Milliseconds(),
		})
	case domain.Compensated:
		err = add(subjects.SagaCompensated, domain.FinishedMsgID(s.ID, out.Finished), &pb.SagaCompensated{
			SagaId: s.ID, CustomerId: s.CustomerID, CheckoutSessionId: s.CheckoutSessionID,
			FailedStep: string(s.FailedStep), Reason: s.Reason,
		})
	case domain.Failed:
		err = add(subjects.SagaFailed, domain.FinishedMsgID(s.ID, out.Finished), &pb.SagaFailed{
			SagaId: s.ID, CustomerId: s.CustomerID, CheckoutSessionId: s.CheckoutSessionID,
			FailedStep: string(s.FailedStep), Reason: s.Reason,
		})
	}
	if err != nil {
		return nil, err
	}
	return msgs, nil
}

// commandSubjects is the bus subject of every command the domain sends.
var commandSubjects = map[domain.Command]string{
	domain.CmdCreateDatabase:   subjects.CmdDatabaseCreate,
	domain.CmdDeleteDatabase:   subjects.CmdDatabaseDelete,
	domain.CmdPrepareCompute:   subjects.CmdComputePrepare,
	domain.CmdDeleteCompute:    subjects.CmdComputeDelete,
	domain.CmdBuildWorkspace:   subjects.CmdWorkspaceBuild,
	domain.CmdDeleteWorkspace:  subjects.CmdWorkspaceDelete,
	domain.CmdProvisionCompute: subjects.CmdComputeProvision,
	domain.CmdCheckInstance:    subjects.CmdInstanceCheck,
	domain.CmdResizeCompute:    subjects.CmdComputeResize,
	domain.CmdRenderSkills:     subjects.CmdWorkspaceSkills,
	domain.CmdStopCompute:      subjects.CmdComputeStop,
	domain.CmdRevokeKeys:       subjects.CmdWorkspaceRevoke,
	domain.CmdRestoreDatabase:  subjects.CmdDatabaseRestore,
	domain.CmdStartCompute:     subjects.CmdComputeStart,
	domain.CmdArchiveDatabase:  subjects.CmdDatabaseArchive,
	domain.CmdDeleteArchive:    subjects.CmdDatabaseDropArchive,
}

// command builds the command c for saga s.
func command(s *domain.Saga, c domain.Send, step *pb.Step) proto.Message {
	switch c.Command() {
	case domain.CmdCreateDatabase:
		return &pb.CreateDatabase{Step: step, Plan: s.Plan}
	case domain.CmdBuildWorkspace:
		m := &pb.BuildWorkspace{Step: step, Plan: s.Plan, Name: s.Name, Email: s.Email, Timezone: s.Timezone, DatabaseRef: s.DatabaseRef}
		if c.Step == domain.Workspace {
			// The signup's instance, running since the compute step; a
			// reactivation's rekey runs while its runtime is stopped.
			m.InstanceUrl = s.InstanceURL
		}
		return m
	case domain.CmdPrepareCompute:
		return &pb.PrepareCompute{Step: step, Plan: s.Plan}
	case domain.CmdProvisionCompute:
		return &pb.ProvisionCompute{Step: step, Plan: s.Plan, DatabaseRef: s.DatabaseRef}
	case domain.CmdCheckInstance:
		return &pb.CheckInstance{Step: step, InstanceUrl: s.InstanceURL}
	case domain.CmdDeleteDatabase:
		return &pb.DeleteDatabase{Step: step}
	case domain.CmdDeleteWorkspace:
		return &pb.DeleteWorkspace{Step: step, DatabaseRef: s.DatabaseRef}
	case domain.CmdDeleteCompute:
		return &pb.DeleteCompute{Step: step}
	case domain.CmdResizeCompute:
		return &pb.ResizeCompute{Step: step, Plan: planOf(s, c)}
	case domain.CmdRenderSkills:
		return &pb.RenderSkills{Step: step, Plan: planOf(s, c), DatabaseRef: s.DatabaseRef}
	case domain.CmdStopCompute:
		reason := "suspended"
		if s.Kind == domain.KindCancel {
			reason = "canceled"
		}
		return &pb.StopCompute{Step: step, Reason: reason}
	case domain.CmdStartCompute:
		return &pb.StartCompute{Step: step, Plan: s.Plan, DatabaseRef: s.DatabaseRef}
	case domain.CmdRevokeKeys:
		return &pb.RevokeKeys{Step: step, DatabaseRef: s.DatabaseRef}
	case domain.CmdArchiveDatabase:
		return &pb.ArchiveDatabase{Step: step}
	case domain.CmdRestoreDatabase:
		return &pb.RestoreDatabase{Step: step, ArchiveRef: archiveRef(s)}
	case domain.CmdDeleteArchive:
		return &pb.DeleteArchive{Step: step, ArchiveRef: archiveRef(s)}
	}
	panic(fmt.Sprintf("saga: no command for step %s (compensation %v)", c.Step, c.Compensation))
}

// planOf is the plan a resize or render applies: the saga's, or the
// previous one when it is the compensation.
func planOf(s *domain.Saga, c domain.Send) string {
	if c.Compensation {
		return s.PreviousPlan
	}
	return s.Plan
}

// archiveRef is the saga's archive, or the customer's conventional one.
func archiveRef(s *domain.Saga) string {
	if s.ArchiveRef != "" {
		return s.ArchiveRef
	}
	return names.ArchiveRef(s.CustomerID)
}
