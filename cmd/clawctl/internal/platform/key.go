package platform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"clawdbot.cloud/pkg/secrets"
)

// LoadKey returns CLAW_ENCRYPTION_KEY, or the dev key kept in the data
// directory, creating it (0600) on the first run so secrets stored by one
// run decrypt in the next.
func LoadKey(s Settings) ([]byte, error) {
	if s.Key != "" {
		k, err := secrets.ParseKey(s.Key)
		if err != nil {
			return nil, fmt.Errorf("CLAW_ENCRYPTION_KEY: %w", err)
		}
		return k, nil
	}
	path := filepath.Join(s.DataDir, "encryption.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		text, err := secrets.NewKey()
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write dev encryption key: %w", err)
		}
		b = []byte(text)
	} else if err != nil {
		return nil, fmt.Errorf("read dev encryption key: %w", err)
	} else if err := os.Chmod(path, 0o600); err != nil {
		// A key made by an older build, or copied in, may be readable by
		// others: the customers' runtimes run as other users.
		return nil, fmt.Errorf("dev encryption key: %w", err)
	}
	k, err := secrets.ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
