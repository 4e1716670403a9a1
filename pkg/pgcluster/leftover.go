package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// leftover inspects postmaster.pid in dataDir and reports whether a server of
// this very data directory is still running (a previous run that was not
// stopped, e.g. because its process was killed). A pid file whose process is
// gone, or now belongs to an unrelated program, is removed: PostgreSQL would
// refuse to start while such a pid is alive.
func leftover(dataDir string, log *slog.Logger) (running bool, err error) {
	pidPath := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidPath)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", pidPath, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err == nil && pid > 0 && isPostmasterOf(pid, dataDir) {
		return true, nil
	}
	log.Warn("removing stale postmaster.pid", "path", pidPath, "pid", line)
	if err := os.Remove(pidPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove stale %s: %w", pidPath, err)
	}
	return false, nil
}

// isPostmasterOf reports whether pid is alive and is a postgres server whose
// working directory is dataDir (the postmaster chdirs to its data directory).
func isPostmasterOf(pid int, dataDir string) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		// Not allowed to look: a live postgres process is enough evidence.
		return true
	}
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		want = dataDir
	}
	return cwd == want
}

// StopDir stops, with a fast shutdown, a server left running on the cluster in
// dir by an earlier process, and does nothing if none runs there. It lets a
// harness reclaim the clusters of test binaries that were killed before they
// could call Stop. log may be nil.
func StopDir(ctx context.Context, dir string, log *slog.Logger) error {
	c, err := open(dir, log)
	if err != nil {
		return err
	}
	running, err := leftover(c.dataDir, c.log)
	if err != nil || !running {
		return err
	}
	c.log.Info("stopping leftover PostgreSQL server", "dir", c.dir)
	return c.pgCtlStop(ctx)
}

// RestartDir restarts the server running on the cluster in dir, on the same
// port. With crash set the shutdown is immediate: every server process
// quits at once, without a checkpoint, as in a crash, and the server
// recovers from its WAL as it starts again; otherwise it is a fast shutdown.
// Sessions are cut either way, so clients see what a database failover
// shows them. It lets a chaos run restart the server of a Cluster another
// part of the program owns. log may be nil.
func RestartDir(ctx context.Context, dir string, crash bool, log *slog.Logger) error {
	c, err := open(dir, log)
	if err != nil {
		return err
	}
	mode := "fast"
	if crash {
		mode = "immediate"
	}
	logPath := filepath.Join(c.dir, logFile)
	if _, err := c.run(ctx, "pg_ctl", "restart", "-w", "-t", waitSeconds(ctx), "-m", mode, "-D", c.dataDir, "-l", logPath); err != nil {
		return fmt.Errorf("restart PostgreSQL in %s: %w", c.dir, err)
	}
	c.log.Info("PostgreSQL restarted", "dir", c.dir, "mode", mode)
	return nil
}
