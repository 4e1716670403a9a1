package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// errInvalid marks a command that can never succeed as sent.
var errInvalid = errors.New("invalid command")

// maxDeliver is how often a command is delivered before the step fails for
// good; the last delivery publishes database.failed itself, so the saga
// compensates instead of waiting for a result that will never come.
const maxDeliver = 8

// maxReason bounds the failure reason carried in database.failed.
const maxReason = 1000

// checkStep rejects a command without the ids every result must echo.
func checkStep(s *pb.Step) error {
	switch {
	case s == nil:
		return fmt.Errorf("%w: no step", errInvalid)
	case s.GetSagaId() == "":
		return fmt.Errorf("%w: step has no saga id", errInvalid)
	case s.GetCustomerId() == "":
		return fmt.Errorf("%w: step has no customer id", errInvalid)
	}
	return nil
}

// envelope is a result's identity: its Nats-Msg-Id is the subject, saga id,
// step name and attempt, so a redelivered command republishes the same
// message and the stream drops the duplicate.
func envelope(subject string, s *pb.Step) bus.Envelope {
	return bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%s-%d", subject, s.GetSagaId(), s.GetName(), s.GetAttempt()),
		SagaID:     s.GetSagaId(),
		CustomerID: s.GetCustomerId(),
	}
}

// lastDelivery reports whether the message being handled will not be
// delivered again if this attempt fails.
func (a *App) lastDelivery(ctx context.Context) bool {
	d, ok := bus.DeliveryFrom(ctx)
	return ok && d.Attempt >= a.consumer.MaxDeliver
}

// settle decides what a failed operation becomes, the one place errors are
// classified: a rejection, an invalid command or a failure on the last
// delivery ends the step for good (after publishing database.failed for
// every command but a delete, so the saga compensates); anything else is retried with backoff.
func (a *App) settle(ctx context.Context, op string, step *pb.Step, err error, start time.Time) error {
	permanent := errors.Is(err, ErrRejected) || errors.Is(err, errInvalid) || a.lastDelivery(ctx)
	// The bus logs the outcome with the message's ids; no second log here.
	if !permanent {
		a.metrics.done(op, resultRetry, start)
		return err
	}
	if op != opDelete && step.GetSagaId() != "" {
		if perr := a.publishFailed(ctx, step, err); perr != nil {
			a.metrics.done(op, resultRetry, start)
			return fmt.Errorf("%w (publish %s: %v)", err, subjects.DatabaseFailed, perr)
		}
	}
	if op == opCreate && step.GetSagaId() != "" {
		// The saga compensates on database.failed; a replay of this command
		// must not create a database nobody will delete. (A failed delete is
		// not recorded: re-driving its dead letter is how an operator
		// finishes it.)
		if jerr := a.journal.record(context.WithoutCancel(ctx), commandKey(subjects.CmdDatabaseCreate, step)); jerr != nil {
			a.log.Warn("could not record a failed create; a replay would retry it", "saga_id", step.GetSagaId(), "err", jerr)
		}
	}
	a.metrics.done(op, resultFailed, start)
	return bus.Permanent(err)
}

// publishFailed tells the saga the database step failed for good. It gets a
// context of its own: the handler's may be what ran out.
func (a *App) publishFailed(ctx context.Context, step *pb.Step, cause error) error {
	reason := cause.Error()
	if len(reason) > maxReason {
		// Cut on a rune boundary: protojson refuses invalid UTF-8.
		reason = strings.ToValidUTF8(reason[:maxReason], "")
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := a.bus.Publish(pctx, subjects.DatabaseFailed, &pb.StepFailed{Step: step, Reason: reason},
		envelope(subjects.DatabaseFailed, step))
	return err
}

// replayed reports whether the command (subject, step) was carried out
// before; the handler then acknowledges it without acting again.
func (a *App) replayed(ctx context.Context, op, subject string, step *pb.Step, start time.Time) (bool, error) {
	done, err := a.journal.done(ctx, commandKey(subject, step))
	if err != nil || !done {
		return false, err
	}
	a.metrics.done(op, resultReplay, start)
	a.log.Info("command already carried out; nothing to do", "subject", subject,
		"saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	return true, nil
}

// finish records the command as carried out once its result is published.
// Failing to record is retried like any transient failure, but never turns
// into database.failed: the result is already out.
func (a *App) finish(ctx context.Context, op, subject string, step *pb.Step, start time.Time) error {
	if err := a.journal.record(ctx, commandKey(subject, step)); err != nil {
		a.metrics.done(op, resultRetry, start)
		return err
	}
	a.metrics.done(op, resultOK, start)
	return nil
}
