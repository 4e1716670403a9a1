package ingress_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/stripemock"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// signedUpPlans returns the plan of every customer.signed_up on the stream.
func (h *harness) signedUpPlans(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range h.signedUp(t) {
		var su pb.CustomerSignedUp
		if err := bus.Decode(m.Data(), &su); err != nil {
			t.Fatal(err)
		}
		out = append(out, su.GetPlan())
	}
	return out
}

// rejected returns the reason evt was recorded with in ingress.rejected_events.
func (h *harness) rejected(t *testing.T, eventID string) string {
	t.Helper()
	var reason string
	if err := h.env.DB.QueryRow(context.Background(),
		`SELECT reason FROM ingress.rejected_events WHERE event_id = $1`, eventID).Scan(&reason); err != nil {
		t.Fatalf("rejected event %s: %v", eventID, err)
	}
	return reason
}

// refusal is a signup the ingress must answer 422 without publishing.
type refusal struct {
	name    string
	ev      checkout
	outcome string
	errSub  string
}

// expectRefusals delivers each refusal and checks its answer, its counter,
// its record, and that nothing was published.
func (h *harness) expectRefusals(t *testing.T, tests []refusal) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.signedUp(t))
			label := "checkout.session.completed"
			n := h.webhooks(t, label, tc.outcome)
			res := h.deliver(t, tc.ev.payload(t))
			msg, _ := res.Body["error"].(string)
			if res.Code != http.StatusUnprocessableEntity || !strings.Contains(msg, tc.errSub) {
				t.Fatalf("got %d %q, want 422 mentioning %q", res.Code, msg, tc.errSub)
			}
			if got := h.webhooks(t, label, tc.outcome); got != n+1 {
				t.Errorf("%s counter %v → %v, want +1", tc.outcome, n, got)
			}
			if r := h.rejected(t, tc.ev.EventID); !strings.Contains(r, tc.errSub) {
				t.Errorf("recorded reason %q", r)
			}
			if after := len(h.signedUp(t)); after != before {
				t.Errorf("%d events published, want none", after-before)
			}
			if strings.Contains(h.logs.String(), tc.ev.SessionID) {
				t.Error("the checkout session id was logged")
			}
		})
	}
}

// TestPlanFromPricePaid: without a Stripe key (dev), the plan is the one
// the price in the event's line items names; metadata may only agree, a
// session without a price is refused, and so is an event of live mode.
func TestPlanFromPricePaid(t *testing.T) {
	h := start(t)
	h.expectRefusals(t, []refusal{
		{"metadata asks for more than the price paid",
			checkout{EventID: "evt_mismatch1", SessionID: "cs_test_mismatch01", Plan: plans.Starter, MetadataPlan: plans.Team},
			"plan_mismatch", `metadata.plan "team" but the price paid is plan starter`},
		{"metadata alone",
			checkout{EventID: "evt_noprice1", SessionID: "cs_test_noprice001", Plan: plans.Team, NoLineItems: true},
			"unknown_plan", "no price paid"},
		{"a price no plan is sold at",
			checkout{EventID: "evt_price1", SessionID: "cs_test_freeprice1", Plan: plans.Team, PriceID: "price_1Free"},
			"unknown_plan", `"price_1Free"`},
		{"live-mode event at a test-mode ingress",
			checkout{EventID: "evt_live1", SessionID: "cs_live_livemode01", Plan: plans.Pro, Livemode: true},
			"livemode_mismatch", "livemode true event refused"},
	})

	for _, ev := range []checkout{
		{EventID: "evt_pricedecides", SessionID: "cs_test_pricedec01", Plan: plans.Team, MetadataPlan: "-"},
		{EventID: "evt_lookupkey1", SessionID: "cs_test_lookupkey1", Plan: plans.Starter, PriceID: "price_1NewAmount",
			LookupKey: plans.LookupKey(plans.Starter)},
	} {
		if res := h.deliver(t, ev.payload(t)); res.Code != http.StatusOK {
			t.Fatalf("%s: %d %v", ev.EventID, res.Code, res.Body)
		}
	}
	got := h.signedUpPlans(t)
	if len(got) != 2 || got[0] != plans.Team || got[1] != plans.Starter {
		t.Fatalf("published plans %v, want [team starter] (from the price, then its lookup_key)", got)
	}
}

