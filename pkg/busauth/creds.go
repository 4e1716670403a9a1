package busauth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Credentials are principals' passwords by name.
type Credentials map[string]string

// Generate returns a fresh random password (32 bytes, base64url) for each
// of names, which must all be in the table.
func Generate(names []string) (Credentials, error) {
	c := Credentials{}
	for _, n := range names {
		if _, ok := Lookup(n); !ok {
			return nil, fmt.Errorf("busauth: no principal %q", n)
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("busauth: %w", err)
		}
		c[n] = base64.RawURLEncoding.EncodeToString(b)
	}
	return c, nil
}

// PasswordFile is where dir keeps name's password.
func PasswordFile(dir, name string) string { return filepath.Join(dir, name+".password") }

// Write stores each password in dir/<name>.password (0600), dir 0700.
func (c Credentials) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("busauth: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("busauth: %w", err)
	}
	for n, pw := range c {
		f := PasswordFile(dir, n)
		if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("busauth: write %s: %w", f, err)
		}
		if err := os.Chmod(f, 0o600); err != nil {
			return fmt.Errorf("busauth: %w", err)
		}
	}
	return nil
}

// ReadPassword reads a password file written by Write (or by hand: the
// first line, surrounding space trimmed).
func ReadPassword(path string) (string, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- an operator-given path
	if err != nil {
		return "", fmt.Errorf("busauth: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSpace(pw)
	if pw == "" {
		return "", fmt.Errorf("busauth: %s is empty", path)
	}
	return pw, nil
}

// LoadOrCreate reads the passwords of names from dir, generating and
// storing those that are missing, so a development data directory keeps
// its credentials across restarts. It tightens dir to 0700 and the files
// to 0600 if they were looser.
func LoadOrCreate(dir string, names []string) (Credentials, error) {
	c := Credentials{}
	var missing []string
	for _, n := range names {
		pw, err := ReadPassword(PasswordFile(dir, n))
		switch {
		case err == nil:
			c[n] = pw
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, n)
		default:
			return nil, err
		}
	}
	fresh, err := Generate(missing)
	if err != nil {
		return nil, err
	}
	for n, pw := range fresh {
		c[n] = pw
	}
	if err := c.Write(dir); err != nil {
		return nil, err
	}
	return c, nil
}
