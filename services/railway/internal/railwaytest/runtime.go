package railwaytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

// Runtime mode (Options.RuntimeBinary): the server plays Railway's edge and
// containers on this machine. A service's domain is 127.0.0.1:<port>, a
// free port taken when the domain is created (Railway routes the domain to
// the container's PORT; here the "container" is a local process, so the
// port stands for the domain). A deployment that would succeed starts the
// runtime binary with the service's variables, its RUNTIME_CONFIG_JSON
// listening on that port, and stays DEPLOYING until GET /health answers
// 200, as Railway's health check holds a deployment back; a runtime that
// exits first makes it CRASHED. Deleting the service, or stopping or
// removing its deployment, stops the process. The driver under test is
// configured to reach domains over plain http (RAILWAY_DOMAIN_SCHEME=http).

// proc is the local process standing for a service's running container.
type proc struct {
	deployID string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
}

// runtimeMode reports whether deployments run the real runtime.
func (st *state) runtimeMode() bool { return st.o.RuntimeBinary != "" }

// localDomain takes a free port on this machine for a new domain.
func localDomain() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// settle decides what a deployment whose outcome is SUCCESS shows in
// runtime mode: DEPLOYING until its runtime answers, SUCCESS once it does,
// CRASHED when the runtime exited.
func (st *state) settle(svc *service, d *deploy) string {
	p := st.procs[svc.id]
	if p == nil || p.deployID != d.id {
		if err := st.startRuntime(svc, d); err != nil {
			st.logf("railwaytest: start runtime of %s: %v", svc.name, err)
			return "CRASHED"
		}
		return "DEPLOYING"
	}
	select {
	case <-p.done:
		delete(st.procs, svc.id)
		return "CRASHED"
	default:
	}
	if len(svc.domains) == 0 || !healthy(svc.domains[0].name) {
		return "DEPLOYING"
	}
	return "SUCCESS"
}

// healthy reports whether the runtime behind a local domain answers /health.
func healthy(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startRuntime starts deployment d of svc as a local process, replacing the
// service's earlier one.
func (st *state) startRuntime(svc *service, d *deploy) error {
	st.stopRuntime(svc.id)
	if len(svc.domains) == 0 {
		return fmt.Errorf("no domain to listen on")
	}
	addr := svc.domains[0].name
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(svc.vars["RUNTIME_CONFIG_JSON"]), &cfg); err != nil {
		return fmt.Errorf("RUNTIME_CONFIG_JSON: %w", err)
	}
	cfg["listen_addr"] = addr // the container's :PORT, as this machine sees it
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	env := append([]string(nil), st.o.RuntimeEnv...)
	for k, v := range svc.vars {
		env = append(env, k+"="+v)
	}
	env = append(env, "PORT="+port, "RUNTIME_CONFIG_JSON="+string(b))
	cmd := exec.Command(st.o.RuntimeBinary)
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = st.o.RuntimeOutput, st.o.RuntimeOutput
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &proc{deployID: d.id, cmd: cmd, done: make(chan struct{})}
	go func() { // reaps the process; ends when it exits
		_ = cmd.Wait()
		close(p.done)
	}()
	st.procs[svc.id] = p
	return nil
}

// stopRuntime stops a service's process, if it runs: SIGTERM, then SIGKILL
// after a grace period.
func (st *state) stopRuntime(serviceID string) {
	p := st.procs[serviceID]
	if p == nil {
		return
	}
	delete(st.procs, serviceID)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every process (the test ended).
func (st *state) stopAll() {
	for id := range st.procs {
		st.stopRuntime(id)
	}
}

// Processes counts the runtime processes running (runtime mode).
func (s *Server) Processes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.st.procs {
		select {
		case <-p.done:
		default:
			n++
		}
	}
	return n
}

// runtimeAction carries a deployment action out on the process: a restart
// starts it afresh at the same address, a stop or removal ends it.
func (st *state) runtimeAction(action string, d *deploy) {
	svc, _ := st.live(d.serviceID)
	p := st.procs[d.serviceID]
	switch {
	case svc == nil:
	case action == "deploymentRestart":
		if err := st.startRuntime(svc, d); err != nil {
			st.logf("railwaytest: restart runtime of %s: %v", svc.name, err)
		}
	case p != nil && p.deployID == d.id:
		st.stopRuntime(d.serviceID)
	}
}
