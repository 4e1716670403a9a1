package neontest

import (
	"fmt"
	"slices"
	"time"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

func (s *Server) takeFault(op string) (Fault, bool) {
	for i, f := range s.faults {
		if f.Operation == "" || f.Operation == op {
			if s.faults[i].Times--; s.faults[i].Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f, true
		}
	}
	return Fault{}, false
}

// FailNext makes the next operation with action end with status (failed or
// error) instead of finished.
func (s *Server) FailNext(action neonapi.OperationAction, status neonapi.OperationStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[action] = status
}

// Calls returns the requests answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCalls forgets the requests answered so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

func (s *Server) record(c Call) {
	c.At = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// Violations returns what did not conform to the definition so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// TakeViolations returns the violations and forgets them, for a test that
// sends a non-conforming request on purpose.
func (s *Server) TakeViolations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.violations
	s.violations = nil
	return v
}

func (s *Server) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}
