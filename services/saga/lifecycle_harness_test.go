package saga_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// newLifecycle is a fixture whose outbox keeps every message (the tests
// read notices and state changes from it across months of fake time).
func newLifecycle(t *testing.T, decide func(cmd) action) *fixture {
	t.Helper()
	f := newFixture(t, decide)
	f.vars["SAGA_OUTBOX_RETENTION"] = "100000h"
	return f
}

// stripeAt is the Stripe created-time base of the lifecycle tests' events.
var stripeAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ref is a StripeRef for event evt of cs's subscription, created at
// stripeAt + sec seconds.
func ref(cs, evt string, sec int) *pb.StripeRef {
	return &pb.StripeRef{EventId: evt, Created: timestamppb.New(stripeAt.Add(time.Duration(sec) * time.Second)), SubscriptionId: "sub_" + cs}
}

// publish publishes msg on subject with a fresh message id (a redelivery
// or replay as the stream sees it).
func (f *fixture) publish(subject string, msg proto.Message, msgID string) {
	f.t.Helper()
	if _, err := f.sim.bus.Publish(context.Background(), subject, msg, bus.Envelope{MsgID: msgID}); err != nil {
		f.t.Fatal(err)
	}
}

// customerRow is the lifecycle record as the tests read it.
type customerRow struct {
	State, Plan, Active, ArchiveRef, InstanceURL string
	Grace, Archive, Delete                       *time.Time
}

func (f *fixture) customer(id string) customerRow {
	f.t.Helper()
	var c customerRow
	err := f.p.DB.QueryRow(context.Background(), `SELECT state, plan, active_saga, archive_ref, instance_url, grace_until, archive_at, delete_at
		FROM saga.customers WHERE customer_id = $1`, id).Scan(&c.State, &c.Plan, &c.Active, &c.ArchiveRef, &c.InstanceURL, &c.Grace, &c.Archive, &c.Delete)
	if err != nil {
		return customerRow{}
	}
	return c
}

// waitCustomer waits until customer id is idle in state and the outbox is empty.
func (f *fixture) waitCustomer(id, state string) customerRow {
	f.t.Helper()
	var c customerRow
	servicetest.Eventually(f.t, 20*time.Second, id+" "+state, func() bool {
		c = f.customer(id)
		if c.State != state || c.Active != "" {
			return false
		}
		var pending int
		if err := f.p.DB.QueryRow(context.Background(), `SELECT count(*) FROM saga.outbox WHERE sent_at IS NULL`).Scan(&pending); err != nil {
			f.t.Fatal(err)
		}
		return pending == 0
	})
	return c
}

// eventStatus returns the recorded status and reason of Stripe event id.
func (f *fixture) eventStatus(id string) (string, string) {
	f.t.Helper()
	var st, reason string
	_ = f.p.DB.QueryRow(context.Background(), `SELECT status, reason FROM saga.customer_events WHERE event_id = $1`, id).Scan(&st, &reason)
	return st, reason
}

// active signs cs up and waits for its customer to be active.
func (f *fixture) active(cs string) string {
	f.t.Helper()
	f.signup(cs, "evt_"+cs)
	f.waitStatus(names.SignupSagaID(cs), "completed")
	f.waitCustomer("cus_"+cs, "active")
	return "cus_" + cs
}

// signupAs publishes customer.signed_up for customer cus through checkout cs.
func (f *fixture) signupAs(cus, cs, plan string) {
	f.t.Helper()
	f.publish(subjects.CustomerSignedUp, &pb.CustomerSignedUp{
		StripeEventId: "evt_" + cs, CheckoutSessionId: cs, CustomerId: cus, SubscriptionId: "sub_" + cs,
		Email: "ada@example.com", Name: "Ada", Plan: plan, Timezone: "Europe/Paris", SagaId: names.SignupSagaID(cs),
	}, "msg-"+cs)
}

// commands returns the commands seen on subject, as subject#attempt.
func (f *fixture) commands(subject string) []string { return f.sim.seen(subject) }

// notices returns the kinds of customer.notice messages for customer cus, in order.
func (f *fixture) notices(cus string) []string {
	f.t.Helper()
	rows, err := f.p.DB.Query(context.Background(), `SELECT payload->>'kind' FROM saga.outbox
		WHERE subject = $1 AND customer_id = $2 ORDER BY id`, subjects.CustomerNotice, cus)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// states returns the states customer cus went through (customer.state_changed), in order.
func (f *fixture) states(cus string) []string {
	f.t.Helper()
	rows, err := f.p.DB.Query(context.Background(), `SELECT payload->>'state' FROM saga.outbox
		WHERE subject = $1 AND customer_id = $2 ORDER BY id`, subjects.CustomerStateChanged, cus)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// sagaCount counts sagas of kind for customer cus.
func (f *fixture) sagaCount(cus, kind string) int {
	f.t.Helper()
	var n int
	if err := f.p.DB.QueryRow(context.Background(), `SELECT count(*) FROM saga.sagas WHERE customer_id = $1 AND kind = $2`, cus, kind).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// admin sends an admin request and decodes the JSON reply into dst.
func (f *fixture) admin(subject string, req any, dst any) {
	f.t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := f.sim.bus.Conn().Request(subject, data, 10*time.Second)
	if err != nil {
		f.t.Fatalf("%s: %v", subject, err)
	}
	if err := json.Unmarshal(m.Data, dst); err != nil {
		f.t.Fatalf("%s: %v: %s", subject, err, m.Data)
	}
}
