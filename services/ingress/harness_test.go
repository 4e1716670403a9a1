package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"clawdbot.cloud/pkg/natstest"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/pkg/testbuf"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/ingress"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const secret = "whsec_test_ingress"

// harness is one running ingress on real NATS and Postgres.
type harness struct {
	logs *testbuf.Buffer // everything the ingress logged, at debug level
	p    *servicetest.Platform
	env  *service.Env
	nats *server.Server
	base string
	stop func()
}

func start(t *testing.T) *harness {
	t.Helper()
	return startWith(t, nil)
}

// startWith starts an ingress with extra settings.
func startWith(t *testing.T, extra map[string]string) *harness {
	t.Helper()
	p := servicetest.New(t)
	// Our own server, so a test can take NATS away.
	ns := natstest.Server(t)
	p.NATSURL = ns.ClientURL()
	logs := &testbuf.Buffer{}
	p.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ingress logs:\n%s", logs.String())
		}
	})
	vars := map[string]string{
		"STRIPE_WEBHOOK_SECRET":   secret,
		"INGRESS_ADDR":            "127.0.0.1:0",
		"INGRESS_PUBLISH_TIMEOUT": "2s",
		// One loopback client plays every customer here; ratelimit_test.go
		// turns the limits on.
		"INGRESS_RATELIMIT_CHECKOUT":     "off",
		"INGRESS_RATELIMIT_PROVISIONING": "off",
		"INGRESS_RATELIMIT_REVEAL":       "off",
	}
	maps.Copy(vars, extra)
	env := p.Env(t, "ingress", vars)
	srv, err := ingress.New(context.Background(), env)
	if err != nil {
		t.Fatalf("ingress.New: %v", err)
	}
	stop := servicetest.Start(t, env, func(ctx context.Context, _ *service.Env) error { return srv.Serve(ctx) })
	return &harness{logs: logs, p: p, env: env, nats: ns, base: "http://" + srv.Addr(), stop: stop}
}

// sign returns the Stripe-Signature header Stripe would send for payload at ts.
func sign(payload []byte, ts time.Time, key string) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: key, Timestamp: ts}).Header
}

// checkout is a checkout.session.completed event as Stripe sends it.
type checkout struct {
	EventID, Type, SessionID, Customer, Plan, PaymentStatus, APIVersion string
	// RevealHash, when set, is metadata.reveal_hash.
	RevealHash string
	// PriceID is the price paid in the expanded line_items, by default
	// plans.DevPriceID(Plan); none at all when Plan and PriceID are empty
	// or NoLineItems is set (Stripe's own events carry none).
	PriceID     string
	NoLineItems bool
	// LookupKey is the price's lookup_key ("" = null).
	LookupKey string
	// MetadataPlan replaces Plan in metadata.plan ("-": none).
	MetadataPlan string
	// Livemode marks a live-mode event.
	Livemode bool
}

func (c checkout) payload(t testing.TB) []byte {
	t.Helper()
	if c.Type == "" {
		c.Type = "checkout.session.completed"
	}
	if c.PaymentStatus == "" {
		c.PaymentStatus = "no_payment_required"
	}
	if c.APIVersion == "" {
		c.APIVersion = stripe.APIVersion
	}
	if c.Customer == "" {
		c.Customer = "cus_T" + c.SessionID[len(c.SessionID)-4:]
	}
	meta := map[string]any{"timezone": "Europe/Berlin"}
	switch {
	case c.MetadataPlan == "-":
	case c.MetadataPlan != "":
		meta["plan"] = c.MetadataPlan
	case c.Plan != "":
		meta["plan"] = c.Plan
	}
	if c.RevealHash != "" {
		meta["reveal_hash"] = c.RevealHash
	}
	session := map[string]any{
		"id": c.SessionID, "object": "checkout.session", "mode": "subscription", "status": "complete",
		"payment_status": c.PaymentStatus, "customer": c.Customer, "subscription": "sub_" + c.SessionID[3:],
		"customer_details": map[string]any{"email": "grace@example.com", "name": "Grace Hopper"},
		"metadata":         meta, "livemode": c.Livemode,
	}
	if c.PriceID == "" && c.Plan != "" {
		c.PriceID = plans.DevPriceID(c.Plan)
	}
	if c.PriceID != "" && !c.NoLineItems {
		session["line_items"] = map[string]any{"object": "list", "data": []any{map[string]any{
			"object": "item", "quantity": 1, "price": map[string]any{"id": c.PriceID, "object": "price", "lookup_key": lookupKey(c.LookupKey)},
		}}}
	}
	b, err := json.Marshal(map[string]any{
		"id": c.EventID, "object": "event", "api_version": c.APIVersion, "created": 1712345678,
		"livemode": c.Livemode, "pending_webhooks": 1, "type": c.Type,
		"data": map[string]any{"object": session},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lookupKey is k as JSON: null when empty.
func lookupKey(k string) any {
	if k == "" {
		return nil
	}
	return k
}

type response struct {
	Code   int
	Header http.Header
	Body   map[string]any
}

// post delivers payload to the webhook with the given signature header ("" = none).
func (h *harness) post(t testing.TB, payload []byte, signature string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+"/webhooks/stripe", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	return do(t, req)
}

// deliver signs payload now and posts it.
func (h *harness) deliver(t testing.TB, payload []byte) response {
	t.Helper()
	return h.post(t, payload, sign(payload, time.Now(), secret))
}

func (h *harness) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	checkContract(t, req, res.StatusCode, res.Header, raw)
	r := response{Code: res.StatusCode, Header: res.Header}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		t.Fatalf("%s %s: %d with a body that is not a JSON object: %q", req.Method, req.URL.Path, res.StatusCode, raw)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return r
}

// signedUp reads every customer.signed_up on the stream with an ordered
// JetStream consumer.
func (h *harness) signedUp(t testing.TB) []jetstream.Msg {
	t.Helper()
	return h.stored(t, subjects.CustomerSignedUp)
}

// stored reads every message on the stream matching filter.
func (h *harness) stored(t testing.TB, filter string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := h.env.Bus.JetStream().OrderedConsumer(ctx, subjects.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
	})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	var out []jetstream.Msg
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		if n == 0 {
			return out
		}
	}
}

func (h *harness) webhooks(t testing.TB, eventType, outcome string) float64 {
	t.Helper()
	return servicetest.Counter(t, h.env.Metrics, "claw_ingress_webhooks_total", map[string]string{"event_type": eventType, "outcome": outcome})
}
