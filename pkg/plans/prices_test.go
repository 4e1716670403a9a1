package plans_test

import (
	"errors"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/plans"
)

func TestPrices(t *testing.T) {
	p, err := plans.NewPrices(map[string]string{"starter": "price_S", "pro": "price_P", "team": "price_T"})
	if err != nil {
		t.Fatal(err)
	}
	for price, want := range map[string]string{"price_S": "starter", "price_P": "pro", "price_T": "team"} {
		got, err := p.Plan(price)
		if err != nil || got.ID != want {
			t.Errorf("Plan(%q) = %q, %v; want %q", price, got.ID, err, want)
		}
		if back, ok := p.PriceID(want); !ok || back != price {
			t.Errorf("PriceID(%q) = %q, %v", want, back, ok)
		}
	}
	for _, bad := range []string{"", "price_X", "starter", "PRICE_S"} {
		if _, err := p.Plan(bad); !errors.Is(err, plans.ErrUnknownPrice) || !errors.Is(err, plans.ErrUnknownPlan) {
			t.Errorf("Plan(%q) err = %v", bad, err)
		}
	}
	if _, ok := (plans.Prices{}).PriceID("pro"); ok {
		t.Error("the zero Prices knows a price")
	}
}

func TestNewPricesRefuses(t *testing.T) {
	_, err := plans.NewPrices(map[string]string{"starter": "price_S", "pro": "price_S", "gold": "price_G", "team": "prod_T"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`"gold"`, "STRIPE_PRICE_PRO: price \"price_S\" already serves", `STRIPE_PRICE_TEAM="prod_T"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := plans.NewPrices(map[string]string{"starter": "price_S"}); err == nil || !strings.Contains(err.Error(), "STRIPE_PRICE_PRO") {
		t.Errorf("missing prices: %v", err)
	}
	if got := plans.PriceEnv("pro"); got != "STRIPE_PRICE_PRO" {
		t.Errorf("PriceEnv = %q", got)
	}
}

func TestLookupKey(t *testing.T) {
	if p, err := plans.PlanByLookupKey(plans.LookupKey(plans.Team)); err != nil || p.ID != plans.Team {
		t.Fatalf("PlanByLookupKey(LookupKey(team)) = %v, %v", p.ID, err)
	}
	for _, k := range []string{"", "team", "clawdbot_gold", "clawdbot_Team", "other_team"} {
		if _, err := plans.PlanByLookupKey(k); !errors.Is(err, plans.ErrUnknownPrice) {
			t.Errorf("PlanByLookupKey(%q) = %v, want ErrUnknownPrice", k, err)
		}
	}
}
