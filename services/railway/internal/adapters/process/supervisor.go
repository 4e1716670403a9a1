package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"clawdbot.cloud/services/railway/internal/store"
)

// phase is where a supervised instance is in its life.
type phase int

const (
	starting phase = iota // a child runs but has not answered /health yet
	running               // the current child answered /health
	backoff               // no child: waiting to restart one
	stopped               // supervision ended
)

func (p phase) String() string {
	return [...]string{"starting", "running", "backoff", "stopped"}[p]
}

// exitCause is why a child stopped.
type exitCause int

const (
	crashed   exitCause = iota // it exited by itself
	restarted                  // Restart asked for a fresh child
	halted                     // supervision is ending
)

// supervisor keeps one customer's runtime running: it starts a child,
// restarts it with exponential backoff when it exits, and stops it on request.
type supervisor struct {
	d   *Driver
	log *slog.Logger
	in  store.Instance // fixed at creation, except the port (below)

	mu           sync.Mutex
	phase        phase
	port         int
	pid          int
	uid          int // the runtime's uid (this service's when not isolated)
	gen          int // children started so far
	failedStarts int // children that exited before answering /health
	lastFailure  string
	lastExit     string        // how the last child ended ("oom-killed: ..." when the kernel killed it)
	changed      chan struct{} // closed and replaced on every change

	restartc chan struct{}
	stopc    chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func newSupervisor(d *Driver, in store.Instance) *supervisor {
	return &supervisor{
		d: d, in: in, port: in.Port,
		log:      d.log.With("customer_id", in.CustomerID, "service_id", in.ServiceName),
		phase:    backoff,
		changed:  make(chan struct{}),
		restartc: make(chan struct{}, 1),
		stopc:    make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// update changes the supervisor's state under its lock and wakes the waiters.
func (s *supervisor) update(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *supervisor) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Phase: s.phase.String(), PID: s.pid, UID: s.uid, Port: s.port, URL: instanceURL(s.port),
		Generation: s.gen, LastExit: s.lastExit}
}

func instanceURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// run is the supervision loop; it returns when stop is called.
func (s *supervisor) run() {
	defer close(s.done)
	defer s.update(func() { s.phase, s.pid = stopped, 0 })
	delay := s.d.o.MinBackoff
	for {
		c, err := s.spawn()
		if err != nil {
			s.log.Warn("cannot start runtime", "err", err, "retry_in", delay)
			s.update(func() { s.phase, s.failedStarts, s.lastFailure = backoff, s.failedStarts+1, err.Error() })
			if !s.pause(delay) {
				return
			}
			delay = min(2*delay, s.d.o.MaxBackoff)
			continue
		}
		began := time.Now()
		cause := s.watch(c)
		s.exited(c, cause)
		switch {
		case cause == halted:
			return
		case cause == restarted:
			delay = s.d.o.MinBackoff
			continue
		case time.Since(began) >= s.d.o.StableAfter:
			delay = s.d.o.MinBackoff
		}
		s.log.Warn("runtime exited; restarting", "pid", c.pid, "exit", c.err, "retry_in", delay)
		if !s.pause(delay) {
			return
		}
		delay = min(2*delay, s.d.o.MaxBackoff)
	}
}

// spawn starts a child on the instance's port (moving to a new port only if
// another program took it) and records its pid.
func (s *supervisor) spawn() (*child, error) {
	ctx := s.d.ctx
	port, err := s.ensurePort(ctx)
	if err != nil {
		return nil, err
	}
	dbURL, err := s.d.o.Secrets.Get(ctx, s.in.DatabaseRef)
	if err != nil {
		return nil, fmt.Errorf("read database secret: %w", err)
	}
	token, err := s.d.instanceToken(ctx, s.in.CustomerID)
	if err != nil {
		return nil, err
	}
	var t *tenant
	var c *child
	if e := s.d.takeEarly(s.in); e != nil {
		// Started by Prepare, waiting for this configuration.
		t, c = e.t, e.c
		if err := c.configure(s.d.o, s.in, port, string(dbURL), token); err != nil {
			c.kill()
			return nil, err
		}
	} else {
		if t, err = s.d.prepareTenant(ctx, s.in); err != nil {
			return nil, fmt.Errorf("isolate runtime: %w", err)
		}
		if c, err = startChild(s.d.o, s.in, t, port, string(dbURL), token, s.log); err != nil {
			return nil, err
		}
	}
	uid := os.Geteuid()
	if t != nil {
		uid = t.uid
	}
	s.update(func() { s.phase, s.pid, s.uid, s.gen = starting, c.pid, uid, s.gen+1; c.gen = s.gen })
	s.log.Info("runtime started", "pid", c.pid, "port", port, "generation", c.gen, "uid", uid)
	if err := s.d.o.Store.Started(ctx, s.in.CustomerID, c.pid, s.d.o.Now()); err != nil {
		// Not fatal: the child dies with this service anyway (Pdeathsig).
		s.log.Warn("cannot record runtime pid", "err", err)
	}
	return c, nil
}

// ensurePort returns the instance's port, choosing and persisting a new one
// when something else holds it.
func (s *supervisor) ensurePort(ctx context.Context) (int, error) {
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	if portFree(port) {
		return port, nil
	}
	var err error
	for range 5 {
		var p int
		if p, err = freePort(); err != nil {
			return 0, err
		}
		if err = s.d.o.Store.SetPort(ctx, s.in.CustomerID, p); errors.Is(err, store.ErrPortTaken) {
			continue
		}
		if err != nil {
			return 0, err
		}
		s.log.Warn("port taken by another program; moving instance", "old_port", port, "port", p)
		s.update(func() { s.port = p })
		return p, nil
	}
	return 0, err
}

// watch waits for the child to exit, probing it until it answers /health,
// and stops it when asked to.
func (s *supervisor) watch(c *child) exitCause {
	ctx, cancel := context.WithCancel(s.d.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.probe(ctx, c) })
	defer func() { cancel(); wg.Wait() }()
	select {
	case <-c.exited:
		return crashed
	case <-s.restartc:
		c.terminate(s.d.o.StopGrace)
		return restarted
	case <-s.stopc:
		c.terminate(s.d.o.StopGrace)
		return halted
	}
}

