package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// Publisher publishes a message on a subject; *Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, subject string, msg proto.Message, env Envelope) (duplicate bool, err error)
}

// Command is a command the coordinator sends a step service. It names the
// saga step it belongs to; every answer echoes that step.
type Command interface {
	proto.Message
	GetStep() *pb.Step
}

// StepConfig configures a StepWorker.
type StepConfig struct {
	// Name is the worker's durable consumer; it labels the step metrics.
	Name string
	// Bus publishes the answers and the failure events.
	Bus Publisher
	// Log receives one line per command carried out.
	Log *slog.Logger
	// Metrics is where the step metrics are registered; nil registers none.
	Metrics prometheus.Registerer
	// Failed is the subject of the service's failure event (<domain>.failed).
	Failed string
	// Permanent classifies the errors that retrying cannot fix (a provider
	// refused the request, an unknown plan). Errors marked with Permanent
	// are permanent whatever it says; nil means only those.
	Permanent func(error) bool
	// Journal, when set, records every command carried out, so a command
	// replayed from the stream's history is acknowledged without acting
	// again (the stream's duplicate window is minutes, a journal forever).
	Journal Journal
}

// StepWorker is the step-reply protocol every step service speaks, in
// watermill's shape: a handler gets a command and returns its answer (or an
// error), and the worker does the rest. It checks that the command names its
// saga and customer; consults and writes the Journal; publishes the answer
// with StepEnvelope's message id; classifies errors (permanent, or retryable
// with the consumer's backoff or the error's own Delay); on a permanent
// error or a failure on the last delivery publishes <domain>.failed before
// the command is terminated, so the saga compensates instead of waiting for
// its timeout; and counts every command in the step metrics.
type StepWorker struct {
	cfg    StepConfig
	router *Router
	m      *stepMetrics
}

// NewStepWorker returns a worker without handlers and registers the step
// metrics.
func NewStepWorker(cfg StepConfig) (*StepWorker, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("step worker: no name")
	case cfg.Bus == nil:
		return nil, errors.New("step worker: no bus")
	case cfg.Failed == "":
		return nil, errors.New("step worker: no failure subject")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m, err := newStepMetrics(cfg.Metrics, cfg.Name)
	if err != nil {
		return nil, err
	}
	return &StepWorker{cfg: cfg, router: NewRouter(), m: m}, nil
}

// Router returns the router of the worker's handlers, for Bus.Run.
func (w *StepWorker) Router() *Router { return w.router }

// StepOption tunes how the worker treats one command.
type StepOption func(*stepOptions)

type stepOptions struct {
	noFailedEvent  bool
	journalFailure bool
}

// WithoutFailedEvent makes a failure of the command a dead letter only, with
// no <domain>.failed: for commands no saga step waits on (a restart request)
// and for deletes, which an operator finishes by re-driving the dead letter.
func WithoutFailedEvent() StepOption { return func(o *stepOptions) { o.noFailedEvent = true } }

// JournalFailure records in the Journal a command that failed for good too,
// so that a replay of it, after the saga compensated, does not act again and
// leave behind what nobody will undo.
func JournalFailure() StepOption { return func(o *stepOptions) { o.journalFailure = true } }

// HandleStep registers h for the command subject; a non-nil answer is
// published on reply. h returns a nil answer (and nil error) when there is
// nothing to answer, such as a command for a saga that has moved on.
func HandleStep[C any, PC interface {
	*C
	Command
}, R proto.Message](w *StepWorker, command, reply string, h func(ctx context.Context, cmd PC) (R, error), opts ...StepOption) {
	var o stepOptions
	for _, opt := range opts {
		opt(&o)
	}
	Handle(w.router, command, func(ctx context.Context, cmd PC) error {
		return w.run(ctx, command, reply, o, cmd.GetStep(), func(ctx context.Context) (proto.Message, error) {
			answer, err := h(ctx, cmd)
			if err != nil || !answer.ProtoReflect().IsValid() {
				return nil, err
			}
			return answer, nil
		})
	})
}

// Replayed tells the worker, from inside a handler, that the command was
// carried out before by the service's own record (a ledger rather than the
// Journal): the answer it returns is published again and the delivery is
// counted as a replay.
func Replayed(ctx context.Context) {
	if r, ok := ctx.Value(replayKey{}).(*bool); ok {
		*r = true
	}
}

type replayKey struct{}

