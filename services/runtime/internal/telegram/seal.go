package telegram

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealInfo binds the derived key to its one use; another use of the
// instance token derives another key.
const sealInfo = "clawdbot runtime: telegram bot token v1"

// sealAD is the associated data: a sealed token copied into another column
// does not open.
var sealAD = []byte("telegram_channel.bot_token_sealed")

// webhookSecretAD is the associated data of the sealed webhook secret.
var webhookSecretAD = []byte("telegram_channel.webhook_secret_sealed")

// Sealer encrypts the bot token with AES-256-GCM under a key derived
// (HKDF-SHA256) from the instance token. The instance token lives in the
// platform's secret store and reaches only this runtime, so the token in the
// customer's database is unreadable to anyone holding only the database
// (an archive, a database dump, the customer's role).
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the key from instanceToken, which must be set.
func NewSealer(instanceToken string) (*Sealer, error) {
	if instanceToken == "" {
		return nil, errors.New("no instance token to derive the channel key from")
	}
	key, err := hkdf.Key(sha256.New, []byte(instanceToken), nil, sealInfo, 32)
	if err != nil {
		return nil, err
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

// Seal encrypts a bot token with a random nonce (prepended).
func (s *Sealer) Seal(plaintext string) []byte { return s.seal(plaintext, sealAD) }

// Open decrypts what Seal returned.
func (s *Sealer) Open(sealed []byte) (string, error) { return s.open(sealed, sealAD, "bot token") }

// SealWebhookSecret encrypts a webhook's secret token (its own associated
// data: it does not open as a bot token, nor the other way round).
func (s *Sealer) SealWebhookSecret(secret string) []byte { return s.seal(secret, webhookSecretAD) }

// OpenWebhookSecret decrypts what SealWebhookSecret returned.
func (s *Sealer) OpenWebhookSecret(sealed []byte) (string, error) {
	return s.open(sealed, webhookSecretAD, "webhook secret")
}

func (s *Sealer) seal(plaintext string, ad []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	return s.aead.Seal(nonce, nonce, []byte(plaintext), ad)
}

func (s *Sealer) open(sealed, ad []byte, what string) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", fmt.Errorf("sealed %s too short", what)
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return "", fmt.Errorf("open sealed %s (instance token changed?): %w", what, err)
	}
	return string(pt), nil
}
