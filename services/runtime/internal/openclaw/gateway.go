package openclaw

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Supervision defaults.
const (
	defaultMinBackoff = time.Second
	defaultMaxBackoff = 30 * time.Second
	// stableAfter is how long a gateway must have run for the next
	// restart's backoff to start from the minimum again.
	stableAfter = 2 * time.Minute
	// stopGrace is how long a stopping gateway gets after SIGTERM before
	// SIGKILL. OpenClaw's own drain budget is minutes; the runtime's
	// shutdown is seconds, and the gateway's state survives a kill.
	stopGrace = 2 * time.Second
	// probeEvery is the readiness poll while starting and then while up.
	probeStarting = 250 * time.Millisecond
	probeUp       = 2 * time.Second
	// heapMB caps the gateway's V8 heap, as OpenClaw advises for 2 GB.
	heapMB = 1536
)

// ErrNotReady reports that the gateway is not (or no longer) ready.
var ErrNotReady = errors.New("openclaw gateway is not ready")

// Options configure a Gateway.
type Options struct {
	// Install is the Node/OpenClaw install to run.
	Install Install
	// Bwrap is the bubblewrap executable; empty runs the gateway without a
	// sandbox, which only NoSandbox allows.
	Bwrap string
	// NoSandbox allows running without bubblewrap (development only; the
	// runtime logs a warning).
	NoSandbox bool
	// StateDir is the gateway's own directory (OPENCLAW_STATE_DIR); the
	// agent's workspace is StateDir/workspace.
	StateDir string
	// Model is the model endpoint (the runtime's metering model proxy);
	// ModelKey its key, the proxy's per-start secret.
	Model    Model
	ModelKey string
	// Env are further variables for the gateway (TZ, LANG, proxies, TLS
	// roots), "KEY=value".
	Env []string
	// MinBackoff and MaxBackoff bound the wait before a restart.
	MinBackoff, MaxBackoff time.Duration
	// Log receives the supervisor's events and the gateway's output.
	Log *slog.Logger
}

// Gateway supervises one OpenClaw gateway. Run starts it and keeps it
// running; Ready, BaseURL and Provider are safe for concurrent use.
type Gateway struct {
	o      Options
	token  string
	port   int
	client *http.Client
	// proxyUser is the identity the Control UI proxy presents (ProxyUserEnv).
	proxyUser string
	control   http.Handler

	ready    atomic.Bool
	restarts atomic.Int64
	mu       sync.Mutex
	pid      int // of the current bwrap (or node) process, 0 when none
}

// New prepares a gateway: a fresh token, a free loopback port, the state
// directory and its openclaw.json. It starts nothing; Run does.
func New(o Options) (*Gateway, error) {
	if o.Bwrap == "" && !o.NoSandbox {
		return nil, errors.New("openclaw gateway: no bubblewrap (apt-get install bubblewrap) and the sandbox is not explicitly off")
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = defaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(defaultMaxBackoff, o.MinBackoff)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	state, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, fmt.Errorf("openclaw state dir: %w", err)
	}
	o.StateDir = state
	if err := os.MkdirAll(filepath.Join(state, "workspace"), 0o700); err != nil {
		return nil, fmt.Errorf("openclaw state dir: %w", err)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	proxyUser, err := newToken()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg, err := Render(Settings{Port: port, Workspace: filepath.Join(state, "workspace"), Model: o.Model})
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(state, "openclaw.json"), cfg); err != nil {
		return nil, err
	}
	g := &Gateway{o: o, token: token, port: port, client: &http.Client{Timeout: 2 * time.Second}, proxyUser: "claw-proxy-" + proxyUser}
	g.control = g.newControlProxy()
	return g, nil
}

// Workspace is the agent's workspace directory.
func (g *Gateway) Workspace() string { return filepath.Join(g.o.StateDir, "workspace") }

// BaseURL is the gateway's loopback address, http://127.0.0.1:<port>.
func (g *Gateway) BaseURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port))
}

// Ready returns nil once the gateway answers /readyz, ErrNotReady before
// and whenever it is down.
func (g *Gateway) Ready() error {
	if g.ready.Load() {
		return nil
	}
	return ErrNotReady
}

// Restarts is how many times the gateway has been restarted.
func (g *Gateway) Restarts() int64 { return g.restarts.Load() }

