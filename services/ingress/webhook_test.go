package ingress_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	stripefixture "clawdbot.cloud/pkg/stripefixture"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

func TestWebhookPublishesSignup(t *testing.T) {
	h := start(t)
	ev := checkout{EventID: "evt_signup1", SessionID: "cs_test_signup0001", Customer: "cus_Grace1", Plan: "pro"}
	res := h.deliver(t, ev.payload(t))
	if res.Code != http.StatusOK || res.Body["received"] != true || res.Body["duplicate"] != false {
		t.Fatalf("got %d %v, want 200 received", res.Code, res.Body)
	}

	msgs := h.signedUp(t)
	if len(msgs) != 1 {
		t.Fatalf("%d customer.signed_up on the stream, want 1", len(msgs))
	}
	var got pb.CustomerSignedUp
	if err := bus.Decode(msgs[0].Data(), &got); err != nil {
		t.Fatal(err)
	}
	want := &pb.CustomerSignedUp{
		StripeEventId: "evt_signup1", CheckoutSessionId: "cs_test_signup0001", CustomerId: "cus_Grace1",
		SubscriptionId: "sub_test_signup0001", Email: "grace@example.com", Name: "Grace Hopper", Plan: "pro",
		Timezone: "Europe/Berlin", SagaId: names.SignupSagaID("cs_test_signup0001"), OccurredAt: timestamppb.New(time.Unix(1712345678, 0)),
	}
	if d := cmp.Diff(want, &got, protocmp.Transform()); d != "" {
		t.Errorf("customer.signed_up (-want +got):\n%s", d)
	}
	wantHeaders := map[string]string{
		"Nats-Msg-Id":           "evt_signup1",
		bus.HeaderEventType:     "clawdbot.v1.CustomerSignedUp",
		bus.HeaderSchemaVersion: bus.SchemaVersion,
		bus.HeaderSagaID:        names.SignupSagaID("cs_test_signup0001"),
		bus.HeaderCustomerID:    "cus_Grace1",
		bus.HeaderStripeEventID: "evt_signup1",
		bus.HeaderService:       "ingress",
	}
	for k, v := range wantHeaders {
		if g := msgs[0].Headers().Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if n := h.webhooks(t, "checkout.session.completed", "published"); n != 1 {
		t.Errorf("published counter = %v, want 1", n)
	}
	if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_http_requests_total",
		map[string]string{"route": "POST /webhooks/stripe", "code": "200"}); n != 1 {
		t.Errorf("http requests counter = %v, want 1", n)
	}

	// The read model knows the session before the saga has said anything.
	p := h.get(t, "/v1/provisioning/cs_test_signup0001")
	if p.Code != http.StatusOK || p.Body["status"] != "provisioning" {
		t.Fatalf("provisioning: %d %v", p.Code, p.Body)
	}
}

func TestWebhookRefusals(t *testing.T) {
	h := start(t)
	now := time.Now()
	valid := checkout{EventID: "evt_refused1", SessionID: "cs_test_refused001", Plan: "starter"}.payload(t)
	big := append(bytes.Repeat([]byte(" "), 1<<20), valid...)
	tests := []struct {
		name      string
		payload   []byte
		signature string
		code      int
		eventType string
		outcome   string
		errSub    string
	}{
		{"missing signature", valid, "", 400, "other", "bad_signature", "missing Stripe-Signature"},
		{"forged signature", valid, sign(valid, now, "whsec_attacker"), 400, "other", "bad_signature", "no valid signature"},
		{"tampered body", bytes.Replace(valid, []byte("starter"), []byte("team"), 1), sign(valid, now, secret), 400, "other", "bad_signature", "no valid signature"},
		{"expired signature", valid, sign(valid, now.Add(-6*time.Minute), secret), 400, "other", "bad_signature", "tolerance"},
		{"malformed signature header", valid, "t=abc,v1=zz", 400, "other", "bad_signature", "invalid Stripe-Signature"},
		{"malformed JSON", []byte(`{"id": "evt_x", "type": `), sign([]byte(`{"id": "evt_x", "type": `), now, secret), 400, "other", "bad_payload", "json"},
		{"body over 1 MiB", big, sign(big, now, secret), 413, "other", "too_large", "1 MiB"},
		{"unknown plan", checkout{EventID: "evt_gold", SessionID: "cs_test_gold00001", Plan: "gold"}.payload(t), "",
			422, "checkout.session.completed", "unknown_plan", "unknown plan"},
		{"missing plan", checkout{EventID: "evt_noplan", SessionID: "cs_test_noplan001"}.payload(t), "",
			422, "checkout.session.completed", "unknown_plan", "no price paid"},
		{"bad customer id", checkout{EventID: "evt_badcus", SessionID: "cs_test_badcus001", Customer: "acct_1", Plan: "pro"}.payload(t), "",
			400, "checkout.session.completed", "bad_payload", "customer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig := tc.signature
			if sig == "" && tc.name != "missing signature" {
				sig = sign(tc.payload, time.Now(), secret)
			}
			before := h.webhooks(t, tc.eventType, tc.outcome)
			res := h.post(t, tc.payload, sig)
			if res.Code != tc.code {
				t.Fatalf("status %d %v, want %d", res.Code, res.Body, tc.code)
			}
			if msg, _ := res.Body["error"].(string); !strings.Contains(msg, tc.errSub) {
				t.Errorf("error %q, want it to mention %q", msg, tc.errSub)
			}
			if n := len(h.signedUp(t)); n != 0 {
				t.Errorf("%d events published, want none", n)
			}
			if after := h.webhooks(t, tc.eventType, tc.outcome); after != before+1 {
				t.Errorf("counter %s/%s moved from %v to %v, want +1", tc.eventType, tc.outcome, before, after)
			}
		})
	}

	// The unknown plan is on record for an operator, with Stripe's retries counted.
	gold := checkout{EventID: "evt_gold", SessionID: "cs_test_gold00001", Plan: "gold"}.payload(t)
	if res := h.deliver(t, gold); res.Code != 422 {
		t.Fatalf("retry of unknown plan: %d", res.Code)
	}
	var reason string
	var deliveries int
	err := h.env.DB.QueryRow(context.Background(),
		`SELECT reason, deliveries FROM ingress.rejected_events WHERE event_id = 'evt_gold'`).Scan(&reason, &deliveries)
	if err != nil || deliveries != 2 || !strings.Contains(reason, `"price_dev_gold"`) {
		t.Errorf("rejected event: reason %q, deliveries %d, err %v", reason, deliveries, err)
	}
	// Refusals leave no provisioning row behind.
	if res := h.get(t, "/v1/provisioning/cs_test_gold00001"); res.Code != 404 {
		t.Errorf("provisioning of a refused session: %d", res.Code)
	}
}

