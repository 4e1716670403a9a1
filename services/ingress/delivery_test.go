package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/proto/subjects"
)

func TestWebhookNATSDown(t *testing.T) {
	h := start(t)
	h.nats.Shutdown()
	h.nats.WaitForShutdown()
	servicetest.Eventually(t, 5*time.Second, "the bus to notice NATS is gone", func() bool { return h.env.Bus.Ready() != nil })

	ev := checkout{EventID: "evt_down1", SessionID: "cs_test_down00001", Plan: "pro"}
	res := h.deliver(t, ev.payload(t))
	if res.Code != http.StatusServiceUnavailable {
		t.Fatalf("got %d %v, want 503", res.Code, res.Body)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if n := h.webhooks(t, "checkout.session.completed", "unavailable"); n != 1 {
		t.Errorf("unavailable counter = %v", n)
	}
	var processed bool
	if err := h.env.DB.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM ingress.processed_events WHERE event_id = 'evt_down1')`).Scan(&processed); err != nil || processed {
		t.Errorf("event marked processed although it never reached the stream (err %v)", err)
	}
}

// The bus is up but the stream is gone: the publish itself fails, the
// delivery is answered 503 and not marked processed, and Stripe's retry
// goes through once the stream is back.
func TestWebhookPublishFails(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	if err := h.env.Bus.JetStream().DeleteStream(ctx, subjects.Stream); err != nil {
		t.Fatal(err)
	}
	payload := checkout{EventID: "evt_nostream", SessionID: "cs_test_nostream1", Plan: "pro"}.payload(t)
	if res := h.deliver(t, payload); res.Code != http.StatusServiceUnavailable {
		t.Fatalf("got %d %v, want 503", res.Code, res.Body)
	}
	if !strings.Contains(h.logs.String(), "stage=publish") {
		t.Error("the 503 did not come from the publish")
	}
	if err := h.env.Bus.Setup(ctx, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := h.deliver(t, payload); res.Code != 200 || res.Body["duplicate"] != false {
		t.Fatalf("retry: %d %v", res.Code, res.Body)
	}
	if n := len(h.signedUp(t)); n != 1 {
		t.Fatalf("%d published, want 1", n)
	}
}

func TestWebhookConcurrentDuplicates(t *testing.T) {
	h := start(t)
	payload := checkout{EventID: "evt_dup1", SessionID: "cs_test_dup000001", Plan: "starter"}.payload(t)
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stripe signs every delivery anew.
			codes[i] = h.post(t, payload, sign(payload, time.Now().Add(-time.Duration(i)*time.Second), secret)).Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("delivery %d: %d", i, c)
		}
	}
	if n := len(h.signedUp(t)); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	pub := h.webhooks(t, "checkout.session.completed", "published")
	dup := h.webhooks(t, "checkout.session.completed", "duplicate")
	if pub != 1 || dup != 9 {
		t.Errorf("published %v duplicate %v, want 1 and 9", pub, dup)
	}
}

func TestWebhookRedeliveryLater(t *testing.T) {
	h := start(t)
	payload := checkout{EventID: "evt_later1", SessionID: "cs_test_later0001", Plan: "pro"}.payload(t)
	if res := h.deliver(t, payload); res.Code != 200 {
		t.Fatalf("first delivery: %d", res.Code)
	}
	published := func() float64 {
		return servicetest.Counter(t, h.env.Metrics, "claw_bus_published_total", map[string]string{"subject": "customer.signed_up"})
	}
	if n := published(); n != 1 {
		t.Fatalf("bus publishes %v", n)
	}
	// A retry days later (past any dedup window) is answered from the
	// processed-events record, without touching the bus.
	for i := range 3 {
		res := h.deliver(t, payload)
		if res.Code != 200 || res.Body["duplicate"] != true {
			t.Fatalf("redelivery %d: %d %v", i, res.Code, res.Body)
		}
	}
	if n := published(); n != 1 {
		t.Errorf("bus publishes after redeliveries = %v, want 1", n)
	}
	if n := len(h.signedUp(t)); n != 1 {
		t.Errorf("%d stored, want 1", n)
	}
}
