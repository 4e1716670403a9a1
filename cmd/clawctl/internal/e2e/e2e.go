// Package e2e holds what clawctl's end-to-end test packages share: the real
// customer runtime binary, built once per test binary.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"clawdbot.cloud/pkg/pgtest"
)

// Main builds the runtime into a temporary directory, sets *runtime to its
// path, runs the tests through pgtest.Main and removes the directory.
func Main(m *testing.M, runtime *string) {
	dir := build("clawdbot.cloud/services/runtime/cmd/runtime")
	*runtime = filepath.Join(dir, "runtime")
	pgtest.Main(m, func() { os.RemoveAll(dir) })
}

// MainWithBinaries builds pkgs (main packages) into one temporary
// directory, each binary named after its package's last path element
// (github.com/nats-io/nats-server/v2 gives nats-server), sets *dir to it,
// runs the tests through pgtest.Main and removes the directory.
func MainWithBinaries(m *testing.M, dir *string, pkgs ...string) {
	*dir = build(pkgs...)
	pgtest.Main(m, func() { os.RemoveAll(*dir) })
}

// build builds pkgs into a new directory that the customers' runtimes,
// under their own uids, can reach (0711: traverse, not list), or exits.
func build(pkgs ...string) string {
	dir, err := os.MkdirTemp("", "clawctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build and the images
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build", pkgs, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	return dir
}

// TraversableDir is t.TempDir made traversable, not listable, by other
// users (0711, its parent too), as a platform's data directory is: the
// runtimes, under their customers' own uids, reach their private
// directories and binaries through it.
func TraversableDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
