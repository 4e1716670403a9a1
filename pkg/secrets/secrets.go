// Package secrets stores the platform's secrets (customer database URLs,
// one-time API key reveals) encrypted with AES-256-GCM in the control-plane
// database. Events carry only a secret's reference.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned for a reference with no stored secret.
var ErrNotFound = errors.New("secret not found")

// KeySize is the size of the encryption key: AES-256.
const KeySize = 32

// Store reads and writes encrypted secrets.
type Store struct {
	db   *pgxpool.Pool
	aead cipher.AEAD
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("encryption key is %d bytes, want %d", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("encryption key is not base64")
}

// NewKey returns a fresh random key, base64-encoded.
func NewKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// Open prepares the store's table and returns a Store using key.
func Open(ctx context.Context, db *pgxpool.Pool, key []byte) (*Store, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	_, err = db.Exec(ctx, `
		CREATE SCHEMA IF NOT EXISTS secrets;
		CREATE TABLE IF NOT EXISTS secrets.secrets (
			ref        text PRIMARY KEY,
			ciphertext bytea NOT NULL,
			created_at timestamptz NOT NULL DEFAULT now()
		);
		-- Set when a reveal first read the secret: Reveal's grace window.
		-- (pkg/dbroles's bootstrap makes the same table where services
		-- run as roles that may not create it.)
		ALTER TABLE secrets.secrets ADD COLUMN IF NOT EXISTS taken_at timestamptz;
		CREATE INDEX IF NOT EXISTS secrets_taken_at ON secrets.secrets (taken_at) WHERE taken_at IS NOT NULL`)
	if err != nil {
		// Two services starting at once may race on CREATE; the loser sees a
		// unique violation on the catalog and the table exists anyway.
		if _, err2 := db.Exec(ctx, `SELECT taken_at FROM secrets.secrets LIMIT 0`); err2 != nil {
			return nil, fmt.Errorf("secrets: create table: %w", err)
		}
	}
	return &Store{db: db, aead: aead}, nil
}

func (s *Store) seal(ref string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	// The reference is authenticated data: a ciphertext moved to another
	// reference does not decrypt.
	return s.aead.Seal(nonce, nonce, plaintext, []byte(ref)), nil
}

func (s *Store) open(ref string, ct []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ct) < n {
		return nil, fmt.Errorf("secret %s: ciphertext too short", ref)
	}
	pt, err := s.aead.Open(nil, ct[:n], ct[n:], []byte(ref))
	if err != nil {
		return nil, fmt.Errorf("secret %s: cannot decrypt (wrong CLAW_ENCRYPTION_KEY?): %w", ref, err)
	}
	return pt, nil
}

// Put stores plaintext under ref, replacing any earlier value.
func (s *Store) Put(ctx context.Context, ref string, plaintext []byte) error {
	ct, err := s.seal(ref, plaintext)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO secrets.secrets (ref, ciphertext) VALUES ($1, $2)
		ON CONFLICT (ref) DO UPDATE SET ciphertext = excluded.ciphertext`, ref, ct)
	if err != nil {
		return fmt.Errorf("put secret %s: %w", ref, err)
	}
	return nil
}

// Get returns the secret stored under ref, or ErrNotFound.
func (s *Store) Get(ctx context.Context, ref string) ([]byte, error) {
	var ct []byte
	err := s.db.QueryRow(ctx, `SELECT ciphertext FROM secrets.secrets WHERE ref = $1`, ref).Scan(&ct)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("secret %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", ref, err)
	}
	return s.open(ref, ct)
}

// Take returns the secret under ref and deletes it, so exactly one caller
// ever sees it; later calls get ErrNotFound. The delete commits only once
// the secret decrypts, so a wrong key never destroys it.
func (s *Store) Take(ctx context.Context, ref string) ([]byte, error) {
	var pt []byte
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var ct []byte
		err := tx.QueryRow(ctx, `DELETE FROM secrets.secrets WHERE ref = $1 RETURNING ciphertext`, ref).Scan(&ct)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("secret %s: %w", ref, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("take secret %s: %w", ref, err)
		}
		pt, err = s.open(ref, ct)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pt, nil
}

// Reveal returns the secret under ref for a one-time reveal with a grace
// window. The first call starts the window; a call within grace of it gets
// the same secret again (first false), so a reader whose answer was lost
// to a crash or a dropped connection can ask again; after it the secret is
// deleted and ErrNotFound returned. SweepRevealed deletes the secrets whose
// window passed without a further call. The window starts only once the
// secret decrypts, so a wrong key neither starts it nor destroys the
// secret. grace ≤ 0 is Take: the first reader deletes it.
func (s *Store) Reveal(ctx context.Context, ref string, grace time.Duration) (pt []byte, first bool, err error) {
	if grace <= 0 {
		pt, err = s.Take(ctx, ref)
		return pt, err == nil, err
	}
	gone := false
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var ct []byte
		var takenAt *time.Time
		var open bool
		err := tx.QueryRow(ctx, `
			SELECT ciphertext, taken_at, taken_at IS NULL OR taken_at > now() - $2 * interval '1 second'
			FROM secrets.secrets WHERE ref = $1 FOR UPDATE`, ref, grace.Seconds()).Scan(&ct, &takenAt, &open)
		if errors.Is(err, pgx.ErrNoRows) {
			gone = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("reveal secret %s: %w", ref, err)
		}
		if !open {
			// Its window has passed: delete it now rather than at the sweep.
			gone = true
			if _, err := tx.Exec(ctx, `DELETE FROM secrets.secrets WHERE ref = $1`, ref); err != nil {
				return fmt.Errorf("reveal secret %s: %w", ref, err)
			}
			return nil
		}
		if pt, err = s.open(ref, ct); err != nil {
			return err
		}
		first = takenAt == nil
		if first {
			if _, err := tx.Exec(ctx, `UPDATE secrets.secrets SET taken_at = now() WHERE ref = $1`, ref); err != nil {
				return fmt.Errorf("reveal secret %s: %w", ref, err)
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, false, err
	case gone:
		return nil, false, fmt.Errorf("secret %s: %w", ref, ErrNotFound)
	}
	return pt, first, nil
}

// SweepRevealed deletes the secrets a Reveal first read more than grace
// ago and reports how many.
func (s *Store) SweepRevealed(ctx context.Context, grace time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM secrets.secrets WHERE taken_at < now() - $1 * interval '1 second'`, grace.Seconds())
	if err != nil {
		return 0, fmt.Errorf("sweep revealed secrets: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PutIfAbsent stores plaintext under ref unless a secret is already there,
// and returns the secret stored under ref afterwards: concurrent callers
// all get the same value.
func (s *Store) PutIfAbsent(ctx context.Context, ref string, plaintext []byte) ([]byte, error) {
	ct, err := s.seal(ref, plaintext)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO secrets.secrets (ref, ciphertext) VALUES ($1, $2)
		ON CONFLICT (ref) DO NOTHING`, ref, ct); err != nil {
		return nil, fmt.Errorf("put secret %s: %w", ref, err)
	}
	return s.Get(ctx, ref)
}

// Delete removes the secret under ref; deleting a missing secret is not an error.
func (s *Store) Delete(ctx context.Context, ref string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM secrets.secrets WHERE ref = $1`, ref); err != nil {
		return fmt.Errorf("delete secret %s: %w", ref, err)
	}
	return nil
}
