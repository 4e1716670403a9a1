// Package seal encrypts the secrets a customer's instance keeps in the
// customer's own database (a Telegram bot token, Google OAuth tokens):
// AES-256-GCM under a key derived by HKDF-SHA256 from the instance token.
// The instance token lives in the platform's secret store and reaches only
// the customer's runtime (and the workspace service), so whoever holds only
// the database (an archive, a dump, the customer's role) cannot read them.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinSecretLen is the shortest instance secret a key is derived from.
const MinSecretLen = 32

// ErrOpen is a sealed value that does not open with this key: the instance
// token changed, the value was sealed for another use or column, or it was
// tampered with.
var ErrOpen = errors.New("sealed value does not open with this instance's key")

// Sealer seals and opens values for one use.
type Sealer struct{ aead cipher.AEAD }

// New derives the key for one use, named by info (another use of the same
// secret derives another key), from secret, the instance token.
func New(secret, info string) (*Sealer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("seal: the instance secret is shorter than %d characters", MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain with a random nonce (prepended), bound to ad, the
// associated data (a column or a kind: a value copied elsewhere does not
// open).
func (s *Sealer) Seal(ad, plain string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand documents so)
	return s.aead.Seal(nonce, nonce, []byte(plain), []byte(ad))
}

// Open decrypts what Seal made for ad; anything else is ErrOpen.
func (s *Sealer) Open(ad string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", ErrOpen
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}
