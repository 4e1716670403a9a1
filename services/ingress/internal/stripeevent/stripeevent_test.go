package stripeevent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

const secret = "whsec_unit"

func signed(t testing.TB, payload []byte, at time.Time, key string) string {
	t.Helper()
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: key, Timestamp: at}).Header
}

func event(t testing.TB, typ string, object any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": "evt_1", "object": "event", "api_version": stripe.APIVersion, "created": 1700000000,
		"type": typ, "data": map[string]any{"object": object},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func session(overrides map[string]any) map[string]any {
	s := map[string]any{
		"id": "cs_test_a1", "object": "checkout.session", "mode": "subscription", "status": "complete",
		"payment_status": "paid", "customer": "cus_A", "subscription": "sub_A",
		"customer_details": map[string]any{"email": "ada@example.com", "name": "Ada"},
		"metadata":         map[string]any{"plan": "pro", "timezone": "Europe/Paris"},
		"line_items":       lineItems(map[string]any{"id": "price_dev_pro", "object": "price", "lookup_key": nil}),
	}
	for k, v := range overrides {
		if v == nil {
			delete(s, k)
			continue
		}
		s[k] = v
	}
	return s
}

// lineItems is an expanded line_items list of the given prices (ids or
// objects).
func lineItems(prices ...any) map[string]any {
	var data []any
	for _, p := range prices {
		data = append(data, map[string]any{"object": "item", "quantity": 1, "price": p})
	}
	return map[string]any{"object": "list", "data": data}
}

// devPrices are the prices the ingress runs with when none is configured.
func devPrices(t testing.TB) plans.Prices {
	t.Helper()
	byPlan := map[string]string{}
	for _, p := range plans.All() {
		byPlan[p.ID] = plans.DevPriceID(p.ID)
	}
	p, err := plans.NewPrices(byPlan)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerify(t *testing.T) {
	v := NewVerifier(secret)
	body := event(t, "checkout.session.completed", session(nil))
	now := time.Now()
	tests := []struct {
		name    string
		payload []byte
		header  string
		want    error
		wantSub string
	}{
		{"valid", body, signed(t, body, now, secret), nil, ""},
		{"missing", body, "", webhook.ErrNotSigned, ""},
		{"garbage header", body, "nonsense", webhook.ErrInvalidHeader, ""},
		{"forged", body, signed(t, body, now, "whsec_other"), webhook.ErrNoValidSignature, ""},
		{"tampered", append([]byte(" "), body...), signed(t, body, now, secret), webhook.ErrNoValidSignature, ""},
		{"expired", body, signed(t, body, now.Add(-Tolerance-time.Minute), secret), webhook.ErrTooOld, "tolerance"},
		{"malformed json", []byte(`{"id":`), signed(t, []byte(`{"id":`), now, secret), ErrPayload, "json"},
		{"bad event id", []byte(`{"id":"x y","type":"a"}`), signed(t, []byte(`{"id":"x y","type":"a"}`), now, secret), ErrPayload, "event id"},
		{"no type", []byte(`{"id":"evt_1"}`), signed(t, []byte(`{"id":"evt_1"}`), now, secret), ErrPayload, "no type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evt, err := v.Verify(tc.payload, tc.header)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if evt.ID != "evt_1" || evt.APIVersionMismatch {
					t.Fatalf("event %+v", evt)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			sigErr := errors.Is(tc.want, webhook.ErrNotSigned) || errors.Is(tc.want, webhook.ErrInvalidHeader) ||
				errors.Is(tc.want, webhook.ErrNoValidSignature) || errors.Is(tc.want, webhook.ErrTooOld)
			if errors.Is(err, ErrSignature) != sigErr {
				t.Fatalf("err = %v: signature error? want %v", err, sigErr)
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantSub)
			}
		})
	}
}

func TestVerifyOtherAPIVersion(t *testing.T) {
	body := []byte(`{"id":"evt_2","type":"invoice.paid","api_version":"2020-08-27","data":{"object":{}}}`)
	evt, err := NewVerifier(secret).Verify(body, signed(t, body, time.Now(), secret))
	if err != nil {
		t.Fatalf("an authentic event of another API version is accepted: %v", err)
	}
	if !evt.APIVersionMismatch {
		t.Fatal("mismatch not reported")
	}
}

