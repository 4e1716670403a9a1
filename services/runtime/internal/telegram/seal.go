package telegram

import (
	"errors"
	"fmt"

	"clawdbot.cloud/pkg/seal"
)

// sealInfo binds the derived key to its one use; another use of the
// instance token derives another key.
const sealInfo = "clawdbot runtime: telegram bot token v1"

// The associated data of each sealed column: a sealed value copied into
// another column does not open (a webhook secret as a bot token, or the
// other way round).
const (
	sealAD          = "telegram_channel.bot_token_sealed"
	webhookSecretAD = "telegram_channel.webhook_secret_sealed"
)

// Sealer encrypts the bot token and the webhook secret (pkg/seal: AES-256-GCM
// under a key derived from the instance token). The instance token lives in
// the platform's secret store and reaches only this runtime, so the token in
// the customer's database is unreadable to anyone holding only the database
// (an archive, a database dump, the customer's role).
type Sealer struct{ s *seal.Sealer }

// NewSealer derives the key from instanceToken, which must be set.
func NewSealer(instanceToken string) (*Sealer, error) {
	if instanceToken == "" {
		return nil, errors.New("no instance token to derive the channel key from")
	}
	s, err := seal.New(instanceToken, sealInfo)
	if err != nil {
		return nil, err
	}
	return &Sealer{s: s}, nil
}

// Seal encrypts a bot token with a random nonce (prepended).
func (s *Sealer) Seal(plaintext string) []byte { return s.s.Seal(sealAD, plaintext) }

// Open decrypts what Seal returned.
func (s *Sealer) Open(sealed []byte) (string, error) { return s.open(sealed, sealAD, "bot token") }

// SealWebhookSecret encrypts a webhook's secret token.
func (s *Sealer) SealWebhookSecret(secret string) []byte { return s.s.Seal(webhookSecretAD, secret) }

// OpenWebhookSecret decrypts what SealWebhookSecret returned.
func (s *Sealer) OpenWebhookSecret(sealed []byte) (string, error) {
	return s.open(sealed, webhookSecretAD, "webhook secret")
}

func (s *Sealer) open(sealed []byte, ad, what string) (string, error) {
	pt, err := s.s.Open(ad, sealed)
	if err != nil {
		return "", fmt.Errorf("open sealed %s (instance token changed?): %w", what, err)
	}
	return pt, nil
}
