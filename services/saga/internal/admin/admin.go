// Package admin answers the operator's request/reply subjects (core NATS,
// admin.saga.*) with JSON: show a customer, list sagas, show one saga,
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
	"time"

	"github.com/nats-io/nats.go"

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

// Run subscribes to the admin subjects on nc and answers until ctx ends.
func (s *Server) Run(ctx context.Context, nc *nats.Conn) error {
	handlers := map[string]func(context.Context, []byte) (any, error){
		subjects.AdminSagaCustomerGet:         s.customer,
		subjects.AdminSagaList:                s.list,
		subjects.AdminSagaGet:                 s.saga,
		subjects.AdminSagaRetry:               s.retry,
		subjects.AdminSagaCustomerDeprovision: s.deprovision,
	}
	var subs []*nats.Subscription
	defer func() {
		for _, sub := range subs {
			_ = sub.Drain()
		}
	}()
	for subject, h := range handlers {
		sub, err := nc.QueueSubscribe(subject, QueueGroup, func(m *nats.Msg) {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			body, err := h(rctx, m.Data)
			if err != nil {
				body = errorBody(err)
				s.log.Info("admin request refused", "subject", subject, "err", err)
			}
			data, merr := json.Marshal(body)
			if merr != nil {
				data, _ = json.Marshal(errorReply{Error: merr.Error(), Code: "internal"})
			}
			if err := m.Respond(data); err != nil {
				s.log.Warn("admin reply", "subject", subject, "err", err)
			}
		})
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subject, err)
		}
		subs = append(subs, sub)
	}
	<-ctx.Done()
	return nil
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
