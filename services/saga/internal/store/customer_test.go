package store_test

import (
	"context"
	"testing"
	"time"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

func TestCustomerRoundTripAndEvents(t *testing.T) {
	st, err := store.Open(context.Background(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := &domain.Customer{ID: "cus_1", Plan: "pro", State: domain.StatePastDue, SubscriptionID: "sub_1",
		GraceUntil: t0.Add(72 * time.Hour), LastEventAt: t0}
	err = st.WithCustomer(ctx, "cus_1", t0, func(q *store.CustomerTx) error {
		if c, err := q.Customer("cus_1"); err != nil || c != nil {
			t.Errorf("unknown customer: %v %v", c, err)
		}
		for i, id := range []string{"evt_2", "evt_1", "evt_1"} {
			added, err := q.AddEvent(store.Event{ID: id, CustomerID: "cus_1", Subject: "customer.canceled",
				Created: t0.Add(time.Duration(2-i) * time.Second), Payload: []byte(`{}`)})
			if err != nil || added != (i < 2) {
				t.Errorf("add %s: added %v err %v", id, added, err)
			}
		}
		return q.SaveCustomer(want)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.WithCustomer(ctx, "cus_1", t0, func(q *store.CustomerTx) error {
		c, err := q.Customer("cus_1")
		if err != nil || c.State != domain.StatePastDue || !c.GraceUntil.Equal(want.GraceUntil) || !c.ArchiveAt.IsZero() {
			t.Errorf("customer %+v %v", c, err)
		}
		evs, err := q.Pending("cus_1")
		if err != nil || len(evs) != 2 || evs[0].ID != "evt_1" {
			t.Errorf("pending %+v %v", evs, err)
		}
		return q.Decide("evt_1", domain.EventApplied, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.CustomersToReconcile(ctx, t0.Add(73*time.Hour), 10)
	if err != nil || len(ids) != 1 || ids[0] != "cus_1" {
		t.Errorf("to reconcile: %v %v", ids, err)
	}
	if n, err := st.DropPending(ctx, t0.Add(time.Hour), t0.Add(time.Hour)); n != 1 || err != nil {
		t.Errorf("dropped %d %v", n, err)
	}
}
