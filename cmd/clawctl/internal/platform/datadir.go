package platform

import (
	"fmt"
	"os"
	"path/filepath"
)

// PrepareDataDir creates the data directory and sets the modes the
// platform relies on, fixing them where an older build left them looser:
//   - the directory itself 0711: the Postgres user and the customers'
//     runtimes (each under its own uid) traverse it to reach their own
//     directories, but nobody else can list it;
//   - nats/ 0700 (JetStream's store; NATS keeps its files 0600);
//     postgres/ is made 0700 by pkg/pgcluster and encryption.key 0600 by
//     loadKey; each service's directory is its own to set (the compute
//     service keeps the runtimes' private directories under railway/).
func PrepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	nats := filepath.Join(dir, "nats")
	if err := os.MkdirAll(nats, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(nats, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}
