package admin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// SagaSummary is a saga in lists.
type SagaSummary struct {
	SagaID      string `json:"saga_id"`
	Kind        string `json:"kind"`
	CustomerID  string `json:"customer_id"`
	Status      string `json:"status"`
	Plan        string `json:"plan"`
	Cause       string `json:"cause"`
	FailedStep  string `json:"failed_step"`
	Reason      string `json:"reason"`
	CreatedAt   string `json:"created_at,omitempty"`
	UpdatedAt   string `json:"updated_at,omitempty"`
	CompletedAt string `json:"completed_at,omitempty"`
}

// StepView is one step of a saga.
type StepView struct {
	Name                string `json:"name"`
	Status              string `json:"status"`
	Attempt             int    `json:"attempt"`
	CompensationAttempt int    `json:"compensation_attempt"`
	StartedAt           string `json:"started_at,omitempty"`
	FinishedAt          string `json:"finished_at,omitempty"`
	Deadline            string `json:"deadline,omitempty"`
	DurationMS          int64  `json:"duration_ms"`
	Error               string `json:"error"`
}

// SagaDetail is one saga with its steps.
type SagaDetail struct {
	SagaSummary
	Steps []StepView `json:"steps"`
}

// Resources says what the customer has, as its state implies.
type Resources struct {
	Compute  string `json:"compute"`
	Database string `json:"database"`
	Archive  string `json:"archive"`
	APIKeys  string `json:"api_keys"`
}

// Timers are the customer's due times, only those set.
type Timers struct {
	GraceUntil string `json:"grace_until,omitempty"`
	ArchiveAt  string `json:"archive_at,omitempty"`
	DeleteAt   string `json:"delete_at,omitempty"`
}