// fixturePrice is the price of stripe-mock's line item fixture: what the
// ingress reads when it asks stripe-mock for any session's line items.
func fixturePrice(t *testing.T, base string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/checkout/sessions/cs_test_any/line_items", nil)
	req.SetBasicAuth("sk_test_fixture", "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Data []struct {
			Price struct {
				ID string `json:"id"`
			} `json:"price"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Data) == 0 || list.Data[0].Price.ID == "" {
		t.Fatalf("stripe-mock line items: %v %+v", err, list)
	}
	return list.Data[0].Price.ID
}

// TestPlanFromStripeLineItems: with a Stripe key, a signup event without
// line items (what Stripe sends) makes the ingress list the session's line
// items from Stripe (stripe-mock) and take the plan from their price.
func TestPlanFromStripeLineItems(t *testing.T) {
	mock := stripemock.Start(t)
	proxy := newStripeProxy(t, mock)
	h := startWith(t, map[string]string{
		"STRIPE_SECRET_KEY":    "sk_test_ingress",
		"STRIPE_API_BASE":      proxy.URL,
		"CHECKOUT_SUCCESS_URL": successURL,
		"CHECKOUT_CANCEL_URL":  "https://app.example/pricing",
		"STRIPE_PRICE_STARTER": "price_1Starter",
		"STRIPE_PRICE_PRO":     fixturePrice(t, mock),
		"STRIPE_PRICE_TEAM":    "price_1Team",
	})
	ev := checkout{EventID: "evt_fetched1", SessionID: "cs_test_fetched001", Plan: plans.Pro, NoLineItems: true}
	if res := h.deliver(t, ev.payload(t)); res.Code != http.StatusOK {
		t.Fatalf("signup: %d %v", res.Code, res.Body)
	}
	if got := h.signedUpPlans(t); len(got) != 1 || got[0] != plans.Pro {
		t.Fatalf("published plans %v, want [pro]", got)
	}
	calls := proxy.recorded()
	if len(calls) != 1 || calls[0].Method != http.MethodGet || calls[0].Path != "/v1/checkout/sessions/cs_test_fetched001/line_items" ||
		calls[0].Auth != "Bearer sk_test_ingress" {
		t.Fatalf("Stripe calls %+v, want one list of the session's line items", calls)
	}

	h.expectRefusals(t, []refusal{
		{"metadata disagrees with the price Stripe lists",
			checkout{EventID: "evt_fetched2", SessionID: "cs_test_fetched002", Plan: plans.Team, NoLineItems: true},
			"plan_mismatch", "the price paid is plan pro"},
		{"live-mode event at a test-mode key",
			checkout{EventID: "evt_fetched3", SessionID: "cs_live_fetched003", Plan: plans.Pro, NoLineItems: true, Livemode: true},
			"livemode_mismatch", "livemode true"},
	})
	proxy.setFail(true)
	h.expectRefusals(t, []refusal{
		{"Stripe refuses to list the line items",
			checkout{EventID: "evt_fetched4", SessionID: "cs_test_fetched004", Plan: plans.Pro, NoLineItems: true},
			"unknown_plan", "Stripe refused to list the line items"},
	})
}

// TestLiveKeyRefusesTestEvents: an ingress with a live key refuses
// test-mode events, before reading anything from Stripe.
func TestLiveKeyRefusesTestEvents(t *testing.T) {
	proxy := newStripeProxy(t, stripemock.Start(t))
	h := startWith(t, map[string]string{
		"STRIPE_SECRET_KEY":    "sk_live_ingress",
		"STRIPE_API_BASE":      proxy.URL,
		"CHECKOUT_SUCCESS_URL": successURL,
		"CHECKOUT_CANCEL_URL":  "https://app.example/pricing",
		"STRIPE_PRICE_STARTER": "price_1Starter",
		"STRIPE_PRICE_PRO":     "price_1Pro",
		"STRIPE_PRICE_TEAM":    "price_1Team",
	})
	h.expectRefusals(t, []refusal{
		{"test-mode event at a live key",
			checkout{EventID: "evt_testmode1", SessionID: "cs_test_testmode01", Plan: plans.Pro, PriceID: "price_1Pro"},
			"livemode_mismatch", "livemode false event refused"},
	})
	ev := checkout{EventID: "evt_livemode2", SessionID: "cs_live_livemode02", Plan: plans.Pro, PriceID: "price_1Pro", Livemode: true}
	if res := h.deliver(t, ev.payload(t)); res.Code != http.StatusOK {
		t.Fatalf("live event at a live key: %d %v", res.Code, res.Body)
	}
	if n := len(proxy.recorded()); n != 0 {
		t.Errorf("%d Stripe calls, want none (the live event carried its line items)", n)
	}
}
