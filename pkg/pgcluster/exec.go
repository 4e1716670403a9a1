package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("port already in use")

// run runs a PostgreSQL program as the cluster's user and returns its
// combined output, which an error includes.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, prog), args...)
	cmd.Dir = c.dir
	cmd.Env = c.env()
	// Own process group: a Ctrl-C meant for this process must not reach
	// the server, which Stop shuts down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.id.cred}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	if err != nil {
		return text, fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, text)
	}
	return text, nil
}

// env is the programs' environment: nothing of this process's PG* variables,
// which would redirect pg_ctl, and a C locale.
func (c *Cluster) env() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "LANG=C", "HOME=" + c.id.home}
	if tz, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+tz)
	}
	return env
}

// waitSeconds turns ctx's deadline into pg_ctl's -t argument.
func waitSeconds(ctx context.Context) string {
	secs := 60
	if d, ok := ctx.Deadline(); ok {
		secs = max(1, int(time.Until(d).Seconds()))
	}
	return strconv.Itoa(secs)
}

// pgCtlStart starts the server and waits until it accepts connections. On
// failure the error carries the server log written during the attempt.
func (c *Cluster) pgCtlStart(ctx context.Context) error {
	logPath := filepath.Join(c.dir, logFile)
	var offset int64
	if fi, err := os.Stat(logPath); err == nil {
		offset = fi.Size()
	}
	_, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", waitSeconds(ctx), "-D", c.dataDir, "-l", logPath)
	if err == nil {
		return nil
	}
	serverLog := readFrom(logPath, offset)
	if strings.Contains(serverLog, "Address already in use") {
		err = fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return fmt.Errorf("start PostgreSQL in %s: %w\nserver log:\n%s", c.dir, err, lastLines(serverLog, 20))
}

// pgCtlStop shuts the server down with a fast shutdown and waits for it. A
// server that is not running is not an error.
func (c *Cluster) pgCtlStop(ctx context.Context) error {
	_, err := c.run(ctx, "pg_ctl", "stop", "-w", "-t", waitSeconds(ctx), "-m", "fast", "-D", c.dataDir)
	if err == nil {
		return nil
	}
	if _, statErr := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); errors.Is(statErr, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("stop PostgreSQL in %s: %w", c.dir, err)
}

func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
