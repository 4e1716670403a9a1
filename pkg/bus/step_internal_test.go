package bus

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// failingPublisher refuses every publish.
type failingPublisher struct{ tried []string }

func (p *failingPublisher) Publish(_ context.Context, subject string, _ proto.Message, _ Envelope) (bool, error) {
	p.tried = append(p.tried, subject)
	return false, errors.New("nats: timeout")
}

// An answer or a failure event that cannot be published is retried, never
// terminated: the saga must hear of the step.
func TestStepRetriesWhenPublishFails(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer error
	}{{"answer", nil}, {"failure event", Permanent(errors.New("rejected"))}} {
		t.Run(tt.name, func(t *testing.T) {
			pub := &failingPublisher{}
			w, err := NewStepWorker(StepConfig{Name: "steps", Bus: pub, Failed: subjects.DatabaseFailed})
			if err != nil {
				t.Fatal(err)
			}
			HandleStep(w, subjects.CmdDatabaseCreate, subjects.DatabaseCreated,
				func(_ context.Context, cmd *pb.CreateDatabase) (*pb.DatabaseCreated, error) {
					if tt.answer != nil {
						return nil, tt.answer
					}
					return &pb.DatabaseCreated{Step: cmd.GetStep()}, nil
				})
			ctx := context.WithValue(context.Background(), deliveryKey{}, Delivery{Attempt: 1, MaxDeliver: 8})
			err = w.Router().Dispatch(ctx, subjects.CmdDatabaseCreate,
				&pb.CreateDatabase{Step: &pb.Step{SagaId: "s", CustomerId: "c", Name: "database", Attempt: 1}})
			if err == nil || IsPermanent(err) {
				t.Fatalf("handler = %v, want a retryable error", err)
			}
			if len(pub.tried) != 1 {
				t.Errorf("publishes tried: %v", pub.tried)
			}
		})
	}
}
