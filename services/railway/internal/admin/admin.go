// Package admin answers the compute service's operator subjects
// (admin.compute.*, a nats.go/micro service named compute-admin) with JSON:
// start a health-gated OpenClaw rollout, and show the pinned version, the
// instances by version and the latest rollout. Only the process driver's
// owner answers (the instances are its), and only the operator's principal
// may send these requests (pkg/busauth).
//
// A rollout outlives a request: gateways need tens of seconds each to get
// ready and a reply must come within the bus's response window (a minute),
// so the rollout request answers once the rollout has started, and the
// caller follows it with the status request (`clawctl openclaw rollout`
// does).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/app"
)

// ServiceName is the admin service's name in NATS service discovery.
const ServiceName = "compute-admin"

// Version is the version of the request and reply shapes.
const Version = "1.0.0"

// Rollouts is what the admin service drives (process.Driver).
type Rollouts interface {
	StartRollout(req process.RolloutRequest) error
	LastRollout() (process.RolloutReport, bool)
	Pinned() string
	Versions() map[string]int
}

// RolloutRequest is the body of admin.compute.openclaw.rollout.
type RolloutRequest struct {
	// To is the version to move to (a directory of OPENCLAW_INSTALLS).
	To string `json:"to"`
	// Batch is how many instances move at once (default 1).
	Batch int `json:"batch,omitempty"`
	// Timeout is each instance's health budget on To, a Go duration
	// ("3m"; default OPENCLAW_ROLLOUT_TIMEOUT).
	Timeout string `json:"timeout,omitempty"`
}

// Status is the reply of admin.compute.openclaw.status (and of a started
// rollout).
type Status struct {
	// Pinned is the version new instances get.
	Pinned string `json:"pinned"`
	// Instances counts the supervised openclaw instances by version.
	Instances map[string]int `json:"instances"`
	// Rollout is the latest rollout since the service started, if any.
	Rollout *process.RolloutReport `json:"rollout,omitempty"`
}

// Run registers the admin service on nc and answers until ctx ends.
func Run(ctx context.Context, nc *nats.Conn, r Rollouts, log *slog.Logger) error {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     Version,
		Description: "Compute service operator API: OpenClaw versions and rollouts (JSON; services/railway/README.md)",
	})
	if err != nil {
		return fmt.Errorf("compute admin service: %w", err)
	}
	defer func() { _ = svc.Stop() }()
	s := server{r: r, log: log}
	for _, e := range []struct {
		name, subject string
		h             func([]byte) (any, error)
	}{
		{"openclaw-rollout", subjects.AdminComputeOpenClawRollout, s.rollout},
		{"openclaw-status", subjects.AdminComputeOpenClawStatus, s.status},
	} {
		if err := svc.AddEndpoint(e.name, s.endpoint(e.subject, e.h), micro.WithEndpointSubject(e.subject)); err != nil {
			return fmt.Errorf("compute admin endpoint %s: %w", e.subject, err)
		}
	}
	<-ctx.Done()
	return nil
}

type server struct {
	r   Rollouts
	log *slog.Logger
}

// errBadRequest marks a malformed request.
var errBadRequest = errors.New("bad request")

// errorReply is the body of a refusal, the same shape as the saga's admin
// service: {"error": "...", "code": "bad_request" | "rejected" | "internal"}.
type errorReply struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func (s server) endpoint(subject string, h func([]byte) (any, error)) micro.Handler {
	return micro.HandlerFunc(func(req micro.Request) {
		body, err := h(req.Data())
		if err != nil {
			code := "internal"
			switch {
			case errors.Is(err, errBadRequest):
				code = "bad_request"
			case errors.Is(err, app.ErrRejected):
				code = "rejected"
			}
			s.log.Info("admin request refused", "subject", subject, "err", err)
			data, _ := json.Marshal(errorReply{Error: err.Error(), Code: code})
			if rerr := req.Error(code, strings.Join(strings.Fields(err.Error()), " "), data); rerr != nil {
				s.log.Warn("admin reply", "subject", subject, "err", rerr)
			}
			return
		}
		data, err := json.Marshal(body)
		if err != nil {
			data, _ = json.Marshal(errorReply{Error: err.Error(), Code: "internal"})
		}
		if rerr := req.Respond(data); rerr != nil {
			s.log.Warn("admin reply", "subject", subject, "err", rerr)
		}
	})
}

func (s server) rollout(data []byte) (any, error) {
	var req RolloutRequest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	var timeout time.Duration
	if req.Timeout != "" {
		var err error
		if timeout, err = time.ParseDuration(req.Timeout); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("%w: timeout %q is not a positive duration", errBadRequest, req.Timeout)
		}
	}
	if req.Batch < 0 || req.Batch > 100 {
		return nil, fmt.Errorf("%w: batch %d is not between 1 and 100", errBadRequest, req.Batch)
	}
	if err := s.r.StartRollout(process.RolloutRequest{To: req.To, Batch: req.Batch, Timeout: timeout}); err != nil {
		return nil, err
	}
	s.log.Info("openclaw rollout requested", "openclaw_version", req.To, "batch", req.Batch, "timeout", timeout)
	return s.status(nil)
}

func (s server) status([]byte) (any, error) {
	st := Status{Pinned: s.r.Pinned(), Instances: s.r.Versions()}
	if rep, ok := s.r.LastRollout(); ok {
		st.Rollout = &rep
	}
	return st, nil
}
