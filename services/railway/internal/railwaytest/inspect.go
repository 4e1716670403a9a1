package railwaytest

import (
	"errors"
	"maps"
	"net/url"
	"slices"
)

// ServiceView is a live service as the server holds it.
type ServiceView struct {
	// ID and Name identify the service; Image is its source image.
	ID, Name, Image string
	// RestartPolicy and RestartRetries are its restart policy.
	RestartPolicy  string
	RestartRetries int
	// HealthcheckPath and Region are as last set ("" when never set).
	HealthcheckPath, Region string
	// VCPUs and MemoryGB are its resource limits (0 when never set).
	VCPUs, MemoryGB float64
	// Variables are its service variables.
	Variables map[string]string
	// Domains are the service's domain names and TargetPorts their ports.
	Domains     []string
	TargetPorts []int
	// Deployments are the statuses of its deployments, oldest first.
	Deployments []string
	// Restarts counts the restarts of its latest deployment.
	Restarts int
}

// Services returns the live services named name.
func (s *Server) Services(name string) []ServiceView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ServiceView
	for _, svc := range s.st.services {
		if svc.deleted || svc.name != name {
			continue
		}
		v := ServiceView{ID: svc.id, Name: svc.name, Image: svc.image, RestartPolicy: svc.restartPolicy,
			RestartRetries: svc.restartRetries, Variables: maps.Clone(svc.vars)}
		if svc.healthcheck != nil {
			v.HealthcheckPath = *svc.healthcheck
		}
		if svc.region != nil {
			v.Region = *svc.region
		}
		if svc.vcpus != nil {
			v.VCPUs = *svc.vcpus
		}
		if svc.memGB != nil {
			v.MemoryGB = *svc.memGB
		}
		for _, d := range svc.domains {
			v.Domains = append(v.Domains, d.name)
			if d.targetPort != nil {
				v.TargetPorts = append(v.TargetPorts, *d.targetPort)
			}
		}
		for _, d := range svc.deploys {
			v.Deployments = append(v.Deployments, d.status)
		}
		if d := svc.latest(); d != nil {
			v.Restarts = d.restarts
		}
		out = append(out, v)
	}
	return out
}

// Running counts the live services named name whose latest deployment runs.
func (s *Server) Running(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, svc := range s.st.services {
		if svc.name == name && svc.running() {
			n++
		}
	}
	return n
}

// ErrRefused is what Health returns for an address where nothing runs.
var ErrRefused = errors.New("connection refused: no running deployment behind this domain")

// Health plays GET instanceURL/health on the services' public domains: 200
// when a running deployment is behind the domain, ErrRefused otherwise.
func (s *Server) Health(instanceURL string) (int, error) {
	u, err := url.Parse(instanceURL)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, svc := range s.st.services {
		if !svc.running() {
			continue
		}
		for _, d := range svc.domains {
			if d.name == u.Host && (u.Scheme == "https" || s.st.runtimeMode() && u.Scheme == "http") {
				return 200, nil
			}
		}
	}
	return 0, ErrRefused
}

// Calls returns every request received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCalls forgets the requests received so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Count returns how many requests had root field field.
func (s *Server) Count(field string) int {
	n := 0
	for _, c := range s.Calls() {
		if slices.Contains(c.Fields, field) {
			n++
		}
	}
	return n
}
