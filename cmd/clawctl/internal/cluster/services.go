package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/service"
)

// startServices bootstraps the services' database roles and starts every
// replica of every service from its own binary, then waits for all of them.
func (c *Cluster) startServices(ctx context.Context, s platform.Settings, o Options) error {
	key, err := platform.LoadKey(s)
	if err != nil {
		return err
	}
	roles, err := platform.BootstrapRoles(ctx, c.DatabaseURL, key)
	if err != nil {
		return err
	}
	customerAdminURL, err := roles.URL(c.DatabaseURL, roles.CustomerAdmin())
	if err != nil {
		return err
	}
	// The services' dev configuration, where the configuration leaves it
	// unset (as clawctl dev does).
	var shared []string
	for k, v := range platform.ServiceEnv(s, customerAdminURL) {
		if ev, ok := o.Env(k); ok && ev != "" {
			v = ev
		}
		shared = append(shared, k+"="+v)
	}
	shared = append(shared,
		"NATS_REPLICAS="+strconv.Itoa(Nodes),
		"NATS_CA="+c.NATSCA,
		"NATS_PASSWORD=", // the file below, never the environment
		"CLAW_ENCRYPTION_KEY="+keyText(key),
		// The ingress and web replicas share their ports.
		service.ReusePortKey+"=true",
	)
	for i, svc := range platform.Services {
		bin := filepath.Join(o.BinDir, svc.Name)
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s: %w (run `make build`)", svc.Name, err)
		}
		dbURL, err := roles.URL(c.DatabaseURL, roles.Role(svc.Name))
		if err != nil {
			return err
		}
		for r := 1; r <= o.Replicas; r++ {
			name := svc.Name + "-" + strconv.Itoa(r)
			p := newProcess(name, svc.Name, r, loopback(o.Ports.Ops(i, r)), filepath.Join(s.DataDir, "logs", name+".log"), c.log, !o.NoRestart)
			// Replicas spread over the nodes; each client learns the
			// others from the cluster and fails over to them.
			node := (i*o.Replicas + r - 1) % Nodes
			env := append(append(append([]string{}, o.Environ...), shared...),
				"NATS_URL="+natsURL(o.Ports.Client[node]),
				"NATS_USER="+svc.Name,
				"NATS_PASSWORD_FILE="+busauth.PasswordFile(c.AuthDir, svc.Name),
				"DATABASE_URL="+dbURL,
				"OPS_ADDR="+p.OpsAddr,
				// Replicas share the service's directory: with the
				// process driver only the compute replica holding the
				// instances' lock uses it.
				"DATA_DIR="+filepath.Join(s.DataDir, svc.Name),
			)
			if err := p.start(bin, nil, env); err != nil {
				return err
			}
			c.services = append(c.services, p)
		}
	}
	deadline := time.Now().Add(o.StartTimeout)
	for _, p := range c.services {
		if err := waitReady(ctx, p, deadline); err != nil {
			return err
		}
	}
	for _, addr := range []string{s.IngressAddr, s.WebAddr} {
		if err := platform.WaitTCP(ctx, addr, time.Until(deadline)); err != nil {
			return err
		}
	}
	return c.awaitConsumerLeaders(ctx, time.Until(deadline))
}

// WaitReady waits until every process runs and answers: each service
// replica 200 on /readyz, each NATS node 200 on /healthz (JetStream
// current). A process that is down waits for its restart.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 3 * time.Second}
	for _, p := range append(append([]*Process{}, c.nodes...), c.services...) {
		path := "/readyz"
		if p.Service == "nats" {
			path = "/healthz"
		}
		for !p.Alive() || !answers(client, "http://"+p.OpsAddr+path) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s was not ready within %v (alive %v, restarts %d, log %s)", p.Name, timeout, p.Alive(), p.Restarts(), p.LogPath)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// answers reports whether url answers 200.
func answers(client *http.Client, url string) bool {
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady waits until p answers 200 on /readyz, failing early if it exits.
func waitReady(ctx context.Context, p *Process, deadline time.Time) error {
	client := &http.Client{Timeout: 3 * time.Second}
	for {
		if !p.Alive() {
			return fmt.Errorf("%s exited while starting: %v (log %s)", p.Name, p.Err(), p.LogPath)
		}
		resp, err := client.Get("http://" + p.OpsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready in time (log %s)", p.Name, p.LogPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
