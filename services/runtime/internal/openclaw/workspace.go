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

// WorkspaceSync keeps the customer's workspace one set of files in two
// places: the customer's database (what the workspace service renders, the
// daily notes the memory API appends to, what the export and the runtime
// engine read) and the directory the gateway's agent works in.
//
// Sync copies the database into the directory: a file is written when its
// content in the database has changed since the last sync, so what the
// agent itself edits survives until the platform changes that file.
// Collect copies the agent's memory (MEMORY.md and memory/*.md) back into
// the database when it changed in the directory since the last sync. The
// runtime runs Sync before each chat turn and Collect after it; a note
// changed on both sides between two syncs keeps the database's version.
type WorkspaceSync struct {
	// Dir is the agent's workspace directory.
	Dir string
	// Read returns the workspace's files (customerdb.ReadWorkspace).
	Read func(ctx context.Context) ([]customerdb.File, error)
	// Write stores files in the database (customerdb.PutFiles).
	Write func(ctx context.Context, files ...customerdb.File) error

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

// memoryFiles are the workspace files OpenClaw writes its memory to.
func memoryFiles(dir string) []string {
	notes, _ := filepath.Glob(filepath.Join(dir, "memory", "*.md"))
	return append([]string{filepath.Join(dir, "MEMORY.md")}, notes...)
}

// maxMemoryFile bounds a memory file copied back into the database.
const maxMemoryFile = 1 << 20

// Collect copies the memory files the agent changed into the database.
func (s *WorkspaceSync) Collect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string][sha256.Size]byte{}
	}
	var changed []customerdb.File
	var sums [][sha256.Size]byte
	for _, path := range memoryFiles(s.Dir) {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxMemoryFile {
			continue // absent, a link the agent made, or too big to be a note
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		rel, err := filepath.Rel(s.Dir, path)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		sum := sha256.Sum256(b)
		if prev, ok := s.last[rel]; ok && prev == sum {
			continue
		}
		changed = append(changed, customerdb.File{Path: rel, Content: string(b)})
		sums = append(sums, sum)
	}
	if len(changed) == 0 {
		return nil
	}
	if err := s.Write(ctx, changed...); err != nil {
		return fmt.Errorf("store the agent's memory: %w", err)
	}
	for i, f := range changed {
		s.last[f.Path] = sums[i]
	}
	return nil
}
