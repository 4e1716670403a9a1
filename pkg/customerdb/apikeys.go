package customerdb

import (
	"context"
	"crypto/sha256"
	"fmt"
)

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

// RevokeAPIKeys revokes every active API key of the customer (on cancellation
// or when a key is rotated). Keys already revoked keep their revocation time.
func RevokeAPIKeys(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, "UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL"); err != nil {
		return fmt.Errorf("revoke api keys: %w", err)
	}
	return nil
}

// CheckAPIKey reports whether hash belongs to an active (not revoked) key. A
// hash of the wrong length is simply unknown.
func CheckAPIKey(ctx context.Context, db DB, hash []byte) (bool, error) {
	if len(hash) != sha256.Size {
		return false, nil
	}
	const q = `SELECT EXISTS (SELECT 1 FROM api_keys WHERE hash = $1 AND revoked_at IS NULL)`
	var ok bool
	if err := db.QueryRow(ctx, q, hash).Scan(&ok); err != nil {
		return false, fmt.Errorf("check api key: %w", err)
	}
	return ok, nil
}
