package dbroles

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// scramIterations is the SCRAM-SHA-256 iteration count, Postgres's default.
const scramIterations = 4096

// SCRAMVerifier returns the SCRAM-SHA-256 verifier Postgres stores for
// password (RFC 5802/7677, Postgres's format): what CREATE or ALTER ROLE
// ... PASSWORD should send. Sending the verifier instead of the password
// keeps the plaintext out of the server's statement log and
// pg_stat_activity. The password must be ASCII (derived and generated
// passwords are), which SASLprep leaves unchanged. The services' roles here
// and the customers' roles (services/neon's postgres driver) use it.
func SCRAMVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // never fails (crypto/rand documents so)
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s",
		scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