// PID is the process id of the gateway's sandbox (bubblewrap, or Node when
// unsandboxed), 0 when none runs.
func (g *Gateway) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pid
}

// Run starts the gateway and restarts it whenever it exits, waiting
// MinBackoff, doubling up to MaxBackoff while it keeps dying young. It
// returns nil once ctx is done and the gateway has been stopped.
func (g *Gateway) Run(ctx context.Context) error {
	backoff := g.o.MinBackoff
	for {
		started := time.Now()
		err := g.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > stableAfter {
			backoff = g.o.MinBackoff
		}
		g.o.Log.Warn("openclaw gateway exited; restarting", "err", err, "after", backoff.String(), "restarts", g.restarts.Load())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, g.o.MaxBackoff)
		g.restarts.Add(1)
	}
}

// runOnce runs the gateway until it exits or ctx is done.
func (g *Gateway) runOnce(ctx context.Context) error {
	cmd := g.command()
	out := newLineLog(g.o.Log, g.token, g.proxyUser, g.o.ModelKey)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start openclaw gateway: %w", err)
	}
	pid := cmd.Process.Pid
	g.mu.Lock()
	g.pid = pid
	g.mu.Unlock()
	g.o.Log.Info("openclaw gateway started", "pid", pid, "port", g.port, "sandbox", g.o.Bwrap != "")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() { defer close(probed); g.probe(probeCtx) }()
	defer func() {
		stopProbe()
		<-probed
		g.ready.Store(false)
		out.Flush()
		g.mu.Lock()
		g.pid = 0
		g.mu.Unlock()
	}()
	select {
	case err := <-exited:
		// Whatever the gateway left in its group goes with it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		if err == nil {
			err = errors.New("exited with status 0")
		}
		return err
	case <-ctx.Done():
		g.ready.Store(false)
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		g.o.Log.Info("openclaw gateway stopped", "pid", pid)
		return ctx.Err()
	}
}

// command is the gateway's process: Node running `openclaw gateway`, inside
// the sandbox unless it is off, in a process group of its own and killed
// with this process.
func (g *Gateway) command() *exec.Cmd {
	argv := []string{g.o.Install.Node, "--max-old-space-size=" + strconv.Itoa(heapMB), g.o.Install.Entry,
		"gateway", "--port", strconv.Itoa(g.port), "--bind", "loopback"}
	if g.o.Bwrap != "" {
		argv = Sandbox{Bwrap: g.o.Bwrap, StateDir: g.o.StateDir, ReadOnly: g.o.Install.Mounts}.Args(argv...)
	}
	env := append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + g.o.StateDir,
		"OPENCLAW_STATE_DIR=" + g.o.StateDir,
		"OPENCLAW_CONFIG_PATH=" + filepath.Join(g.o.StateDir, "openclaw.json"),
		TokenEnv + "=" + g.token,
		ProxyUserEnv + "=" + g.proxyUser,
		"NO_COLOR=1",
		"TMPDIR=/tmp",
	}, g.o.Env...)
	if g.o.ModelKey != "" {
		env = append(env, ModelKeyEnv+"="+g.o.ModelKey)
	}
	return &exec.Cmd{
		Path: argv[0],
		Args: argv,
		Env:  env,
		Dir:  g.o.StateDir,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid: true,
			// Killed when the runtime dies, even by SIGKILL (bubblewrap's
			// --die-with-parent does the same inside the sandbox).
			Pdeathsig: syscall.SIGKILL,
		},
		WaitDelay: stopGrace,
	}
}

// probe polls /readyz until ctx is done, keeping g.ready current.
func (g *Gateway) probe(ctx context.Context) {
	every := probeStarting
	for {
		ok := g.readyz(ctx)
		if ok != g.ready.Load() {
			g.ready.Store(ok)
			if ok {
				g.o.Log.Info("openclaw gateway ready", "port", g.port)
			} else {
				g.o.Log.Warn("openclaw gateway not ready")
			}
		}
		if ok {
			every = probeUp
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (g *Gateway) readyz(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.BaseURL()+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// newToken is a gateway token: 32 random bytes, base64url.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("gateway token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a port for the openclaw gateway: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeFileAtomic writes b to path through a temporary file and a rename,
// mode 0600.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
