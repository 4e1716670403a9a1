package ingress_test

import (
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestMetricsCarryNoIdentifiers(t *testing.T) {
	h := start(t)
	h.deliver(t, checkout{EventID: "evt_m1", SessionID: "cs_test_metric001", Customer: "cus_Metric1", Plan: "pro"}.payload(t))
	h.deliver(t, []byte(`{"id":"evt_m2","api_version":"2023-10-16","type":"made.up","data":{"object":{}}}`))
	h.get(t, "/v1/provisioning/cs_test_metric001")
	h.get(t, "/nowhere/cs_test_metric001")
	mfs, err := h.env.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				for _, bad := range []string{"cus_", "cs_test", "evt_", "made.up", "nowhere"} {
					if strings.Contains(lp.GetValue(), bad) {
						t.Errorf("%s has label %s=%q", mf.GetName(), lp.GetName(), lp.GetValue())
					}
				}
			}
		}
	}
	if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_http_requests_total",
		map[string]string{"route": "other", "code": "404"}); n != 1 {
		t.Errorf("unmatched route counter = %v", n)
	}
}

// Neither the webhook secret, nor a signature, nor a revealed key, nor the
// customer's email ever reaches the logs.
func TestLogsCarryNoSecrets(t *testing.T) {
	h := start(t)
	payload := checkout{EventID: "evt_logs1", SessionID: "cs_test_logs00001", Plan: "pro"}.payload(t)
	sig := sign(payload, time.Now(), secret)
	forged := sign(payload, time.Now(), "whsec_forged")
	h.post(t, payload, sig)
	h.post(t, payload, forged)
	h.post(t, payload, sig)
	h.deliver(t, checkout{EventID: "evt_logs2", SessionID: "cs_test_logs00002", Plan: "gold"}.payload(t))
	logs := h.logs.String()
	if !strings.Contains(logs, "evt_logs1") {
		t.Fatalf("nothing logged? %q", logs)
	}
	for _, s := range []string{secret, sig, forged, "v1=", "grace@example.com"} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
}

// The Checkout Session id is the handle of a signup's provisioning page: it
// never reaches the logs, whatever happens to the signup. Lines name it by
// checkout_ref (names.CheckoutRef) instead.
func TestLogsNeverCarryTheCheckoutSession(t *testing.T) {
	h := startWith(t, map[string]string{"INGRESS_REVEAL_TTL": "1h"})
	const cs, nonce = "cs_test_secretsession01", "log-test-browser-nonce"
	ev := checkout{EventID: "evt_logcs1", SessionID: cs, Plan: "pro", RevealHash: hashOf(nonce)}
	h.deliver(t, ev.payload(t))
	h.deliver(t, ev.payload(t)) // a duplicate delivery
	h.get(t, "/v1/provisioning/"+cs)
	h.reveal(t, cs, nonce) // not ready yet
	h.signupReady(t, cs, hashOf(nonce), "claw_logtest")
	h.reveal(t, cs, "wrong-browser-nonce-0")
	h.reveal(t, cs, nonce)
	h.reveal(t, cs, nonce)
	// A refused signup (unknown plan), a malformed reveal hash, an unusable
	// session and a failure, each with its own session id.
	h.deliver(t, checkout{EventID: "evt_logcs2", SessionID: "cs_test_secretsession02", Plan: "gold"}.payload(t))
	h.deliver(t, checkout{EventID: "evt_logcs3", SessionID: "cs_test_secretsession03", Plan: "pro", RevealHash: "nothex"}.payload(t))
	h.deliver(t, checkout{EventID: "evt_logcs4", SessionID: "cs_test_secretsession04", Plan: "pro", Customer: "acct_x"}.payload(t))
	h.sagaBus(t).publish(subjects.SagaCompensated, &pb.SagaCompensated{SagaId: names.SignupSagaID("cs_test_secretsession03"),
		CheckoutSessionId: "cs_test_secretsession03", FailedStep: "compute", Reason: "no capacity"})
	h.waitFor(t, "cs_test_secretsession03", "the failure", func(r response) bool { return r.Body["status"] == "failed" })
	h.get(t, "/v1/provisioning/cs_test_secretsession09") // unknown

	logs := h.logs.String()
	if !strings.Contains(logs, "checkout_ref="+names.CheckoutRef(cs)) {
		t.Fatalf("no checkout_ref in the logs:\n%s", logs)
	}
	if strings.Contains(logs, "secretsession") {
		t.Fatalf("a checkout session id was logged:\n%s", logs)
	}
}
