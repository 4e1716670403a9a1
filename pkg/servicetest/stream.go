package servicetest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
)

// Count returns how many messages stream holds on subject now. It asks the
// stream itself, so unlike a Recorder (which trails the stream) it sees every
// message the stream has accepted: use it to assert that something was not
// published, or was published exactly once.
func Count(t testing.TB, js jetstream.JetStream, stream, subject string) int {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("servicetest: stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("servicetest: stream info %s: %v", stream, err)
	}
	return int(info.State.Subjects[subject])
}

// Last decodes the last message stream holds on subject into dst, failing
// the test when there is none.
func Last(t testing.TB, js jetstream.JetStream, stream, subject string, dst proto.Message) {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("servicetest: stream %s: %v", stream, err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatalf("servicetest: last %s: %v", subject, err)
	}
	if err := bus.Decode(m.Data, dst); err != nil {
		t.Fatalf("servicetest: decode %s: %v", subject, err)
	}
}

// WaitLast waits until stream holds a message on subject and returns the
// last one.
func WaitLast(t testing.TB, js jetstream.JetStream, stream, subject string, timeout time.Duration) *jetstream.RawStreamMsg {
	t.Helper()
	var msg *jetstream.RawStreamMsg
	Eventually(t, timeout, "a message on "+subject, func() bool {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			return false
		}
		msg, err = s.GetLastMsgForSubject(context.Background(), subject)
		return err == nil
	})
	return msg
}
