package ingress_test

import (
	"net/http"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/saga"
)

// The admin endpoints against the real saga coordinator (not a fake): a
// signup it is running is visible through the ingress, and its refusals
// arrive with the right status codes.
func TestAdminAgainstTheSaga(t *testing.T) {
	t.Parallel()
	h := startWith(t, map[string]string{"ADMIN_TOKEN": adminToken})
	servicetest.Start(t, h.p.Env(t, "saga", nil), saga.Run)
	auth := "Bearer " + adminToken
	const cs, cus = "cs_test_admin0001", "cus_Admin1"
	if res := h.deliver(t, checkout{EventID: "evt_admin1", SessionID: cs, Customer: cus, Plan: "team"}.payload(t)); res.Code != 200 {
		t.Fatalf("signup: %d %v", res.Code, res.Body)
	}
	// No step service runs: the signup stays in flight.
	var res response
	servicetest.Eventually(t, 10*time.Second, "the saga to know the customer", func() bool {
		res = h.admin(t, "GET", "/v1/admin/customers/"+cus, auth)
		return res.Code == http.StatusOK
	})
	c, _ := res.Body["customer"].(map[string]any)
	if c["customer_id"] != cus || c["plan"] != "team" || c["state"] != "provisioning" {
		t.Errorf("customer %v", res.Body)
	}
	res = h.admin(t, "GET", "/v1/admin/sagas?status=running&customer_id="+cus, auth)
	if list, _ := res.Body["sagas"].([]any); res.Code != 200 || len(list) != 1 || list[0].(map[string]any)["saga_id"] != names.SignupSagaID(cs) {
		t.Errorf("running sagas: %d %v", res.Code, res.Body)
	}
	res = h.admin(t, "GET", "/v1/admin/sagas/"+names.SignupSagaID(cs), auth)
	s, _ := res.Body["saga"].(map[string]any)
	if steps, _ := s["steps"].([]any); res.Code != 200 || s["kind"] != "signup" || len(steps) == 0 {
		t.Errorf("saga: %d %v", res.Code, res.Body)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/v1/admin/customers/cus_Nobody", http.StatusNotFound},
		{"GET", "/v1/admin/sagas/signup-cs_test_nobody", http.StatusNotFound},
		{"POST", "/v1/admin/sagas/" + names.SignupSagaID(cs) + "/retry", http.StatusConflict},
		{"POST", "/v1/admin/customers/" + cus + "/deprovision", http.StatusConflict},
	} {
		if res := h.admin(t, tc.method, tc.path, auth); res.Code != tc.code {
			t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, res.Code, res.Body, tc.code)
		}
	}
}
