package saga_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga"
)

// drained waits until the coordinator's consumer has handled everything.
func (f *fixture) drained() {
	f.t.Helper()
	servicetest.Eventually(f.t, 20*time.Second, "saga consumer drained", func() bool {
		c, err := f.sim.bus.JetStream().Consumer(context.Background(), subjects.Stream, saga.ConsumerName)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// TestLifecycleReplayAndDuplicatesChangeNothing runs a customer through
// every transition, then re-publishes every event of the stream (every
// customer.* event and every step answer) under new message ids, as an
// operator's full replay would: no command, saga, notice or state changes.
func TestLifecycleReplayAndDuplicatesChangeNothing(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cs := "cs_all"
	cus := f.active(cs)
	f.publish(subjects.CustomerPlanChanged, &pb.CustomerPlanChanged{Stripe: ref(cs, "evt_a1", 10), CustomerId: cus, Plan: "team"}, "a1")
	servicetest.Eventually(t, 20*time.Second, "plan team", func() bool { c := f.customer(cus); return c.Plan == "team" && c.Active == "" })
	f.publish(subjects.CustomerTrialWillEnd, &pb.CustomerTrialWillEnd{Stripe: ref(cs, "evt_a2", 20), CustomerId: cus}, "a2")
	f.publish(subjects.CustomerPaymentFailed, &pb.CustomerPaymentFailed{Stripe: ref(cs, "evt_a3", 30), CustomerId: cus}, "a3")
	f.waitCustomer(cus, "past_due")
	f.clock.Advance(73 * time.Hour)
	f.waitCustomer(cus, "suspended")
	f.publish(subjects.CustomerPaymentSucceeded, &pb.CustomerPaymentSucceeded{Stripe: ref(cs, "evt_a4", 40), CustomerId: cus}, "a4")
	f.waitCustomer(cus, "active")
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: ref(cs, "evt_a5", 50), CustomerId: cus}, "a5")
	f.waitCustomer(cus, "canceled")
	f.clock.Advance(8 * day)
	f.waitCustomer(cus, "archived")
	f.drained()

	snapshot := func() string {
		var sagas, events, outbox int
		db := f.p.DB
		_ = db.QueryRow(context.Background(), `SELECT count(*) FROM saga.sagas`).Scan(&sagas)
		_ = db.QueryRow(context.Background(), `SELECT count(*) FROM saga.customer_events WHERE status = 'applied'`).Scan(&events)
		_ = db.QueryRow(context.Background(), `SELECT count(*) FROM saga.outbox`).Scan(&outbox)
		c := f.customer(cus)
		return fmt.Sprintf("sagas=%d applied=%d outbox=%d state=%s plan=%s cmds=%d", sagas, events, outbox, c.State, c.Plan, len(f.sim.seen("cmd.")))
	}
	before := snapshot()

	s, err := f.sim.bus.JetStream().Stream(context.Background(), subjects.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	replayed := 0
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		if strings.HasPrefix(m.Subject, "cmd.") || strings.HasPrefix(m.Subject, "saga.") ||
			m.Subject == subjects.CustomerNotice || m.Subject == subjects.CustomerStateChanged {
			continue // the coordinator's own output
		}
		msg := subjects.New(m.Subject)
		if err := bus.Decode(m.Data, msg); err != nil {
			t.Fatal(err)
		}
		f.publish(m.Subject, msg, fmt.Sprintf("replay-%d", seq))
		replayed++
	}
	if replayed < 15 {
		t.Fatalf("replayed only %d events", replayed)
	}
	f.drained()
	f.sim.wg.Wait()
	if after := snapshot(); after != before {
		t.Errorf("replay changed things:\nbefore %s\nafter  %s", before, after)
	}
}
