package ingress_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go"

	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/natstest"
	"clawdbot.cloud/proto/subjects"
)

const adminToken = "admin-token-0123456789abcdef0123456789"

// fakeSaga answers the saga's admin API on real NATS, with the shapes
// documented in services/saga/README.md, and records what it was asked.
type fakeSaga struct {
	mu       sync.Mutex
	requests []string // subject + " " + body
	sub      *nats.Subscription
	nc       *nats.Conn
}

func startFakeSaga(t *testing.T, h *harness) *fakeSaga {
	t.Helper()
	// As the saga's own bus user: it may take admin requests and answer them.
	nc, err := nats.Connect(h.nats.ClientURL(), nats.UserInfo(busauth.Saga, natstest.Credentials()[busauth.Saga]),
		nats.CustomInboxPrefix(busauth.InboxPrefix(busauth.Saga)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f := &fakeSaga{nc: nc}
	f.sub, err = nc.QueueSubscribe("admin.saga.>", "saga-admin", func(m *nats.Msg) {
		f.mu.Lock()
		f.requests = append(f.requests, m.Subject+" "+string(m.Data))
		f.mu.Unlock()
		var req map[string]any
		_ = json.Unmarshal(m.Data, &req)
		reply := func(v any) {
			b, _ := json.Marshal(v)
			_ = m.Respond(b)
		}
		switch m.Subject {
		case subjects.AdminSagaCustomerGet:
			if req["customer_id"] != "cus_Known" {
				reply(map[string]string{"error": "customer " + req["customer_id"].(string) + " not found", "code": "not_found"})
				return
			}
			reply(map[string]any{"customer": map[string]any{"customer_id": "cus_Known", "plan": "pro", "state": "active",
				"resources": map[string]string{"compute": "running"}, "timers": map[string]string{}, "sagas": []any{}}})
		case subjects.AdminSagaList:
			reply(map[string]any{"sagas": []any{map[string]any{"saga_id": "signup-cs_1", "kind": "signup", "status": req["status"]}}})
		case subjects.AdminSagaGet:
			reply(map[string]any{"saga": map[string]any{"saga_id": req["saga_id"], "kind": "signup", "status": "failed",
				"steps": []any{map[string]any{"name": "database", "status": "failed", "attempt": 3, "error": "neon: 500"}}}})
		case subjects.AdminSagaRetry:
			if strings.HasSuffix(req["saga_id"].(string), "running") {
				reply(map[string]string{"error": "saga is running", "code": "conflict"})
				return
			}
			reply(map[string]string{"saga_id": req["saga_id"].(string) + "-retry1"})
		case subjects.AdminSagaCustomerDeprovision:
			reply(map[string]string{"saga_id": "deprovision-" + req["customer_id"].(string) + "-1760000000"})
		default:
			reply(map[string]string{"error": "unknown", "code": "bad_request"})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeSaga) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (h *harness) admin(t testing.TB, method, path, token string) response {
	t.Helper()
	req, err := http.NewRequest(method, h.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	return do(t, req)
}

func TestAdminDisabled(t *testing.T) {
	t.Parallel()
	h := start(t)
	startFakeSaga(t, h)
	for _, r := range [][2]string{{"GET", "/v1/admin/customers/cus_Known"}, {"GET", "/v1/admin/sagas"},
		{"GET", "/v1/admin/sagas/signup-cs_1"}, {"POST", "/v1/admin/sagas/signup-cs_1/retry"}, {"POST", "/v1/admin/customers/cus_Known/deprovision"}} {
		res := h.admin(t, r[0], r[1], "Bearer "+adminToken)
		if res.Code != http.StatusServiceUnavailable || res.Body["error"] != "admin disabled: set ADMIN_TOKEN" {
			t.Errorf("%s %s: %d %v", r[0], r[1], res.Code, res.Body)
		}
	}
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	h := startWith(t, map[string]string{"ADMIN_TOKEN": adminToken})
	saga := startFakeSaga(t, h)
	for name, header := range map[string]string{
		"none": "", "wrong": "Bearer " + adminToken + "x", "prefix": "Bearer " + adminToken[:10],
		"basic": "Basic " + adminToken, "no scheme": adminToken, "empty bearer": "Bearer ",
	} {
		res := h.admin(t, "GET", "/v1/admin/customers/cus_Known", header)
		if res.Code != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %v", name, res.Code, res.Body)
		}
	}
	if n := len(saga.asked()); n != 0 {
		t.Errorf("unauthorized requests reached the saga: %d", n)
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	h := startWith(t, map[string]string{"ADMIN_TOKEN": adminToken})
	saga := startFakeSaga(t, h)
	auth := "Bearer " + adminToken
	tests := []struct {
		name, method, path string
		code               int
		asked              string // the saga request, "" = none
		check              func(t *testing.T, body map[string]any)
	}{
		{"customer", "GET", "/v1/admin/customers/cus_Known", 200, `admin.saga.customer.get {"customer_id":"cus_Known"}`,
			func(t *testing.T, b map[string]any) {
				if c, _ := b["customer"].(map[string]any); c["state"] != "active" || c["plan"] != "pro" {
					t.Errorf("customer %v", b)
				}
			}},
		{"unknown customer", "GET", "/v1/admin/customers/cus_Nobody", 404, `admin.saga.customer.get {"customer_id":"cus_Nobody"}`,
			func(t *testing.T, b map[string]any) {
				if b["error"] != "customer cus_Nobody not found" {
					t.Errorf("error %v", b)
				}
			}},
		{"bad customer id", "GET", "/v1/admin/customers/acct_1", 400, "", nil},
		{"failed sagas", "GET", "/v1/admin/sagas?state=failed&limit=10", 200, `admin.saga.sagas.list {"status":"failed","limit":10}`,
			func(t *testing.T, b map[string]any) {
				if s, _ := b["sagas"].([]any); len(s) != 1 {
					t.Errorf("sagas %v", b)
				}
			}},
		{"sagas by kind and customer", "GET", "/v1/admin/sagas?status=running&kind=cancel&customer_id=cus_Known", 200,
			`admin.saga.sagas.list {"status":"running","kind":"cancel","customer_id":"cus_Known"}`, nil},
		{"bad list filters", "GET", "/v1/admin/sagas?status=broken&kind=x&limit=0", 400, "",
			func(t *testing.T, b map[string]any) {
				if r, _ := b["reasons"].([]any); len(r) != 3 {
					t.Errorf("reasons %v", b)
				}
			}},
		{"saga", "GET", "/v1/admin/sagas/signup-cs_test_1", 200, `admin.saga.saga.get {"saga_id":"signup-cs_test_1"}`,
			func(t *testing.T, b map[string]any) {
				s, _ := b["saga"].(map[string]any)
				if steps, _ := s["steps"].([]any); len(steps) != 1 {
					t.Errorf("saga %v", b)
				}
			}},
		{"bad saga id", "GET", "/v1/admin/sagas/a%20b", 400, "", nil},
		{"retry", "POST", "/v1/admin/sagas/signup-cs_test_1/retry", 200, `admin.saga.saga.retry {"saga_id":"signup-cs_test_1"}`,
			func(t *testing.T, b map[string]any) {
				if b["saga_id"] != "signup-cs_test_1-retry1" {
					t.Errorf("retry %v", b)
				}
			}},
		{"retry refused", "POST", "/v1/admin/sagas/plan-running/retry", 409, `admin.saga.saga.retry {"saga_id":"plan-running"}`, nil},
		{"deprovision", "POST", "/v1/admin/customers/cus_Known/deprovision?reason=abuse", 200,
			`admin.saga.customer.deprovision {"customer_id":"cus_Known","reason":"abuse"}`,
			func(t *testing.T, b map[string]any) {
				if b["saga_id"] != "deprovision-cus_Known-1760000000" {
					t.Errorf("deprovision %v", b)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(saga.asked())
			res := h.admin(t, tc.method, tc.path, auth)
			if res.Code != tc.code {
				t.Fatalf("got %d %v, want %d", res.Code, res.Body, tc.code)
			}
			var want []string
			if tc.asked != "" {
				want = []string{tc.asked}
			}
			if d := cmp.Diff(want, saga.asked()[before:], cmpopts.EquateEmpty()); d != "" {
				t.Errorf("saga requests (-want +got):\n%s", d)
			}
			if tc.check != nil {
				tc.check(t, res.Body)
			}
		})
	}

	// No saga coordinator answers: 503, saying so.
	if err := saga.sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := saga.nc.Flush(); err != nil { // the server has dropped the interest
		t.Fatal(err)
	}
	res := h.admin(t, "GET", "/v1/admin/customers/cus_Known", auth)
	if msg, _ := res.Body["error"].(string); res.Code != http.StatusServiceUnavailable || !strings.Contains(msg, "no saga coordinator") {
		t.Errorf("no responders: %d %v", res.Code, res.Body)
	}
}
