package bus

import (
	"context"
	"fmt"
	"strings"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// Journal records the commands a step service has carried out, by
// JournalKey. pkg/bus/pgjournal keeps one in Postgres.
type Journal interface {
	// Done reports whether the command with key was carried out.
	Done(ctx context.Context, key string) (bool, error)
	// Record notes that the command with key was carried out (or failed for
	// good, see JournalFailure). Recording twice is harmless.
	Record(ctx context.Context, key string) error
}

// JournalKey is a command's idempotency key: its subject and the saga step
// attempt it carries, subject/saga/step/attempt.
func JournalKey(subject string, s *pb.Step) string {
	return fmt.Sprintf("%s/%s/%s/%d", subject, s.GetSagaId(), s.GetName(), s.GetAttempt())
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary: protojson
// refuses invalid UTF-8.
func truncateUTF8(s string, n int) string {
	return strings.ToValidUTF8(s[:n], "")
}
