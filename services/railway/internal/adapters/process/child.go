package process

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"clawdbot.cloud/services/railway/internal/cgroup"
	"clawdbot.cloud/services/railway/internal/runtimeconfig"
	"clawdbot.cloud/services/railway/internal/store"
)

// MarkerEnv is the environment variable naming the instance a child runs
// for. With the binary on its command line it identifies our runtimes in
// /proc across restarts of the service (a recorded pid may have been reused).
const MarkerEnv = "CLAW_SERVICE_ID"

// child is one started runtime process.
type child struct {
	pid  int
	port int
	gen  int
	// exited is closed once the process has exited and been reaped; err is
	// its exit status then.
	exited chan struct{}
	err    error
	// oomKilled is set (before exited closes) when the kernel killed a
	// process of the runtime's cgroup for exceeding its memory.
	oomKilled bool
	// stdin takes the configuration (configure); output logs the runtime's
	// stdout and stderr.
	stdin  io.WriteCloser
	output [2]*lineLogger
}

// startChild starts the runtime of in on port, in a process group of its
// own, with its configuration on stdin; with t, as t's uid in t's cgroup
// and directory. t's cgroup is removed once the runtime has exited.
func startChild(o Options, in store.Instance, t *tenant, port int, dbURL, token string, log *slog.Logger) (*child, error) {
	c, err := launch(o, in, t, log)
	if err != nil {
		return nil, err
	}
	if err := c.configure(o, in, port, dbURL, token); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// launch starts the runtime of in as startChild does, but without its
// configuration: the process starts and waits for it on stdin
// (child.configure). Until then it knows nothing of the customer but its
// instance name, and serves nothing.
func launch(o Options, in store.Instance, t *tenant, log *slog.Logger) (*child, error) {
	var dir string
	if t == nil && o.WorkDir != "" {
		dir = filepath.Join(o.WorkDir, in.ServiceName)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("runtime work dir: %w", err)
		}
	}
	stdout := newLineLogger(log, "stdout", nil)
	stderr := newLineLogger(log, "stderr", nil)
	cmd := &exec.Cmd{
		Path:   o.Binary,
		Args:   []string{o.Binary}, // nothing else: argv is world-readable
		Env:    childEnv(&o, in),
		Dir:    dir,
		Stdout: stdout,
		Stderr: stderr,
		SysProcAttr: &syscall.SysProcAttr{
			// Its own group, so stopping it stops what it started.
			Setpgid: true,
			// Killed when this service dies, even by SIGKILL. The signal is
			// tied to the spawning OS thread; Go keeps its threads alive
			// unless a goroutine exits while locked to one, which this
			// service never does.
			Pdeathsig: syscall.SIGKILL,
		},
		// Bounds the wait for the output pipes once the process is gone.
		WaitDelay: o.StopGrace,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start runtime: %w", err)
	}
	var group *cgroup.Group
	if t != nil {
		t.isolate(cmd)
		group = t.group
	}
	if err := startIn(cmd, group); err != nil {
		_ = stdin.Close()
		if group != nil {
			_ = group.Remove()
		}
		return nil, fmt.Errorf("start runtime: %w", err)
	}
	c := &child{pid: cmd.Process.Pid, exited: make(chan struct{}), stdin: stdin, output: [2]*lineLogger{stdout, stderr}}
	go func() { // ends when the process does; supervisors always wait for exited
		c.err = cmd.Wait()
		// Whatever the runtime left in its process group goes with it, and
		// with its cgroup whatever left the process group.
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		if group != nil {
			c.oomKilled = group.OOMKills() > 0
			if err := group.Remove(); err != nil {
				log.Warn("cannot remove the runtime's cgroup", "err", err)
			}
		}
		stdout.Flush()
		stderr.Flush()
		close(c.exited)
	}()
	return c, nil
}

// configure gives a launched child its configuration, which makes it serve
// on port, and closes its stdin. Its output is redacted of the database
// URL and token from then on.
func (c *child) configure(o Options, in store.Instance, port int, dbURL, token string) error {
	engine, err := engineOf(o.Engines, in.Plan)
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(runtimeconfig.Document{
		CustomerID:    in.CustomerID,
		Plan:          in.Plan,
		ListenAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		DatabaseURL:   dbURL,
		InstanceID:    in.ServiceName,
		Version:       o.Version,
		InstanceToken: token,
		Provider:      o.Provider,
		Model:         o.Model,
		Engine:        engine,
	})
	if err != nil {
		return err
	}
	redact := append(secretsOf(dbURL), token)
	for _, w := range c.output {
		w.addRedact(redact...)
	}
	c.port = port
	// A pipe's buffer (64 KiB) takes the document whole: the write does not
	// wait for the runtime to read it.
	_, err = c.stdin.Write(cfg)
	if cerr := c.stdin.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("configure runtime: %w", err)
	}
	return nil
}

// kill stops the child at once and waits until it is reaped.
func (c *child) kill() {
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	<-c.exited
}

// terminate stops the child's process group: SIGTERM, then SIGKILL after
// grace. It returns once the child has exited.
func (c *child) terminate(grace time.Duration) {
	_ = syscall.Kill(-c.pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		<-c.exited
	}
}

// secretsOf lists the strings of a database URL that must never reach a
// log: the URL itself and its password.
func secretsOf(dbURL string) []string {
	out := []string{dbURL}
	if u, err := url.Parse(dbURL); err == nil {
		if pw, ok := u.User.Password(); ok && len(pw) >= 6 {
			out = append(out, pw)
		}
	}
	return out
}
