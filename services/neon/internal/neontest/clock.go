package neontest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

// Sleep is the fake clock a driver under test waits on (its Timing.Sleep):
// it records the wait and ticks once instead of letting time pass.
func (s *Server) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slept = append(s.slept, d)
	s.tickLocked()
	return nil
}

// Slept returns the waits the driver asked for so far.
func (s *Server) Slept() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.slept)
}

// Tick moves every unfinished operation one step on.
func (s *Server) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked()
}

// tickLocked moves each operation one step: scheduling → running →
// finished (running effects in creation order), or the status FailNext
// asked for.
func (s *Server) tickLocked() {
	for _, p := range s.projects {
		s.tickProject(p)
	}
}

// tickProject moves each of p's operations one step.
func (s *Server) tickProject(p *project) {
	for _, o := range p.ops {
		switch o.api.Status {
		case neonapi.OperationStatusScheduling:
			o.api.Status = neonapi.OperationStatusRunning
		case neonapi.OperationStatusRunning:
			if st, ok := s.failNext[o.api.Action]; ok {
				delete(s.failNext, o.api.Action)
				o.fail = st
			}
			if o.fail != "" {
				msg := "neontest: injected failure"
				o.api.Status, o.api.Error, o.api.FailuresCount = o.fail, &msg, 1
				break
			}
			o.api.Status = neonapi.OperationStatusFinished
			if o.effect != nil {
				if err := o.effect(context.Background()); err != nil {
					s.violateLocked("operation %s (%s): %v", o.api.Id, o.api.Action, err)
					msg := err.Error()
					o.api.Status, o.api.Error = neonapi.OperationStatusError, &msg
				}
			}
		default:
			continue
		}
		p.next()
		o.api.UpdatedAt = p.now()
		o.api.TotalDurationMs = int32(o.api.UpdatedAt.Sub(o.api.CreatedAt).Milliseconds())
	}
}

// Settle ticks until no operation is running.
func (s *Server) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for slices.ContainsFunc(s.projects, (*project).busy) {
		s.tickLocked()
	}
}

// BranchInfo is what a test may look at behind the API.
type BranchInfo struct {
	ID string
	// Project is the id of the project holding the branch.
	Project  string
	Endpoint string
	// EndpointState is the read_write endpoint's state (idle, active).
	EndpointState string
	// Passwords maps each role to its current password.
	Passwords map[string]string
	// Database maps each database to the Postgres database behind it.
	Database map[string]string
	// Ready reports whether the branch's operations have finished.
	Ready bool
}

// Branches returns the live branches named name, and the default branch
// of every project named name (a customer's own project).
func (s *Server) Branches(name string) []BranchInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []BranchInfo
	for _, p := range s.projects {
		own := p != s.p && p.name == name
		for _, b := range p.branches {
			if b.deleting || (b.api.Name != name && !(own && b.api.Default)) {
				continue
			}
			out = append(out, s.info(b))
		}
	}
	return out
}

// Branch returns the live branch with id.
func (s *Server) Branch(id string) (BranchInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.projects {
		if b := p.branch(id); b != nil {
			return s.info(b), true
		}
	}
	return BranchInfo{}, false
}

func (s *Server) info(b *branchState) BranchInfo {
	i := BranchInfo{ID: b.api.Id, Project: b.api.ProjectId, Passwords: map[string]string{}, Database: map[string]string{}, Ready: b.api.CurrentState == "ready"}
	if len(b.endpoints) > 0 {
		i.Endpoint, i.EndpointState = b.endpoints[0].Id, string(b.endpoints[0].CurrentState)
	}
	for n, r := range b.roles {
		i.Passwords[n] = r.password
	}
	for n, d := range b.dbs {
		i.Database[n] = d.phys
	}
	return i
}

func (s *Server) violateLocked(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}
