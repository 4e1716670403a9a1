package postgres

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"

	"clawdbot.cloud/pkg/dbroles"
)

// newPassword returns 32 random bytes as base64url: 256 bits of entropy in
// characters that need no quoting in a URL or an SQL literal.
func newPassword() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents so)
	return base64.RawURLEncoding.EncodeToString(b)
}

// customerSCRAMIterations is the SCRAM iteration count of the customers'
// roles, whose passwords are newPassword's 256 random bits: the count
// protects passwords that can be guessed, and these cannot be at any
// count, while every password set costs the server the count's key
// derivation (once for the empty-password check) and the service another,
// and every connection a runtime opens costs it one more — at Postgres's
// default of 4096, about 3 ms each on a core here, ~10 ms of CPU in a
// signup. (The same reasoning hashes API keys with one SHA-256.)
const customerSCRAMIterations = 256

// customerVerifier is the SCRAM verifier of a customer role's password.
func customerVerifier(password string) (string, error) {
	return dbroles.SCRAMVerifierIterations(password, customerSCRAMIterations)
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
