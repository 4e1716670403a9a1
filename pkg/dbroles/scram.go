package dbroles

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// DefaultSCRAMIterations is the SCRAM-SHA-256 iteration count Postgres
// uses by default (and RFC 7677's minimum for passwords people choose).
const DefaultSCRAMIterations = 4096

// SCRAMVerifier returns the SCRAM-SHA-256 verifier Postgres stores for
// password (RFC 5802/7677, Postgres's format): what CREATE or ALTER ROLE
// ... PASSWORD should send. Sending the verifier instead of the password
// keeps the plaintext out of the server's statement log and
// pg_stat_activity. The password must be ASCII (derived and generated
// passwords are), which SASLprep leaves unchanged. The services' roles here
// use it with DefaultSCRAMIterations.
func SCRAMVerifier(password string) (string, error) {
	return SCRAMVerifierIterations(password, DefaultSCRAMIterations)
}

// SCRAMVerifierIterations is SCRAMVerifier with the iteration count the
// verifier asks of whoever proves the password: the client at every login,
// and Postgres itself when the verifier is set (it checks that the
// password is not empty by deriving a key for "" — 3 ms at 4096 on a
// server core here). The count only slows the guessing of a password from
// a stolen verifier; a password of 256 random bits cannot be guessed at
// any count, so generated passwords may take a low one (services/neon's
// customer roles do).
func SCRAMVerifierIterations(password string, iterations int) (string, error) {
	if iterations < 1 {
		return "", fmt.Errorf("scram: iteration count %d", iterations)
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // never fails (crypto/rand documents so)
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s",
		iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