func TestSignup(t *testing.T) {
	tests := []struct {
		name    string
		object  map[string]any
		want    *pb.CustomerSignedUp
		wantErr error
	}{
		{name: "complete", object: session(nil), want: &pb.CustomerSignedUp{
			StripeEventId: "evt_1", CheckoutSessionId: "cs_test_a1", CustomerId: "cus_A", SubscriptionId: "sub_A",
			Email: "ada@example.com", Name: "Ada", Plan: "pro", Timezone: "Europe/Paris", SagaId: names.SignupSagaID("cs_test_a1"),
			OccurredAt: timestamppb.New(time.Unix(1700000000, 0)),
		}},
		{name: "expanded customer, email fallback, trial, odd metadata", object: session(map[string]any{
			"customer": map[string]any{"id": "cus_B", "object": "customer"}, "subscription": map[string]any{"id": "sub_B"},
			"customer_details": map[string]any{"email": nil, "name": nil}, "customer_email": "b@example.com",
			"payment_status": "no_payment_required",
			"metadata":       map[string]any{"plan": "team", "timezone": "Mars/Olympus", "n": 3.0},
			"line_items":     lineItems("price_dev_team"),
		}), want: &pb.CustomerSignedUp{
			StripeEventId: "evt_1", CheckoutSessionId: "cs_test_a1", CustomerId: "cus_B", SubscriptionId: "sub_B",
			Email: "b@example.com", Plan: "team", SagaId: names.SignupSagaID("cs_test_a1"),
			OccurredAt: timestamppb.New(time.Unix(1700000000, 0)),
		}},
		{name: "payment mode", object: session(map[string]any{"mode": "payment"}), wantErr: ErrNotSignup},
		{name: "async payment pending", object: session(map[string]any{"payment_status": "unpaid"}), wantErr: ErrNotSignup},
		{name: "no metadata: the price decides", object: session(map[string]any{"metadata": nil}), want: &pb.CustomerSignedUp{
			StripeEventId: "evt_1", CheckoutSessionId: "cs_test_a1", CustomerId: "cus_A", SubscriptionId: "sub_A",
			Email: "ada@example.com", Name: "Ada", Plan: "pro", SagaId: names.SignupSagaID("cs_test_a1"),
			OccurredAt: timestamppb.New(time.Unix(1700000000, 0)),
		}},
		{name: "price from the expanded subscription, mapped by lookup_key", object: session(map[string]any{
			"line_items": nil, "metadata": map[string]any{"plan": "team"},
			"subscription": map[string]any{"id": "sub_A", "object": "subscription", "items": lineItems(
				map[string]any{"id": "price_1Renamed", "object": "price", "lookup_key": "clawdbot_team"})},
		}), want: &pb.CustomerSignedUp{
			StripeEventId: "evt_1", CheckoutSessionId: "cs_test_a1", CustomerId: "cus_A", SubscriptionId: "sub_A",
			Email: "ada@example.com", Name: "Ada", Plan: "team", SagaId: names.SignupSagaID("cs_test_a1"),
			OccurredAt: timestamppb.New(time.Unix(1700000000, 0)),
		}},
		{name: "an add-on price beside the plan's", object: session(map[string]any{
			"line_items": lineItems("price_1AddOn", "price_dev_pro")}), want: &pb.CustomerSignedUp{
			StripeEventId: "evt_1", CheckoutSessionId: "cs_test_a1", CustomerId: "cus_A", SubscriptionId: "sub_A",
			Email: "ada@example.com", Name: "Ada", Plan: "pro", Timezone: "Europe/Paris", SagaId: names.SignupSagaID("cs_test_a1"),
			OccurredAt: timestamppb.New(time.Unix(1700000000, 0)),
		}},
		{name: "metadata asks for more than was paid", object: session(map[string]any{"metadata": map[string]any{"plan": "team"}}), wantErr: ErrPlanMismatch},
		{name: "metadata names no plan", object: session(map[string]any{"metadata": map[string]any{"plan": "gold"}}), wantErr: ErrPlanMismatch},
		{name: "plan in another case", object: session(map[string]any{"metadata": map[string]any{"plan": "Pro"}}), wantErr: ErrPlanMismatch},
		{name: "prices of two plans", object: session(map[string]any{"line_items": lineItems("price_dev_pro", "price_dev_team")}), wantErr: ErrPlanMismatch},
		{name: "unknown price", object: session(map[string]any{"line_items": lineItems("price_gold")}), wantErr: plans.ErrUnknownPlan},
		{name: "unknown lookup key", object: session(map[string]any{"line_items": lineItems(
			map[string]any{"id": "price_1X", "lookup_key": "clawdbot_gold"})}), wantErr: plans.ErrUnknownPlan},
		{name: "no price: metadata alone is not enough", object: session(map[string]any{"line_items": nil}), wantErr: ErrNoPrice},
		{name: "line items of the wrong shape", object: session(map[string]any{"line_items": map[string]any{"data": "x"}}), wantErr: ErrPayload},
		{name: "no customer", object: session(map[string]any{"customer": nil}), wantErr: ErrPayload},
		{name: "bad customer", object: session(map[string]any{"customer": "cus_x;drop"}), wantErr: ErrPayload},
		{name: "no subscription", object: session(map[string]any{"subscription": nil}), wantErr: ErrPayload},
		{name: "customer is a number", object: session(map[string]any{"customer": 7}), wantErr: ErrPayload},
		{name: "metadata is a list", object: session(map[string]any{"metadata": []any{"plan"}}), wantErr: ErrPayload},
		{name: "not a session", object: session(map[string]any{"object": "invoice"}), wantErr: ErrPayload},
		{name: "bad session id", object: session(map[string]any{"id": "cs_../x"}), wantErr: ErrPayload},
		{name: "odd payment status", object: session(map[string]any{"payment_status": "maybe"}), wantErr: ErrPayload},
		{name: "huge name", object: session(map[string]any{"customer_details": map[string]any{"name": strings.Repeat("n", 2000)}}), wantErr: ErrPayload},
	}
	v := NewVerifier(secret)
	prices := devPrices(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := event(t, "checkout.session.completed", tc.object)
			evt, err := v.Verify(body, signed(t, body, time.Now(), secret))
			if err != nil {
				t.Fatal(err)
			}
			cs, err := ParseCheckoutSession(evt.Data.Raw)
			var got *pb.CustomerSignedUp
			if err == nil {
				got, err = Signup(evt, cs, prices)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, protocmp.Transform()); d != "" {
				t.Fatalf("event (-want +got):\n%s", d)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	for id, want := range map[string]bool{
		"cs_test_a1B2c3":                      true,
		"cs_live_" + strings.Repeat("a", 200): true,
		"cs_":                                 false,
		"cs_" + strings.Repeat("a", 253):      false,
		"ch_123":                              false,
		"cs_a-b":                              false,
		"cs_a/../b":                           false,
		"cs_é":                                false,
		"":                                    false,
	} {
		if got := ValidCheckoutSessionID(id); got != want {
			t.Errorf("ValidCheckoutSessionID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestTypeLabel(t *testing.T) {
	if got := TypeLabel("checkout.session.completed"); got != "checkout.session.completed" {
		t.Errorf("known type label = %q", got)
	}
	if got := TypeLabel("charge.refunded"); got != OtherType {
		t.Errorf("unknown type label = %q", got)
	}
	if got := TypeLabel(stripe.EventType(strings.Repeat("x", 1000))); got != OtherType {
		t.Errorf("hostile type label = %q", got)
	}
}

func TestParseRevealHash(t *testing.T) {
	good := strings.Repeat("0f", 32)
	tests := []struct {
		name          string
		meta          any
		want          string
		wantMalformed bool
	}{
		{"absent", map[string]any{"plan": "pro"}, "", false},
		{"well formed", map[string]any{"plan": "pro", "reveal_hash": good}, good, false},
		{"upper case", map[string]any{"plan": "pro", "reveal_hash": strings.ToUpper(good)}, "", true},
		{"short", map[string]any{"plan": "pro", "reveal_hash": good[:63]}, "", true},
		{"not hex", map[string]any{"plan": "pro", "reveal_hash": strings.Repeat("zz", 32)}, "", true},
		{"not a string", map[string]any{"plan": "pro", "reveal_hash": 7}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(session(map[string]any{"metadata": tc.meta}))
			if err != nil {
				t.Fatal(err)
			}
			cs, err := ParseCheckoutSession(raw)
			if err != nil {
				t.Fatal(err)
			}
			if cs.RevealHash != tc.want || cs.RevealHashMalformed != tc.wantMalformed {
				t.Errorf("RevealHash %q malformed %v, want %q %v", cs.RevealHash, cs.RevealHashMalformed, tc.want, tc.wantMalformed)
			}
		})
	}
}
