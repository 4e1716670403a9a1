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

	"clawdbot.cloud/pkg/retry"
)

// Restart policy of supervised processes: the first restart after
// restartBase, doubling after every crash up to restartMax, back to
// restartBase once an incarnation has run for restartStable. A process that
// crashes at start (a bad setting, a port taken) is retried at most every
// restartMax, so it cannot spin; one killed once comes back at once.
const (
	restartBase   = 500 * time.Millisecond
	restartMax    = 30 * time.Second
	restartStable = time.Minute
)

// Process is one child process of the cluster: a NATS node or one replica
// of a service. A supervised process (every service replica, and the NATS
// nodes when Options.RestartNATS is set) is started again when it exits
// without being asked to; any other one stays down until Restart.
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

	log       *slog.Logger
	path      string
	args, env []string
	supervise bool
	revive    chan struct{} // Restart asks the loop to start it again
	quit      chan struct{} // closed by stop: no more restarts

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current incarnation has exited
	err      error         // the current incarnation's exit, once done
	restarts int
	stopping bool // set before the cluster stops it: an exit is then expected
}

// newProcess describes a process; start runs it.
func newProcess(name, service string, replica int, opsAddr, logPath string, log *slog.Logger, supervise bool) *Process {
	return &Process{Name: name, Service: service, Replica: replica, OpsAddr: opsAddr, LogPath: logPath,
		log: log, supervise: supervise, revive: make(chan struct{}, 1), quit: make(chan struct{})}
}

// start runs path with args and env (the whole environment) and watches it
// (see spawn and loop).
func (p *Process) start(path string, args, env []string) error {
	p.path, p.args, p.env = path, args, env
	p.mu.Lock()
	err := p.spawn()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	go p.loop()
	return nil
}

// spawn starts one incarnation, in a process group of its own, so stopping
// it reaches whatever it started in that group, and with Pdeathsig, so it
// dies with clawctl even when clawctl is killed and cannot stop it (as the
// compute service's process driver does with the customers' runtimes).
// Output goes to p.LogPath, appended. p.mu is held.
func (p *Process) spawn() error {
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s: log file: %w", p.Name, err)
	}
	defer out.Close() // the child has its own descriptor
	fmt.Fprintf(out, "--- %s started by clawctl cluster at %s (restarts %d)\n", p.Name, time.Now().UTC().Format(time.RFC3339), p.restarts)
	cmd := exec.Command(p.path, p.args...) // #nosec G204 -- our own binaries from the bin directory
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", p.Name, p.path, err)
	}
	p.cmd, p.done, p.err = cmd, make(chan struct{}), nil
	return nil
}

// loop waits for each incarnation and, unless the cluster is stopping it,
// starts the next: after a backoff when supervised, on Restart otherwise.
// It ends when the process is stopped.
func (p *Process) loop() {
	crashes := 0
	for {
		p.mu.Lock()
		cmd, done := p.cmd, p.done
		p.mu.Unlock()
		started := time.Now()
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		stopping := p.stopping
		p.mu.Unlock()
		close(done)
		if stopping {
			return
		}
		if time.Since(started) >= restartStable {
			crashes = 0
		}
		crashes++
		for {
			var wait <-chan time.Time
			if p.supervise {
				backoff := retry.Backoff(crashes, restartBase, restartMax)
				p.log.Error("process exited; restarting it", "process", p.Name, "pid", cmd.Process.Pid, "err", err,
					"in", backoff, "restarts", p.Restarts(), "log", p.LogPath)
				wait = time.After(backoff)
			} else {
				p.log.Error("process exited; the others carry on", "process", p.Name, "pid", cmd.Process.Pid, "err", err, "log", p.LogPath)
			}
			select {
			case <-p.quit:
				return
			case <-p.revive:
			case <-wait:
			}
			p.mu.Lock()
			if p.stopping {
				p.mu.Unlock()
				return
			}
			p.restarts++
			serr := p.spawn()
			p.mu.Unlock()
			if serr == nil {
				p.log.Warn("process restarted", "process", p.Name, "pid", p.PID(), "restarts", p.Restarts())
				break
			}
			err = serr
			crashes++
		}
	}
}

// PID is the process id of the current incarnation.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Restarts counts the times the process was started again after exiting.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Alive reports whether the current incarnation has not exited.
func (p *Process) Alive() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Err is the current incarnation's exit (nil while it runs).
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill sends SIGKILL to the process's group and waits for it to exit: a
// crash, for drills and the chaos run. A supervised process is started
// again after the backoff; any other one when Restart is called.
func (p *Process) Kill() error {
	p.mu.Lock()
	pid, done := p.cmd.Process.Pid, p.done
	p.mu.Unlock()
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	<-done
	return nil
}

// Restart starts an exited process again now, supervised or not (a NATS
// node the chaos run killed). It fails if the process runs or the cluster
// is stopping it; it does not wait for the new incarnation to be ready.
func (p *Process) Restart() error {
	p.mu.Lock()
	stopping := p.stopping
	p.mu.Unlock()
	if stopping {
		return fmt.Errorf("%s: the cluster is stopping", p.Name)
	}
	if p.Alive() {
		return fmt.Errorf("%s is running", p.Name)
	}
	select {
	case p.revive <- struct{}{}:
	default: // already asked
	}
	return nil
}

// stop ends supervision, sends SIGTERM to the process's group and waits up
// to grace for it to exit, then kills the group. A restart in progress
// either sees stopping and gives up, or has finished spawning, and its new
// incarnation is the one stopped here.
func (p *Process) stop(grace time.Duration) {
	p.mu.Lock()
	if !p.stopping {
		p.stopping = true
		close(p.quit)
	}
	pid, done := p.cmd.Process.Pid, p.done
	p.mu.Unlock()
	select {
	case <-done:
		return
	default:
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		p.log.Warn("process did not stop in time; killing it", "process", p.Name, "grace", grace)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}
