package ingress_test

import (
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/servicetest"
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
