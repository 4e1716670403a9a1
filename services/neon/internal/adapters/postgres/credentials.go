package postgres

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
)

// newPassword returns 32 random bytes as base64url: 256 bits of entropy in
// characters that need no quoting in a URL or an SQL literal.
func newPassword() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents so)
	return base64.RawURLEncoding.EncodeToString(b)
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