// run carries out one delivery of a command.
func (w *StepWorker) run(ctx context.Context, command, reply string, o stepOptions, step *pb.Step,
	h func(context.Context) (proto.Message, error)) error {
	start := time.Now()
	if err := checkStep(step); err != nil {
		return w.settle(ctx, command, o, step, Permanent(err), start)
	}
	key := JournalKey(command, step)
	log := w.cfg.Log.With("subject", command, "saga_id", step.GetSagaId(), "customer_id", step.GetCustomerId())
	if w.cfg.Journal != nil {
		done, err := w.cfg.Journal.Done(ctx, key)
		if err != nil {
			return w.settle(ctx, command, o, step, err, start)
		}
		if done {
			w.m.observe(command, resultReplay, start)
			log.Info("command already carried out; nothing to do")
			return nil
		}
	}
	var replayed bool
	answer, err := h(context.WithValue(ctx, replayKey{}, &replayed))
	if err != nil {
		return w.settle(ctx, command, o, step, err, start)
	}
	if answer != nil {
		if _, err := w.cfg.Bus.Publish(ctx, reply, answer, StepEnvelope(reply, step)); err != nil {
			return w.settle(ctx, command, o, step, err, start)
		}
	}
	if w.cfg.Journal != nil {
		// The answer is out: failing to record it is retried, never reported
		// as the step's failure.
		if err := w.cfg.Journal.Record(ctx, key); err != nil {
			w.m.observe(command, resultRetry, start)
			return err
		}
	}
	if replayed {
		w.m.observe(command, resultReplay, start)
		return nil
	}
	w.m.observe(command, resultOK, start)
	if answer != nil {
		log.Info("command carried out", "answer", reply)
	}
	return nil
}

// Final reports whether err, returned by a handler now, fails the step for
// good (it is permanent, or this is the last delivery). A handler that must
// clean up before such a failure is reported asks it.
func (w *StepWorker) Final(ctx context.Context, err error) bool {
	d, _ := DeliveryFrom(ctx)
	return w.permanent(err) || d.Last()
}

func (w *StepWorker) permanent(err error) bool {
	return IsPermanent(err) || (w.cfg.Permanent != nil && w.cfg.Permanent(err))
}

// settle decides what a failed delivery becomes, the one place step errors
// are classified: a permanent error, or any error on the last delivery,
// fails the step for good (after telling the saga with <domain>.failed);
// anything else is redelivered.
func (w *StepWorker) settle(ctx context.Context, command string, o stepOptions, step *pb.Step, err error, start time.Time) error {
	d, _ := DeliveryFrom(ctx)
	permanent := w.permanent(err)
	if !permanent && !d.Last() {
		w.m.observe(command, resultRetry, start)
		return err
	}
	if !permanent {
		err = fmt.Errorf("gave up after %d attempts: %w", d.Attempt, err)
	}
	if !o.noFailedEvent && step.GetSagaId() != "" {
		if perr := w.publishFailed(ctx, step, err.Error()); perr != nil {
			// Not Permanent: the saga must hear of it, so the command is
			// retried until the failure event is out.
			w.m.observe(command, resultRetry, start)
			return fmt.Errorf("%v (and reporting it on %s failed: %v)", err, w.cfg.Failed, perr)
		}
	}
	if o.journalFailure && w.cfg.Journal != nil && step.GetSagaId() != "" {
		if jerr := w.cfg.Journal.Record(context.WithoutCancel(ctx), JournalKey(command, step)); jerr != nil {
			w.cfg.Log.Warn("could not record a failed command; a replay would retry it",
				"subject", command, "saga_id", step.GetSagaId(), "err", jerr)
		}
	}
	w.m.observe(command, resultFailed, start)
	return Permanent(err)
}

// maxReason bounds the failure reason carried in <domain>.failed.
const maxReason = 1000

// publishFailed tells the saga the step failed for good. It gets a context of
// its own: the handler's may be what ran out.
func (w *StepWorker) publishFailed(ctx context.Context, step *pb.Step, reason string) error {
	if len(reason) > maxReason {
		reason = truncateUTF8(reason, maxReason)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := w.cfg.Bus.Publish(pctx, w.cfg.Failed, &pb.StepFailed{Step: step, Reason: reason}, StepEnvelope(w.cfg.Failed, step))
	return err
}

// checkStep rejects a command without the ids every answer must echo.
func checkStep(s *pb.Step) error {
	switch {
	case s == nil:
		return errors.New("invalid command: no step")
	case s.GetSagaId() == "":
		return errors.New("invalid command: step has no saga_id")
	case s.GetCustomerId() == "":
		return errors.New("invalid command: step has no customer_id")
	}
	return nil
}

// StepEnvelope is the identity of the message on subject that answers step:
// message id <subject>-<saga>-<step name>-<attempt>, one rule for every step
// service. A redelivered or replayed command republishes the same id, which
// the stream drops within its duplicate window; two steps of one saga
// answered by one service (prepare and compute) never share an id.
func StepEnvelope(subject string, step *pb.Step) Envelope {
	return Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%s-%d", subject, step.GetSagaId(), step.GetName(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	}
}
