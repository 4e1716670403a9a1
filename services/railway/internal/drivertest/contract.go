// Package drivertest is the contract every compute driver (app.Driver)
// passes, whatever its backend: the process driver runs it against real
// child processes, the Railway driver against a server that answers like
// Railway (package railwaytest).
package drivertest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// Subject is a driver under test with what the contract needs to observe it.
type Subject struct {
	Driver app.Driver
	// NewRequest returns a provision request for a new customer whose
	// database exists and whose database secret is stored.
	NewRequest func(t *testing.T) app.ProvisionRequest
	// Running counts the backend's live units (processes, deployments)
	// running customerID's runtime.
	Running func(t *testing.T, customerID string) int
	// Health is GET url+"/health": its status, or an error when nothing
	// answers. Nil means a real HTTP request (testkit.Health); a backend
	// whose addresses are not reachable from the test (Railway's public
	// domains) answers for them.
	Health func(url string) (int, error)
}

// health asks s's Health, or the real instance.
func (s Subject) health(url string) (int, error) {
	if s.Health != nil {
		return s.Health(url)
	}
	return testkit.Health(url)
}

// timeout bounds every wait of the contract.
const timeout = 60 * time.Second

// RunDriverContract runs the contract against the drivers newSubject
// returns, one per subtest.
func RunDriverContract(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("provision answers health", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		inst := provision(t, s, req)
		if inst.ServiceID != names.Service(req.CustomerID) {
			t.Errorf("ServiceID = %q, want %q", inst.ServiceID, names.Service(req.CustomerID))
		}
		if code, err := s.health(inst.URL); err != nil || code != http.StatusOK {
			t.Errorf("GET %s/health = %d, %v; want 200", inst.URL, code, err)
		}
		wantRunning(t, s, req.CustomerID, 1)
	})

	t.Run("prepare serves nothing, then provision runs what was prepared", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		var prepared app.Instance
		for range 2 { // idempotent
			var err error
			if prepared, err = s.Driver.Prepare(context.Background(), req.CustomerID, req.Plan); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
		}
		// A driver may start the process ahead, blocked on its
		// configuration: one at most.
		if n := s.Running(t, req.CustomerID); n > 1 {
			t.Errorf("%d units run after two prepares, want at most 1", n)
		}
		inst := provision(t, s, req)
		if prepared.ServiceID != inst.ServiceID || (prepared.URL != "" && prepared.URL != inst.URL) {
			t.Errorf("Prepare announced %+v, Provision returned %+v", prepared, inst)
		}
		wantRunning(t, s, req.CustomerID, 1)
	})

	t.Run("delete after prepare succeeds", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		if _, err := s.Driver.Prepare(context.Background(), req.CustomerID, req.Plan); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if err := s.Driver.Delete(context.Background(), req.CustomerID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantRunning(t, s, req.CustomerID, 0)
	})

	t.Run("provision twice returns the same instance", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		first := provision(t, s, req)
		second := provision(t, s, req)
		if first != second {
			t.Errorf("second provision = %+v, want %+v", second, first)
		}
		wantRunning(t, s, req.CustomerID, 1)
	})

	t.Run("concurrent provisions start one runtime", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		var wg sync.WaitGroup
		got := make([]app.Instance, 4)
		for i := range got {
			wg.Go(func() {
				var err error
				if got[i], err = s.Driver.Provision(ctx(t), req); err != nil {
					t.Errorf("Provision: %v", err)
				}
			})
		}
		wg.Wait()
		for _, inst := range got[1:] {
			if inst != got[0] {
				t.Errorf("concurrent provisions returned %+v and %+v", got[0], inst)
			}
		}
		wantRunning(t, s, req.CustomerID, 1)
	})

	t.Run("delete stops the runtime, twice is fine", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		inst := provision(t, s, req)
		for range 2 {
			if err := s.Driver.Delete(ctx(t), req.CustomerID); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		servicetest.Eventually(t, timeout, "the deleted runtime to stop answering", func() bool {
			_, err := s.health(inst.URL)
			return err != nil
		})
		wantRunning(t, s, req.CustomerID, 0)
	})

	t.Run("delete of an unknown customer succeeds", func(t *testing.T) {
		s := newSubject(t)
		if err := s.Driver.Delete(ctx(t), "cus_neverprovisioned"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	})

	t.Run("provision after delete runs again", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		provision(t, s, req)
		if err := s.Driver.Delete(ctx(t), req.CustomerID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		inst := provision(t, s, req)
		if code, err := s.health(inst.URL); err != nil || code != http.StatusOK {
			t.Errorf("GET %s/health = %d, %v; want 200", inst.URL, code, err)
		}
		wantRunning(t, s, req.CustomerID, 1)
	})

	t.Run("restart keeps the address", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		inst := provision(t, s, req)
		if err := s.Driver.Restart(ctx(t), req.CustomerID); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		if code, err := s.health(inst.URL); err != nil || code != http.StatusOK {
			t.Errorf("after restart GET %s/health = %d, %v; want 200", inst.URL, code, err)
		}
		if again := provision(t, s, req); again != inst {
			t.Errorf("provision after restart = %+v, want %+v", again, inst)
		}
		wantRunning(t, s, req.CustomerID, 1)
	})

	t.Run("stop then resume keeps the address, twice each", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		inst := provision(t, s, req)
		for range 2 {
			if err := s.Driver.Stop(ctx(t), req.CustomerID, app.StopSuspended); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		}
		wantRunning(t, s, req.CustomerID, 0)
		for range 2 {
			again, err := s.Driver.Resume(ctx(t), req)
			if err != nil {
				t.Fatalf("Resume: %v", err)
			}
			if again != inst {
				t.Errorf("Resume = %+v, want %+v", again, inst)
			}
		}
		if code, err := s.health(inst.URL); err != nil || code != http.StatusOK {
			t.Errorf("after resume GET %s/health = %d, %v; want 200", inst.URL, code, err)
		}
		wantRunning(t, s, req.CustomerID, 1)
		if err := s.Driver.Delete(ctx(t), req.CustomerID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	})

	t.Run("delete of a stopped instance", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		inst := provision(t, s, req)
		if err := s.Driver.Stop(ctx(t), req.CustomerID, app.StopCanceled); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := s.Driver.Delete(ctx(t), req.CustomerID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		servicetest.Eventually(t, timeout, "the deleted instance to stop answering", func() bool {
			_, err := s.health(inst.URL)
			return err != nil
		})
		if _, err := s.Driver.Resume(ctx(t), req); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("Resume after Delete = %v, want ErrNotFound", err)
		}
	})

	t.Run("resize keeps the address, twice is fine", func(t *testing.T) {
		s := newSubject(t)
		req := s.NewRequest(t)
		inst := provision(t, s, req)
		bigger, err := plans.Lookup(plans.Team)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Driver.Resize(ctx(t), req.CustomerID, bigger); err != nil {
				t.Fatalf("Resize: %v", err)
			}
		}
		if code, err := s.health(inst.URL); err != nil || code != http.StatusOK {
			t.Errorf("after resize GET %s/health = %d, %v; want 200", inst.URL, code, err)
		}
		if again := provision(t, s, req); again != inst {
			t.Errorf("provision after resize = %+v, want %+v", again, inst)
		}
		wantRunning(t, s, req.CustomerID, 1)
	})

	t.Run("lifecycle of an unknown customer is ErrNotFound", func(t *testing.T) {
		s := newSubject(t)
		starter, _ := plans.Lookup(plans.Starter)
		if err := s.Driver.Stop(ctx(t), "cus_neverprovisioned", app.StopSuspended); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("Stop = %v, want ErrNotFound", err)
		}
		if err := s.Driver.Resize(ctx(t), "cus_neverprovisioned", starter); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("Resize = %v, want ErrNotFound", err)
		}
		if _, err := s.Driver.Resume(ctx(t), app.ProvisionRequest{CustomerID: "cus_neverprovisioned", Plan: starter}); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("Resume = %v, want ErrNotFound", err)
		}
	})

	t.Run("restart of an unknown customer is ErrNotFound", func(t *testing.T) {
		s := newSubject(t)
		if err := s.Driver.Restart(ctx(t), "cus_neverprovisioned"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Restart = %v, want ErrNotFound", err)
		}
	})
}

func provision(t *testing.T, s Subject, req app.ProvisionRequest) app.Instance {
	t.Helper()
	inst, err := s.Driver.Provision(ctx(t), req)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return inst
}

func wantRunning(t *testing.T, s Subject, customerID string, want int) {
	t.Helper()
	if got := s.Running(t, customerID); got != want {
		t.Errorf("%d runtimes of %s run, want %d", got, customerID, want)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return c
}
