package ingress_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// The provisioning page shows the customer's lifecycle state from
// customer.state_changed; a stale report arriving late changes nothing.
func TestProvisioningShowsCustomerState(t *testing.T) {
	t.Parallel()
	h := start(t)
	const cs = "cs_test_state0001"
	if res := h.deliver(t, checkout{EventID: "evt_state", SessionID: cs, Customer: "cus_State1", Plan: "pro"}.payload(t)); res.Code != 200 {
		t.Fatalf("signup: %d %v", res.Code, res.Body)
	}
	if res := h.get(t, "/v1/provisioning/"+cs); res.Body["customer_state"] != nil {
		t.Fatalf("state before any report: %v", res.Body["customer_state"])
	}
	sb := h.sagaBus(t)
	at := time.Unix(1_760_000_000, 0)
	sb.publish(subjects.CustomerStateChanged, &pb.CustomerStateChanged{CustomerId: "cus_State1", State: "past_due",
		PreviousState: "active", Plan: "pro", Cause: "invoice.payment_failed", At: timestamppb.New(at.Add(time.Hour))})
	sb.publish(subjects.CustomerStateChanged, &pb.CustomerStateChanged{CustomerId: "cus_State1", State: "active",
		Plan: "pro", Cause: "saga.completed", At: timestamppb.New(at)}) // older, delivered later
	sb.publish(subjects.CustomerStateChanged, &pb.CustomerStateChanged{CustomerId: "cus_Other", State: "canceled", At: timestamppb.New(at)})
	h.waitProjected(t, sb)
	if res := h.get(t, "/v1/provisioning/"+cs); res.Body["customer_state"] != "past_due" {
		t.Fatalf("customer_state = %v, want past_due", res.Body["customer_state"])
	}
}
