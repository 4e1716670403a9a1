package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Process is one child process of the cluster: a NATS node or one replica
// of a service.
type Process struct {
	// Name is "<service>-<replica>" (saga-1) or "nats-<node>" (nats-2).
	Name string
	// Service is the service's name, "nats" for a NATS node.
	Service string
	// Replica counts from 1.
	Replica int
	// OpsAddr serves the replica's /metrics, /healthz and /readyz (the
	// node's monitoring endpoint for NATS).
	OpsAddr string
	// LogPath is the file its standard output and error go to.
	LogPath string

	log  *slog.Logger
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited and been waited for
	mu   sync.Mutex
	err  error // its exit, once done
	// stopping is set before the cluster stops it: an exit is then expected.
	stopping bool
}

// start runs path with args and env (the whole environment) in a process
// group of its own, so stopping it reaches whatever it started in that
// group, and with Pdeathsig, so it dies with clawctl even when clawctl is
// killed and cannot stop it (as the compute service's process driver does
// with the customers' runtimes). Output goes to p.LogPath, appended.
func (p *Process) start(path string, args, env []string) error {
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s: log file: %w", p.Name, err)
	}
	defer out.Close() // the child has its own descriptor
	fmt.Fprintf(out, "--- %s started by clawctl cluster at %s\n", p.Name, time.Now().UTC().Format(time.RFC3339))
	cmd := exec.Command(path, args...) // #nosec G204 -- our own binaries from the bin directory
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", p.Name, path, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		expected := p.stopping
		p.mu.Unlock()
		if !expected {
			p.log.Error("process exited; the others carry on", "process", p.Name, "pid", cmd.Process.Pid, "err", err, "log", p.LogPath)
		}
		close(p.done)
	}()
	return nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Alive reports whether the process has not exited.
func (p *Process) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the process's group: a crash, for tests and
// drills. The cluster does not restart it.
func (p *Process) Kill() error {
	if err := syscall.Kill(-p.PID(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	<-p.done
	return nil
}

// stop sends SIGTERM to the process's group and waits up to grace for it
// to exit, then kills the group.
func (p *Process) stop(grace time.Duration) {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if !p.Alive() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.log.Warn("process did not stop in time; killing it", "process", p.Name, "grace", grace)
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	}
}
