package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// scramIterations is the SCRAM-SHA-256 iteration count, Postgres's default.
const scramIterations = 4096

// newPassword returns 32 random bytes as base64url: 256 bits of entropy in
// characters that need no quoting in a URL or an SQL literal.
func newPassword() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents so)
	return base64.RawURLEncoding.EncodeToString(b)
}

// scramVerifier returns the SCRAM-SHA-256 verifier Postgres stores for
// password (RFC 5802/7677, Postgres's format). Sending the verifier instead
// of the password keeps the plaintext out of the server's statement log and
// pg_stat_activity. The password is ASCII, which SASLprep leaves unchanged.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
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

// literal quotes s as an SQL string literal (utility statements such as
// ALTER ROLE ... PASSWORD take no bind parameters).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// customerURL is the connection URL a customer's runtime uses.
func (d *Driver) customerURL(database, role, password string) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(role, password),
		Host:   d.host,
		Path:   "/" + database,
	}
	if d.sslmode != "" {
		u.RawQuery = url.Values{"sslmode": {d.sslmode}}.Encode()
	}
	return u.String()
}

// storedPassword returns the password of a stored URL for role, or "" when
// the URL is not one for role (a damaged or foreign secret).
func storedPassword(stored []byte, role string) string {
	u, err := url.Parse(string(stored))
	if err != nil || u.User == nil || u.User.Username() != role {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}
