package openclaw

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"clawdbot.cloud/pkg/customerdb"
)

// configFile is the workspace service's rendition of openclaw.json, shown
// to the customer; the gateway runs on the one Render writes into its state
// directory instead, so this one is not copied into the workspace.
const configFile = "openclaw.json"

// WorkspaceSync copies the customer's workspace (the files the workspace
// service renders into the customer's database, and the daily notes the
// memory API appends to) into the directory the gateway's agent works in.
// A file is written when its content in the database has changed since the
// last sync, so what the agent itself edits in its directory survives until
// the platform changes that file.
type WorkspaceSync struct {
	// Dir is the agent's workspace directory.
	Dir string
	// Read returns the workspace's files (customerdb.ReadWorkspace).
	Read func(ctx context.Context) ([]customerdb.File, error)

	mu   sync.Mutex
	last map[string][sha256.Size]byte
}

// Sync brings Dir up to date with the database.
func (s *WorkspaceSync) Sync(ctx context.Context) error {
	files, err := s.Read(ctx)
	if err != nil {
		return fmt.Errorf("read workspace: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string][sha256.Size]byte{}
	}
	for _, f := range files {
		if f.Path == configFile || !filepath.IsLocal(f.Path) {
			continue
		}
		sum := sha256.Sum256([]byte(f.Content))
		if prev, ok := s.last[f.Path]; ok && prev == sum {
			continue
		}
		path := filepath.Join(s.Dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("workspace dir: %w", err)
		}
		if err := writeFileAtomic(path, []byte(f.Content)); err != nil {
			return err
		}
		s.last[f.Path] = sum
	}
	return nil
}
