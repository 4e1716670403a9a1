package app

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

//go:embed migrations/*.sql
var migrations embed.FS

// schema is the service's own schema in the control-plane database.
const schema = "neon"

// journal records the commands the service has carried out, so that a
// command replayed from the stream's history (by an operator, or a
// redelivery after the result was published) changes nothing: the dedup
// window of the stream is minutes, the journal is forever.
type journal struct{ db *pgxpool.Pool }

// migrate creates the journal's table.
func (j journal) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	return migrate.Apply(ctx, j.db, schema, sub)
}

// commandKey is a command's idempotency key: the saga's step attempt.
func commandKey(subject string, s *pb.Step) string {
	return fmt.Sprintf("%s/%s/%s/%d", subject, s.GetSagaId(), s.GetName(), s.GetAttempt())
}

// done reports whether the command with key was carried out.
func (j journal) done(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := j.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM neon.processed_commands WHERE key = $1)`, key).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read command journal: %w", err)
	}
	return ok, nil
}

// record notes that the command with key was carried out and its result
// published.
func (j journal) record(ctx context.Context, key string) error {
	_, err := j.db.Exec(ctx, `INSERT INTO neon.processed_commands (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, key)
	if err != nil {
		return fmt.Errorf("write command journal: %w", err)
	}
	return nil
}