func TestWebhookIgnoresOtherEvents(t *testing.T) {
	h := start(t)
	tests := []struct {
		name, label string
		payload     []byte
	}{
		{"unknown type", "other", []byte(`{"id":"evt_ch1","object":"event","api_version":"2023-10-16","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}`)},
		{"known type not acted on", "customer.subscription.created", []byte(`{"id":"evt_sc1","object":"event","api_version":"2023-10-16","type":"customer.subscription.created","data":{"object":{"id":"sub_1"}}}`)},
		{"async payment pending", "checkout.session.completed",
			checkout{EventID: "evt_async1", SessionID: "cs_test_async0001", Plan: "pro", PaymentStatus: "unpaid"}.payload(t)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.webhooks(t, tc.label, "ignored")
			res := h.deliver(t, tc.payload)
			if res.Code != 200 || res.Body["ignored"] != true {
				t.Fatalf("got %d %v, want 200 ignored", res.Code, res.Body)
			}
			if n := len(h.signedUp(t)); n != 0 {
				t.Errorf("%d events published, want none", n)
			}
			if after := h.webhooks(t, tc.label, "ignored"); after != before+1 {
				t.Errorf("ignored counter for %s: %v → %v", tc.label, before, after)
			}
		})
	}
	// Once the asynchronous payment settles, the signup goes through.
	ok := checkout{EventID: "evt_async2", Type: "checkout.session.async_payment_succeeded", SessionID: "cs_test_async0001", Plan: "pro", PaymentStatus: "paid"}
	if res := h.deliver(t, ok.payload(t)); res.Code != 200 || res.Body["received"] != true {
		t.Fatalf("async_payment_succeeded: %d %v", res.Code, res.Body)
	}
	if n := len(h.signedUp(t)); n != 1 {
		t.Fatalf("%d events published, want 1", n)
	}
}

func TestWebhookOtherAPIVersion(t *testing.T) {
	h := start(t)
	ev := checkout{EventID: "evt_oldver", SessionID: "cs_test_oldver001", Plan: "team", APIVersion: "2022-11-15"}
	if res := h.deliver(t, ev.payload(t)); res.Code != 200 {
		t.Fatalf("got %d %v", res.Code, res.Body)
	}
	if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_webhook_api_version_mismatch_total", nil); n != 1 {
		t.Errorf("mismatch counter = %v", n)
	}
	if n := len(h.signedUp(t)); n != 1 {
		t.Errorf("%d published, want 1", n)
	}
}

// What `clawctl signup` and the bench send (pkg/stripefixture) is a signup.
func TestWebhookAcceptsClawctlEvents(t *testing.T) {
	h := start(t)
	c := stripefixture.Checkout{Plan: "team", Email: "ops@example.com", Name: "Ops"}
	c.Fill()
	body := stripefixture.CheckoutCompleted(c)
	res := h.post(t, body, stripefixture.Sign(body, secret, time.Now()))
	if res.Code != 200 || res.Body["duplicate"] != false {
		t.Fatalf("got %d %v", res.Code, res.Body)
	}
	if n := len(h.signedUp(t)); n != 1 {
		t.Fatalf("%d published", n)
	}
	if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_webhook_api_version_mismatch_total", nil); n != 0 {
		t.Errorf("pkg/stripefixture and the ingress disagree on the API version")
	}
}
