// Package admin answers the operator's request/reply subjects (admin.saga.*,
// a nats.go/micro service named saga-admin) with JSON: show a customer, list sagas, show one saga,
// retry a saga, force-deprovision a customer. The shapes are documented in
// the service's README and are stable: the ingress admin endpoints and the
// CLI code against them.
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
	"clawdbot.cloud/services/saga/internal/app"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// QueueGroup is the queue group every coordinator replica answers in.
const QueueGroup = "saga-admin"

// Reader is the read side the operator view needs (store.Store).
type Reader interface {
	Get(ctx context.Context, id string) (*domain.Saga, error)
	ListSagas(ctx context.Context, f store.Filter) ([]domain.Saga, error)
	CustomerView(ctx context.Context, id string) (*domain.Customer, int, error)
}

// Actions are the operator's actions (app.App).
type Actions interface {
	Retry(ctx context.Context, id string) (string, error)
	Deprovision(ctx context.Context, id, reason string) (string, error)
}

// Server answers admin requests.
type Server struct {
	read Reader
	act  Actions
	log  *slog.Logger
}

// New returns a Server.
func New(read Reader, act Actions, log *slog.Logger) *Server {
	return &Server{read: read, act: act, log: log}
}

// ServiceName is the admin service's name in NATS service discovery:
// `nats micro ls`, `nats micro info saga-admin`, `nats micro stats saga-admin`.
const ServiceName = "saga-admin"

// Version is the version of the admin request and reply shapes.
const Version = "1.0.0"

// Run registers the admin service on nc (nats.go/micro, so NATS service
// discovery lists it with its endpoints and counts its requests and errors)
// and answers until ctx ends. Every replica answers in QueueGroup.
func (s *Server) Run(ctx context.Context, nc *nats.Conn) error {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     Version,
		Description: "Saga coordinator operator API: customers, sagas, retry, force-deprovision (JSON; services/saga/README.md)",
		QueueGroup:  QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("admin service: %w", err)
	}
	defer func() { _ = svc.Stop() }()
	for _, e := range []struct {
		name, subject string
		h             func(context.Context, []byte) (any, error)
	}{
		{"customer-get", subjects.AdminSagaCustomerGet, s.customer},
		{"sagas-list", subjects.AdminSagaList, s.list},
		{"saga-get", subjects.AdminSagaGet, s.saga},
		{"saga-retry", subjects.AdminSagaRetry, s.retry},
		{"customer-deprovision", subjects.AdminSagaCustomerDeprovision, s.deprovision},
	} {
		if err := svc.AddEndpoint(e.name, s.endpoint(ctx, e.subject, e.h), micro.WithEndpointSubject(e.subject)); err != nil {
			return fmt.Errorf("admin endpoint %s: %w", e.subject, err)
		}
	}
	<-ctx.Done()
	return nil
}

// endpoint answers one admin subject with h's JSON. A refusal is a JSON
// error body too (the shape the clients read), sent as a micro error so
// `nats micro stats` counts it.
func (s *Server) endpoint(ctx context.Context, subject string, h func(context.Context, []byte) (any, error)) micro.Handler {
	return micro.HandlerFunc(func(req micro.Request) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		body, err := h(rctx, req.Data())
		if err != nil {
			s.log.Info("admin request refused", "subject", subject, "err", err)
			eb := errorBody(err)
			data, _ := json.Marshal(eb)
			// The description travels in a header: one line.
			desc := strings.Join(strings.Fields(eb.Error), " ")
			if rerr := req.Error(eb.Code, desc, data); rerr != nil {
				s.log.Warn("admin reply", "subject", subject, "err", rerr)
			}
			return
		}
		data, merr := json.Marshal(body)
		if merr != nil {
			data, _ = json.Marshal(errorReply{Error: merr.Error(), Code: "internal"})
		}
		if rerr := req.Respond(data); rerr != nil {
			s.log.Warn("admin reply", "subject", subject, "err", rerr)
		}
	})
}

// errBadRequest marks a malformed request.
var errBadRequest = errors.New("bad request")

type errorReply struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func errorBody(err error) errorReply {
	code := "internal"
	switch {
	case errors.Is(err, errBadRequest):
		code = "bad_request"
	case errors.Is(err, app.ErrNotFound), errors.Is(err, store.ErrNotFound):
		code = "not_found"
	case errors.Is(err, app.ErrConflict):
		code = "conflict"
	}
	return errorReply{Error: err.Error(), Code: code}
}

func decode(data []byte, dst any) error {
	if len(data) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}
