package openclaw

import (
	"context"
	"crypto/sha256"
	"errors"
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
//
// Memory files (MEMORY.md, memory/*.md: customerdb.IsMemoryFile) go both
// ways, merged entry by entry when both sides changed them
// (customerdb.StoreMemoryFile, which also makes their list items rows of
// the memory API's table): Sync brings the agent's changes in before it
// writes the database's out, and Collect stores the agent's changes. The
// runtime runs Sync before each chat turn and Collect after it.
type WorkspaceSync struct {
	// Dir is the agent's workspace directory.
	Dir string
	// Read returns the workspace's files (customerdb.ReadWorkspace).
	Read func(ctx context.Context) ([]customerdb.File, error)
	// StoreMemory stores the agent's version of a memory file, given the
	// version it started from (haveBase false: unknown), and returns what
	// the file is now (customerdb.StoreMemoryFile).
	StoreMemory func(ctx context.Context, path, base string, haveBase bool, agent string) (string, error)

	mu   sync.Mutex
	last map[string][sha256.Size]byte
	// base is, per memory file, the content the directory and the
	// database last agreed on.
	base map[string]string
}

func (s *WorkspaceSync) init() {
	if s.last == nil {
		s.last = map[string][sha256.Size]byte{}
		s.base = map[string]string{}
	}
}

// Sync brings Dir up to date with the database, and the database with the
// agent's memory.
func (s *WorkspaceSync) Sync(ctx context.Context) error {
	files, err := s.Read(ctx)
	if err != nil {
		return fmt.Errorf("read workspace: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	inDB := map[string]string{}
	for _, f := range files {
		if f.Path == configFile || !filepath.IsLocal(f.Path) {
			continue
		}
		if customerdb.IsMemoryFile(f.Path) {
			inDB[f.Path] = f.Content
			continue
		}
		sum := sha256.Sum256([]byte(f.Content))
		if prev, ok := s.last[f.Path]; ok && prev == sum {
			continue
		}
		if err := s.writeLocal(f.Path, f.Content); err != nil {
			return err
		}
		s.last[f.Path] = sum
	}
	return s.syncMemory(ctx, inDB)
}

// Collect stores the memory files the agent changed in the database.
func (s *WorkspaceSync) Collect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	return s.syncMemory(ctx, nil)
}

// writeLocal writes content to the workspace file rel.
func (s *WorkspaceSync) writeLocal(rel, content string) error {
	path := filepath.Join(s.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("workspace dir: %w", err)
	}
	return writeFileAtomic(path, []byte(content))
}

// memoryFiles are the workspace files OpenClaw writes its memory to.
func memoryFiles(dir string) []string {
	notes, _ := filepath.Glob(filepath.Join(dir, "memory", "*.md"))
	return append([]string{filepath.Join(dir, "MEMORY.md")}, notes...)
}

// maxMemoryFile bounds a memory file copied back into the database.
const maxMemoryFile = 1 << 20

// readMemory returns the agent's memory files: regular files only (a link
// the agent made is not followed), at most maxMemoryFile each.
func (s *WorkspaceSync) readMemory() (map[string]string, error) {
	out := map[string]string{}
	for _, path := range memoryFiles(s.Dir) {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxMemoryFile {
			continue // absent, a link the agent made, or too big to be a note
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		rel, err := filepath.Rel(s.Dir, path)
		if err != nil {
			continue
		}
		out[filepath.ToSlash(rel)] = string(b)
	}
	return out, nil
}

// syncMemory stores the memory files the agent changed since the last sync
// (merged with the database's) and, when inDB is given (Sync), writes into
// Dir the ones only the database changed. A file the agent deleted is
// written again from the database.
func (s *WorkspaceSync) syncMemory(ctx context.Context, inDB map[string]string) error {
	local, err := s.readMemory()
	if err != nil {
		return err
	}
	var errs []error
	failed := map[string]bool{}
	for rel, agent := range local {
		base, haveBase := s.base[rel]
		if haveBase && agent == base {
			continue // the agent did not touch it
		}
		if db, ok := inDB[rel]; inDB != nil && ok && db == agent {
			s.base[rel] = agent
			continue
		}
		stored, err := s.StoreMemory(ctx, rel, base, haveBase, agent)
		if err != nil {
			// Kept as changed: stored at the next sync.
			errs = append(errs, fmt.Errorf("store the agent's %s: %w", rel, err))
			failed[rel] = true
			continue
		}
		if stored != agent {
			if err := s.writeLocal(rel, stored); err != nil {
				return err
			}
		}
		s.base[rel] = stored
		if inDB != nil {
			inDB[rel] = stored
		}
	}
	for rel, db := range inDB {
		agent, ok := local[rel]
		if base, haveBase := s.base[rel]; failed[rel] || ok && (haveBase && agent != base || agent == db) {
			continue // stored above (or failed to be), or the same
		}
		if err := s.writeLocal(rel, db); err != nil {
			return err
		}
		s.base[rel] = db
	}
	return errors.Join(errs...)
}
