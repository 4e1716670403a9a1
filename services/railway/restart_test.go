package railway

import (
	"context"
	"errors"
	"sync"
	"testing"

	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/testkit"
)

func TestServiceRestartRunsEachInstanceOnce(t *testing.T) {
	w := newWorld(t)
	stop := servicetest.Start(t, w.env(t), Run)
	c := w.customer(t)
	w.provision(t, c, 1)
	url := w.waitProvisioned(t, 1).GetInstanceUrl()
	before := pids(t, c)
	if len(before) != 1 {
		t.Fatalf("runtimes = %v, want one", before)
	}

	stop()
	if alive(before[0]) {
		t.Fatalf("runtime %d outlived the service", before[0])
	}

	servicetest.Start(t, w.env(t), Run)
	servicetest.Eventually(t, wait, "the instance to run again", func() bool {
		code, err := testkit.Health(url)
		return err == nil && code == 200
	})
	after := pids(t, c)
	if len(after) != 1 || after[0] == before[0] {
		t.Errorf("runtimes after the restart = %v, want one new one (old: %d)", after, before[0])
	}
	if alive(before[0]) {
		t.Errorf("old runtime %d runs again", before[0])
	}

	// A late retry of the step finds the same instance.
	w.provision(t, c, 2)
	if got := w.waitProvisioned(t, 2).GetInstanceUrl(); got != url {
		t.Errorf("after the restart the instance is at %s, want %s", got, url)
	}
	if n := len(pids(t, c)); n != 1 {
		t.Errorf("%d runtimes, want 1", n)
	}
}

// interrupted is a driver whose Provision never finishes: it stops at the
// chosen point until the service shuts down, as if the service had been
// killed there. The command is then neither answered nor acknowledged.
type interrupted struct {
	app.Driver
	service       context.Context
	afterStarting bool
	reached       chan struct{}
	once          sync.Once
}

func (d *interrupted) Provision(ctx context.Context, req app.ProvisionRequest) (app.Instance, error) {
	if d.afterStarting {
		if _, err := d.Driver.Provision(ctx, req); err != nil {
			return app.Instance{}, err
		}
	}
	d.once.Do(func() { close(d.reached) })
	<-d.service.Done()
	return app.Instance{}, errors.New("service stopped mid-provision")
}

func TestServiceStoppedMidProvision(t *testing.T) {
	for _, tt := range []struct {
		name          string
		afterStarting bool
	}{
		{"before the runtime starts", false},
		{"after the runtime started", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			c := w.customer(t)
			ctx, cancel := context.WithCancel(context.Background())
			drv := &interrupted{service: ctx, afterStarting: tt.afterStarting, reached: make(chan struct{})}
			done := make(chan error, 1)
			env := w.env(t)
			go func() {
				done <- run(ctx, env, func(d app.Driver) app.Driver { drv.Driver = d; return drv })
			}()
			w.provision(t, c, 1)
			<-drv.reached
			first := pids(t, c)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("first run: %v", err)
			}
			for _, pid := range first {
				if alive(pid) {
					t.Errorf("runtime %d of the stopped service still runs", pid)
				}
			}
			if n := w.events.Published(t, subjects.ComputeProvisioned); n != 0 {
				t.Fatalf("%d compute.provisioned before the restart", n)
			}

			servicetest.Start(t, w.env(t), Run)
			url := w.waitProvisioned(t, 1).GetInstanceUrl()
			if code, err := testkit.Health(url); err != nil || code != 200 {
				t.Errorf("GET %s/health = %d, %v", url, code, err)
			}
			got := pids(t, c)
			if len(got) != 1 {
				t.Errorf("runtimes = %v, want exactly one", got)
			}
			if n := w.events.Published(t, subjects.ComputeProvisioned); n != 1 {
				t.Errorf("%d compute.provisioned, want 1", n)
			}
		})
	}
}
