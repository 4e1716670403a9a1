package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health/internal/alert"
	"clawdbot.cloud/services/health/internal/notice"
	"clawdbot.cloud/services/health/internal/store"
)

// MonitorConsumerName is the durable consumer of the events that keep the
// table of live instances, raise alerts and send customer notices. It is
// apart from the check consumer so long readiness checks never hold up an
// alert.
const MonitorConsumerName = "health-monitor"

// Events handles the events the monitoring side follows.
type Events struct {
	Store    *store.Store
	Alerter  *alert.Alerter
	Notifier *notice.Notifier
}

// Register adds the handlers to r.
func (e *Events) Register(r *bus.Router) {
	bus.Handle(r, subjects.CustomerSignedUp, e.signedUp)
	bus.Handle(r, subjects.ComputeProvisioned, e.provisioned)
	bus.Handle(r, subjects.ComputeStarted, e.started)
	bus.Handle(r, subjects.ComputeStopped, e.stopped)
	bus.Handle(r, subjects.ComputeDeleted, e.deleted)
	bus.Handle(r, subjects.CustomerStateChanged, e.stateChanged)
	bus.Handle(r, subjects.SagaCompensated, e.sagaCompensated)
	bus.Handle(r, subjects.SagaFailed, e.sagaFailed)
	bus.Handle(r, subjects.InstanceUnhealthy, e.unhealthy)
	bus.Handle(r, subjects.InstanceRecovered, e.recovered)
	bus.Handle(r, subjects.CustomerNotice, e.Notifier.Handle)
}

// ConsumerConfig is the monitor consumer: short handlers (a mail or a
// webhook at most), a few at a time.
func (e *Events) ConsumerConfig() bus.ConsumerConfig {
	return bus.ConsumerConfig{Name: MonitorConsumerName, Workers: 8, HandlerTimeout: time.Minute}
}

var errNoCustomer = errors.New("event without customer_id")

func (e *Events) signedUp(ctx context.Context, ev *pb.CustomerSignedUp) error {
	if ev.GetCustomerId() == "" {
		return bus.Permanent(errNoCustomer)
	}
	return e.Store.SignedUp(ctx, ev.GetCustomerId(), ev.GetEmail(), ev.GetName(), ev.GetPlan())
}

func (e *Events) provisioned(ctx context.Context, ev *pb.ComputeProvisioned) error {
	return e.up(ctx, ev.GetStep().GetCustomerId(), ev.GetInstanceUrl())
}

func (e *Events) started(ctx context.Context, ev *pb.ComputeStarted) error {
	return e.up(ctx, ev.GetStep().GetCustomerId(), ev.GetInstanceUrl())
}

func (e *Events) up(ctx context.Context, customer, url string) error {
	if customer == "" {
		return bus.Permanent(errNoCustomer)
	}
	return e.Store.ComputeUp(ctx, customer, url, sequence(ctx))
}

func (e *Events) stopped(ctx context.Context, ev *pb.ComputeStopped) error {
	return e.down(ctx, ev.GetStep().GetCustomerId())
}

func (e *Events) deleted(ctx context.Context, ev *pb.ComputeDeleted) error {
	return e.down(ctx, ev.GetStep().GetCustomerId())
}

func (e *Events) down(ctx context.Context, customer string) error {
	if customer == "" {
		return bus.Permanent(errNoCustomer)
	}
	return e.Store.ComputeDown(ctx, customer, sequence(ctx))
}

func (e *Events) stateChanged(ctx context.Context, ev *pb.CustomerStateChanged) error {
	if ev.GetCustomerId() == "" {
		return bus.Permanent(errNoCustomer)
	}
	var at time.Time
	if ev.GetAt() != nil {
		at = ev.GetAt().AsTime()
	}
	return e.Store.StateChanged(ctx, ev.GetCustomerId(), ev.GetState(), ev.GetPlan(), at)
}

func (e *Events) sagaCompensated(ctx context.Context, ev *pb.SagaCompensated) error {
	return e.Alerter.Send(ctx, alert.Alert{
		Key:     "saga.compensated/" + ev.GetSagaId(),
		Kind:    "saga_compensated",
		Subject: fmt.Sprintf("Signup compensated: %s", ev.GetSagaId()),
		Text: fmt.Sprintf("Saga %s for customer %s failed at step %q and was undone.\nReason: %s",
			ev.GetSagaId(), ev.GetCustomerId(), ev.GetFailedStep(), ev.GetReason()),
	})
}

func (e *Events) sagaFailed(ctx context.Context, ev *pb.SagaFailed) error {
	return e.Alerter.Send(ctx, alert.Alert{
		Key:     "saga.failed/" + ev.GetSagaId(),
		Kind:    "saga_failed",
		Subject: fmt.Sprintf("Saga FAILED, resources may remain: %s", ev.GetSagaId()),
		Text: fmt.Sprintf("Saga %s for customer %s failed at step %q and its compensation did not finish; "+
			"an operator must look (retry or force-deprovision).\nReason: %s",
			ev.GetSagaId(), ev.GetCustomerId(), ev.GetFailedStep(), ev.GetReason()),
	})
}

func (e *Events) unhealthy(ctx context.Context, ev *pb.InstanceUnhealthy) error {
	return e.Alerter.Send(ctx, alert.Alert{
		Key:     "instance.down/" + ev.GetIncidentId(),
		Kind:    "instance_down",
		Subject: fmt.Sprintf("Instance down: %s", ev.GetCustomerId()),
		Text: fmt.Sprintf("Instance %s of customer %s failed %d health probes in a row since %s.\nLast: %s\nIncident: %s",
			ev.GetInstanceUrl(), ev.GetCustomerId(), ev.GetConsecutiveFailures(),
			ev.GetSince().AsTime().UTC().Format(time.RFC3339), ev.GetLastError(), ev.GetIncidentId()),
	})
}

func (e *Events) recovered(ctx context.Context, ev *pb.InstanceRecovered) error {
	return e.Alerter.Send(ctx, alert.Alert{
		Key:     "instance.recovered/" + ev.GetIncidentId(),
		Follows: "instance.down/" + ev.GetIncidentId(),
		Kind:    "instance_recovered",
		Subject: fmt.Sprintf("Instance recovered: %s", ev.GetCustomerId()),
		Text: fmt.Sprintf("Instance %s of customer %s answers again after %s.\nIncident: %s",
			ev.GetInstanceUrl(), ev.GetCustomerId(), time.Duration(ev.GetDownForMs())*time.Millisecond, ev.GetIncidentId()),
	})
}

// sequence is the stream sequence of the event being handled, which orders
// the compute events of one customer.
func sequence(ctx context.Context) uint64 {
	d, _ := bus.DeliveryFrom(ctx)
	return d.Sequence
}
