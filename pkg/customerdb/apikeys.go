package customerdb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxActiveAPIKeys bounds how many unrevoked keys a customer may hold, so a
// leaked dashboard session cannot mint keys without end.
const MaxActiveAPIKeys = 20

// ErrTooManyKeys is returned by CreateAPIKey when the customer already holds
// MaxActiveAPIKeys active keys.
var ErrTooManyKeys = errors.New("too many active api keys")

// APIKey is a key as its owner may see it: never the key or its hash.
type APIKey struct {
	ID         int64
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// usageStamp is how stale last_used_at may get: the key check writes it at
// most once per key and interval, so a busy key costs no write per request.
const usageStamp = time.Minute

// AddAPIKey records the SHA-256 hash of a new API key together with its
// displayable prefix. Adding a hash that is already stored does nothing — in
// particular it does not bring a revoked key back — so a replayed provisioning
// step is harmless.
func AddAPIKey(ctx context.Context, db DB, hash []byte, prefix string) error {
	if len(hash) != sha256.Size {
		return fmt.Errorf("add api key %s: hash is %d bytes, want %d", prefix, len(hash), sha256.Size)
	}
	const q = `INSERT INTO api_keys (prefix, hash) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING`
	if _, err := db.Exec(ctx, q, prefix, hash); err != nil {
		return fmt.Errorf("add api key %s: %w", prefix, err)
	}
	return nil
}

// CreateAPIKey records a key the customer asked for, named name, unless they
// already hold MaxActiveAPIKeys active keys (ErrTooManyKeys). A
// transaction-level advisory lock orders concurrent creates, so the limit is
// exact.
func CreateAPIKey(ctx context.Context, db TxBeginner, hash []byte, prefix, name string) (APIKey, error) {
	if len(hash) != sha256.Size {
		return APIKey{}, fmt.Errorf("create api key %s: hash is %d bytes, want %d", prefix, len(hash), sha256.Size)
	}
	var k APIKey
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// One lock per customer database: key creation is rare.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(4242001)`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE revoked_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n >= MaxActiveAPIKeys {
			return ErrTooManyKeys
		}
		return tx.QueryRow(ctx, `INSERT INTO api_keys (prefix, hash, name) VALUES ($1, $2, $3)
			RETURNING id, name, prefix, created_at, last_used_at, revoked_at`, prefix, hash, name).
			Scan(&k.ID, &k.Name, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	})
	if err != nil {
		if errors.Is(err, ErrTooManyKeys) {
			return APIKey{}, err
		}
		return APIKey{}, fmt.Errorf("create api key %s: %w", prefix, err)
	}
	return k, nil
}

// ListAPIKeys returns every key, active ones first, newest first.
func ListAPIKeys(ctx context.Context, db DB) ([]APIKey, error) {
	rows, err := db.Query(ctx, `SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys
		ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[APIKey])
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes one key by id. It reports false for no such key; a
// key already revoked keeps its revocation time and reports true.
func RevokeAPIKey(ctx context.Context, db DB, id int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("revoke api key %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RevokeAPIKeys revokes every active API key of the customer (on cancellation
// or when a key is rotated). Keys already revoked keep their revocation time.
func RevokeAPIKeys(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, "UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL"); err != nil {
		return fmt.Errorf("revoke api keys: %w", err)
	}
	return nil
}

// CheckAPIKey reports whether hash belongs to an active (not revoked) key,
// and records the use (at most once a minute per key). A hash of the wrong
// length is simply unknown.
//
// It reads the key's row on every call, so a revocation takes effect on the
// very next request.
func CheckAPIKey(ctx context.Context, db DB, hash []byte) (bool, error) {
	if len(hash) != sha256.Size {
		return false, nil
	}
	// One round trip: the CTE stamps a stale last_used_at (data-modifying
	// CTEs always run); the outer query, which sees the snapshot from before
	// the stamp, reports whether an active key exists.
	const q = `
WITH stamp AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE hash = $1 AND revoked_at IS NULL
      AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2)))
SELECT EXISTS (SELECT 1 FROM api_keys WHERE hash = $1 AND revoked_at IS NULL)`
	var ok bool
	if err := db.QueryRow(ctx, q, hash, usageStamp.Seconds()).Scan(&ok); err != nil {
		return false, fmt.Errorf("check api key: %w", err)
	}
	return ok, nil
}