// exited records a child's end.
func (s *supervisor) exited(c *child, cause exitCause) {
	exit := fmt.Sprint(c.err)
	if c.oomKilled {
		exit = "oom-killed: " + exit
	}
	s.update(func() {
		s.lastExit = exit
		if s.phase != running {
			s.failedStarts++
			s.lastFailure = fmt.Sprintf("runtime exited before answering /health: %v", c.err)
		}
		s.phase, s.pid = backoff, 0
	})
	if cause == crashed && c.oomKilled {
		s.log.Warn("runtime killed for exceeding its plan's memory", "pid", c.pid, "memory_mb", s.in.MemoryMB)
		s.d.m.restarts.WithLabelValues("oom").Inc()
	} else if cause == crashed {
		s.d.m.restarts.WithLabelValues("crash").Inc()
	} else if cause == restarted {
		s.d.m.restarts.WithLabelValues("requested").Inc()
	}
	ctx, cancel := context.WithTimeout(s.d.ctx, 10*time.Second)
	defer cancel()
	if err := s.d.o.Store.Exited(ctx, s.in.CustomerID, cause != halted); err != nil {
		s.log.Warn("cannot record runtime exit", "err", err)
	}
}

// pause waits d before the next start; a restart request cuts it short. It
// returns false when supervision is ending.
func (s *supervisor) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stopc:
		return false
	case <-s.restartc:
		return true
	case <-t.C:
		return true
	}
}

// restart asks for a fresh child and returns the generation to outlive.
func (s *supervisor) restart() int {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	select {
	case s.restartc <- struct{}{}:
	default: // one is already pending
	}
	return gen
}

// stop ends supervision, stopping the child, and waits for it.
func (s *supervisor) stop() {
	s.stopOnce.Do(func() { close(s.stopc) })
	<-s.done
}
