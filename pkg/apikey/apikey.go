// Package apikey creates, hashes and parses the secret API keys customers use
// to talk to their own instance.
//
// A key is "claw_" followed by the unpadded base64url encoding of 32 random
// bytes. Only its SHA-256 hash is ever stored (in the customer's database);
// the plaintext is shown to the customer once. The first few characters
// (see Prefix) identify a key in logs and UIs without revealing it.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeyPrefix is the fixed start of every API key. It makes keys recognisable to
// humans and to secret scanners.
const KeyPrefix = "claw_"

// secretBytes is the amount of randomness in a key: 256 bits, so keys cannot be
// guessed and a fast unsalted hash is enough to store them.
const secretBytes = 32

// prefixLen is how many characters of a key Prefix returns. "claw_" plus seven
// characters of the secret (42 bits) distinguish keys without weakening them.
const prefixLen = 12

// encodedLen is the length of a well-formed key.
var encodedLen = len(KeyPrefix) + base64.RawURLEncoding.EncodedLen(secretBytes)

// ErrMissing reports that a request carried no Authorization header or no
// Bearer credentials.
var ErrMissing = errors.New("apikey: missing bearer token")

// ErrMalformed reports that the Authorization header is present but does not
// hold a well-formed "Bearer claw_..." key.
var ErrMalformed = errors.New("apikey: malformed api key")

// Generate returns a new random API key. The caller must store only
// Hash(plaintext) and hand the plaintext to the customer exactly once.
func Generate() (plaintext string, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("apikey: read random bytes: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash returns the SHA-256 digest of a key, the only form in which keys are
// stored and looked up.
func Hash(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// Prefix returns the first characters of a key, which are safe to display and
// log. A shorter input is returned whole.
func Prefix(plaintext string) string {
	if len(plaintext) <= prefixLen {
		return plaintext
	}
	return plaintext[:prefixLen]
}

// Valid reports whether s has the exact shape of a key made by Generate.
func Valid(s string) bool {
	if len(s) != encodedLen || !strings.HasPrefix(s, KeyPrefix) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(KeyPrefix):])
	return err == nil && len(b) == secretBytes
}

// Parse extracts the key from an HTTP Authorization header value of the form
// "Bearer claw_...". The scheme is matched case-insensitively (RFC 9110 §11.1).
// It returns ErrMissing for an empty header or a Bearer scheme without a token,
// and ErrMalformed for anything else that is not a well-formed key. The errors
// never contain the header value, so they are safe to log.
func Parse(authorizationHeader string) (string, error) {
	h := strings.TrimSpace(authorizationHeader)
	if h == "" {
		return "", ErrMissing
	}
	scheme, token, found := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrMalformed
	}
	token = strings.TrimSpace(token)
	if !found || token == "" {
		return "", ErrMissing
	}
	if !Valid(token) {
		return "", ErrMalformed
	}
	return token, nil
}