// CustomerView is the operator's view of a customer.
type CustomerView struct {
	CustomerID        string        `json:"customer_id"`
	Plan              string        `json:"plan"`
	State             string        `json:"state"`
	SubscriptionID    string        `json:"subscription_id"`
	Email             string        `json:"email"`
	Name              string        `json:"name"`
	Timezone          string        `json:"timezone"`
	InstanceURL       string        `json:"instance_url"`
	DatabaseRef       string        `json:"database_ref"`
	ArchiveRef        string        `json:"archive_ref"`
	ActiveSaga        string        `json:"active_saga"`
	LastStripeEventAt string        `json:"last_stripe_event_at,omitempty"`
	Resources         Resources     `json:"resources"`
	Timers            Timers        `json:"timers"`
	PendingEvents     int           `json:"pending_events"`
	CreatedAt         string        `json:"created_at,omitempty"`
	UpdatedAt         string        `json:"updated_at,omitempty"`
	Sagas             []SagaSummary `json:"sagas"`
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func summary(s *domain.Saga) SagaSummary {
	return SagaSummary{
		SagaID: s.ID, Kind: s.Kind, CustomerID: s.CustomerID, Status: string(s.Status), Plan: s.Plan, Cause: s.Cause,
		FailedStep: string(s.FailedStep), Reason: s.Reason,
		CreatedAt: stamp(s.CreatedAt), UpdatedAt: stamp(s.UpdatedAt), CompletedAt: stamp(s.CompletedAt),
	}
}

// resources derives what a customer in state has.
func resources(c *domain.Customer) Resources {
	switch c.State {
	case domain.StateProvisioning:
		return Resources{"provisioning", "provisioning", "none", "none"}
	case domain.StateActive, domain.StatePastDue:
		return Resources{"running", "live", "none", "active"}
	case domain.StateSuspended:
		return Resources{"stopped", "live", "none", "active"}
	case domain.StateCanceled:
		return Resources{"stopped", "live", "none", "revoked"}
	case domain.StateArchived:
		return Resources{"stopped", "archived", "present", "revoked"}
	}
	return Resources{"deleted", "deleted", "deleted", "none"}
}

type customerReq struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

func (s *Server) customer(ctx context.Context, data []byte) (any, error) {
	var req customerReq
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if req.CustomerID == "" {
		return nil, fmt.Errorf("%w: customer_id is required", errBadRequest)
	}
	c, pending, err := s.read.CustomerView(ctx, req.CustomerID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("customer %s: %w", req.CustomerID, store.ErrNotFound)
	}
	sagas, err := s.read.ListSagas(ctx, store.Filter{CustomerID: c.ID, Limit: 20})
	if err != nil {
		return nil, err
	}
	v := CustomerView{
		CustomerID: c.ID, Plan: c.Plan, State: c.State, SubscriptionID: c.SubscriptionID, Email: c.Email, Name: c.Name,
		Timezone: c.Timezone, InstanceURL: c.InstanceURL, DatabaseRef: c.DatabaseRef, ArchiveRef: c.ArchiveRef,
		ActiveSaga: c.ActiveSaga, LastStripeEventAt: stamp(c.LastEventAt), Resources: resources(c),
		Timers:        Timers{GraceUntil: stamp(c.GraceUntil), ArchiveAt: stamp(c.ArchiveAt), DeleteAt: stamp(c.DeleteAt)},
		PendingEvents: pending, CreatedAt: stamp(c.CreatedAt), UpdatedAt: stamp(c.UpdatedAt), Sagas: []SagaSummary{},
	}
	for i := range sagas {
		v.Sagas = append(v.Sagas, summary(&sagas[i]))
	}
	return map[string]any{"customer": v}, nil
}

type listReq struct {
	Status     string `json:"status"`
	Kind       string `json:"kind"`
	CustomerID string `json:"customer_id"`
	Limit      int    `json:"limit"`
}

var statuses = []string{"running", "completed", "compensating", "compensated", "failed"}

func (s *Server) list(ctx context.Context, data []byte) (any, error) {
	var req listReq
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if req.Status != "" && !slices.Contains(statuses, req.Status) {
		return nil, fmt.Errorf("%w: status %q is not one of %v", errBadRequest, req.Status, statuses)
	}
	if req.Kind != "" && !slices.Contains(domain.Kinds, req.Kind) {
		return nil, fmt.Errorf("%w: kind %q is not one of %v", errBadRequest, req.Kind, domain.Kinds)
	}
	if req.Limit < 0 || req.Limit > 500 {
		return nil, fmt.Errorf("%w: limit must be between 0 and 500", errBadRequest)
	}
	sagas, err := s.read.ListSagas(ctx, store.Filter{Status: req.Status, Kind: req.Kind, CustomerID: req.CustomerID, Limit: req.Limit})
	if err != nil {
		return nil, err
	}
	out := []SagaSummary{}
	for i := range sagas {
		out = append(out, summary(&sagas[i]))
	}
	return map[string]any{"sagas": out}, nil
}

type sagaReq struct {
	SagaID string `json:"saga_id"`
}

func (s *Server) sagaID(data []byte) (string, error) {
	var req sagaReq
	if err := decode(data, &req); err != nil {
		return "", err
	}
	if req.SagaID == "" {
		return "", fmt.Errorf("%w: saga_id is required", errBadRequest)
	}
	return req.SagaID, nil
}

func (s *Server) saga(ctx context.Context, data []byte) (any, error) {
	id, err := s.sagaID(data)
	if err != nil {
		return nil, err
	}
	sg, err := s.read.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	d := SagaDetail{SagaSummary: summary(sg), Steps: []StepView{}}
	for _, st := range sg.Steps {
		v := StepView{
			Name: string(st.Name), Status: string(st.Status), Attempt: st.Attempt, CompensationAttempt: st.CompensationAttempt,
			StartedAt: stamp(st.StartedAt), FinishedAt: stamp(st.FinishedAt), Deadline: stamp(st.Deadline), Error: st.Error,
		}
		if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() {
			v.DurationMS = st.FinishedAt.Sub(st.StartedAt).Milliseconds()
		}
		d.Steps = append(d.Steps, v)
	}
	return map[string]any{"saga": d}, nil
}

func (s *Server) retry(ctx context.Context, data []byte) (any, error) {
	id, err := s.sagaID(data)
	if err != nil {
		return nil, err
	}
	newID, err := s.act.Retry(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"saga_id": newID}, nil
}

func (s *Server) deprovision(ctx context.Context, data []byte) (any, error) {
	var req customerReq
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if req.CustomerID == "" {
		return nil, fmt.Errorf("%w: customer_id is required", errBadRequest)
	}
	id, err := s.act.Deprovision(ctx, req.CustomerID, req.Reason)
	if err != nil {
		return nil, err
	}
	return map[string]any{"saga_id": id}, nil
}
