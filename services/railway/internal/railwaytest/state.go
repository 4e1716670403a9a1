package railwaytest

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// state is what the server's Railway account holds: one project with one
// environment, and the services created in it.
type state struct {
	o           Options
	seq         int
	services    []*service // in creation order, deleted ones included
	deployments map[string]*deploy
	failNext    []string // statuses of the next deployments that fail
	// procs are the runtime processes by service id (runtime mode).
	procs map[string]*proc
	logf  func(format string, args ...any)
}

// service is a service with its one instance (the environment's).
type service struct {
	id, name       string
	deleted        bool
	image          string
	healthcheck    *string
	restartPolicy  string
	restartRetries int
	region         *string
	vcpus, memGB   *float64
	vars           map[string]string
	domains        []*domain
	deploys        []*deploy
}

type domain struct {
	id, name   string
	targetPort *int
}

// deploy is a deployment: pending until read DeploySteps times, then outcome.
type deploy struct {
	id, serviceID   string
	status, outcome string
	reads, restarts int
	stopped         bool
	createdAt       string
}

func newState(o Options) *state {
	return &state{o: o, deployments: map[string]*deploy{}, procs: map[string]*proc{}}
}

// createdAt is the fixed timestamp of everything the fake creates.
var createdAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)

// newID returns a fresh UUID, as Railway's ids are.
func (st *state) newID() string {
	st.seq++
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// gqlErr is an error answer as Railway words it.
func gqlErr(format string, args ...any) error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...)}
}

// live returns the service with id, unless deleted.
func (st *state) live(id string) (*service, error) {
	for _, s := range st.services {
		if s.id == id && !s.deleted {
			return s, nil
		}
	}
	return nil, gqlErr("Service not found")
}

// checkScope refuses a project or environment that is not the account's.
func (st *state) checkScope(projectID, environmentID any) error {
	if p, ok := projectID.(string); ok && p != st.o.ProjectID {
		return gqlErr("Not Authorized")
	}
	if e, ok := environmentID.(string); ok && e != st.o.EnvironmentID {
		return gqlErr("Environment not found")
	}
	return nil
}

// latest is a service's most recent deployment, nil before the first.
func (s *service) latest() *deploy {
	if len(s.deploys) == 0 {
		return nil
	}
	return s.deploys[len(s.deploys)-1]
}

// running reports a service whose runtime serves.
func (s *service) running() bool {
	d := s.latest()
	return !s.deleted && d != nil && d.status == "SUCCESS" && !d.stopped
}

// pending statuses of a deployment that has not settled.
var pendingSteps = []string{"INITIALIZING", "DEPLOYING"}

// advance moves a pending deployment one step as it is read.
func (st *state) advance(d *deploy) {
	if d.status != "QUEUED" && d.status != "INITIALIZING" && d.status != "DEPLOYING" {
		return
	}
	d.reads++
	if d.reads < st.o.DeploySteps {
		d.status = pendingSteps[min(d.reads-1, len(pendingSteps)-1)]
		return
	}
	svc, _ := st.live(d.serviceID)
	d.status = d.outcome
	if d.outcome == "SUCCESS" && st.runtimeMode() && svc != nil {
		d.status = st.settle(svc, d)
	}
	if d.status != "SUCCESS" || svc == nil {
		return
	}
	// A new successful deployment replaces the service's earlier ones.
	for _, old := range svc.deploys {
		if old != d && old.status == "SUCCESS" {
			old.status = "REMOVED"
		}
	}
}
