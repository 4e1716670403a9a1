package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/googletest"
	"clawdbot.cloud/pkg/stripefixture"
)

// After signup, Stripe's lifecycle webhooks move the running instance: an
// upgrade changes its plan and quota in place, a cancellation stops it and
// its key gets a clear "canceled" answer, and the customer's state follows.
func TestPlanChangeThenCancellation(t *testing.T) {
	h := start(t, nil)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	co := stripefixture.Checkout{Email: "life@example.com", Name: "Life Cycle", Plan: "starter", Created: t0}
	res := h.signupCheckout(t, co)
	url, key := res.Status.InstanceURL, res.Status.APIKey
	if code, body := call(t, url+"/status", key); code != 200 || body["plan"] != "starter" {
		t.Fatalf("/status = %d %v", code, body)
	}

	sub := stripefixture.Subscription{CustomerID: res.Checkout.CustomerID, SubscriptionID: res.Checkout.SubscriptionID,
		Plan: "pro", PreviousPlan: "starter", Created: t0.Add(time.Second)}
	sub.Fill()
	h.post(t, stripefixture.SubscriptionUpdated(sub))
	waitFor(t, "the instance to run the pro plan", func() bool {
		code, body := callQuiet(url+"/status", key)
		return code == 200 && body["plan"] == "pro"
	})
	waitFor(t, "the customer to be active on pro", func() bool { return h.customerState(t, res.Checkout.CustomerID) == "active" })

	del := stripefixture.Subscription{CustomerID: res.Checkout.CustomerID, SubscriptionID: res.Checkout.SubscriptionID,
		Plan: "pro", Created: t0.Add(2 * time.Second)}
	del.Fill()
	h.post(t, stripefixture.SubscriptionDeleted(del))
	waitFor(t, "the key to be refused as canceled", func() bool {
		code, body := callQuiet(url+"/status", key)
		return code == http.StatusForbidden && strings.Contains(body["error"].(string), "canceled")
	})
	waitFor(t, "the customer to be canceled", func() bool { return h.customerState(t, res.Checkout.CustomerID) == "canceled" })
}

// A failed payment suspends the instance after the grace period; paying
// resumes the same instance with the same data and key.
func TestPaymentFailedSuspendsThenPaidResumes(t *testing.T) {
	h := start(t, map[string]string{"SAGA_PAYMENT_GRACE": "1s"})
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	co := stripefixture.Checkout{Email: "late@example.com", Name: "Late Payer", Plan: "pro", Created: t0}
	res := h.signupCheckout(t, co)
	url, key := res.Status.InstanceURL, res.Status.APIKey

	failed := stripefixture.Invoice{CustomerID: res.Checkout.CustomerID, SubscriptionID: res.Checkout.SubscriptionID, Created: t0.Add(time.Second)}
	failed.Fill()
	h.post(t, stripefixture.InvoicePaymentFailed(failed))
	waitFor(t, "the key to be refused as suspended", func() bool {
		code, body := callQuiet(url+"/status", key)
		return code == http.StatusPaymentRequired && strings.Contains(body["error"].(string), "suspended")
	})
	// The instance stops before the coordinator hears it did.
	waitFor(t, "the customer to be suspended", func() bool { return h.customerState(t, res.Checkout.CustomerID) == "suspended" })

	paid := stripefixture.Invoice{CustomerID: res.Checkout.CustomerID, SubscriptionID: res.Checkout.SubscriptionID, Created: t0.Add(2 * time.Second)}
	paid.Fill()
	h.post(t, stripefixture.InvoicePaid(paid))
	waitFor(t, "the same instance to answer the same key again", func() bool {
		code, body := callQuiet(url+"/status", key)
		return code == 200 && body["plan"] == "pro"
	})
	waitFor(t, "the customer to be active", func() bool { return h.customerState(t, res.Checkout.CustomerID) == "active" })
}

func (h *harness) signupCheckout(t *testing.T, co stripefixture.Checkout) *signup.Result {
	t.Helper()
	res, err := signup.Run(context.Background(), signup.Options{
		IngressURL: h.IngressURL, Secret: h.WebhookSecret, Timeout: 90 * time.Second, Checkout: co,
	})
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	return res
}

func (h *harness) post(t *testing.T, body []byte) {
	t.Helper()
	if err := postBody(h, body); err != nil {
		t.Fatal(err)
	}
}

// customerState reads the customer's lifecycle state from the admin API.
func (h *harness) customerState(t *testing.T, customerID string) string {
	t.Helper()
	var out struct {
		Customer struct {
			State string `json:"state"`
		} `json:"customer"`
	}
	h.adminCustomer(t, customerID, &out)
	return out.Customer.State
}

// adminCustomer decodes the admin API's view of the customer into out.
func (h *harness) adminCustomer(t *testing.T, customerID string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.IngressURL+"/v1/admin/customers/"+customerID, nil)
	req.Header.Set("Authorization", "Bearer "+platform.DevAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("admin customer %s: %d %s", customerID, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// callQuiet is call for polling: errors read as status 0.
func callQuiet(url, key string) (int, map[string]any) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body := map[string]any{"error": ""}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if _, ok := body["error"].(string); !ok {
		body["error"] = ""
	}
	return resp.StatusCode, body
}

// A customer who cancels and subscribes again before day 30 gets their
// instance and data back, with a new key; the old key stays revoked.
func TestReturningCustomerGetsDataBack(t *testing.T) {
	h := start(t, nil)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	first := h.signupCheckout(t, stripefixture.Checkout{Email: "back@example.com", Name: "Back Again", Plan: "starter", Created: t0})
	url, oldKey := first.Status.InstanceURL, first.Status.APIKey
	req, _ := http.NewRequest(http.MethodPost, url+"/api/memory", strings.NewReader(`{"content":"The spare key is under the blue lighthouse.","tags":["home"]}`))
	req.Header.Set("Authorization", "Bearer "+oldKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("store a memory: %d", resp.StatusCode)
	}

	del := stripefixture.Subscription{CustomerID: first.Checkout.CustomerID, SubscriptionID: first.Checkout.SubscriptionID,
		Plan: "starter", Created: t0.Add(time.Second)}
	del.Fill()
	h.post(t, stripefixture.SubscriptionDeleted(del))
	waitFor(t, "the customer to be canceled", func() bool { return h.customerState(t, first.Checkout.CustomerID) == "canceled" })

	again := h.signupCheckout(t, stripefixture.Checkout{CustomerID: first.Checkout.CustomerID, Email: "back@example.com",
		Name: "Back Again", Plan: "pro", Created: t0.Add(2 * time.Second)})
	newURL, newKey := again.Status.InstanceURL, again.Status.APIKey
	if newKey == "" || newKey == oldKey {
		t.Fatalf("returning customer's key = %q", newKey)
	}
	code, body := callQuiet(newURL+"/api/memory/search?q=lighthouse", newKey)
	if code != 200 || !strings.Contains(toJSON(body), "blue lighthouse") {
		t.Errorf("memory search after coming back = %d %v, want the memory stored before cancelling", code, body)
	}
	if code, _ := callQuiet(newURL+"/status", oldKey); code != http.StatusUnauthorized {
		t.Errorf("the old key answers %d, want 401", code)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A cancellation revokes the customer's Google grant at Google: the
// workspace service opens the grant, sealed with the instance's token,
// through its own role's access to the secret store.
func TestCancellationRevokesGoogle(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	h := start(t, map[string]string{
		"GOOGLE_CLIENT_ID":      g.ClientID(),
		"GOOGLE_CLIENT_SECRET":  g.ClientSecret(),
		"GOOGLE_OAUTH_BASE_URL": g.URL,
		"GOOGLE_API_BASE_URL":   g.URL,
	})
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	co := stripefixture.Checkout{Email: "grant@example.com", Name: "Grant", Plan: "pro", Created: t0}
	res := h.signupCheckout(t, co)
	url, key := res.Status.InstanceURL, res.Status.APIKey

	tok := g.Grant(t, googletest.ScopeGmailReadonly)
	body, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, url+"/api/google", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !g.Granted(tok.RefreshToken) {
		t.Fatalf("PUT /api/google = %d; granted %v", resp.StatusCode, g.Granted(tok.RefreshToken))
	}

	del := stripefixture.Subscription{CustomerID: res.Checkout.CustomerID, SubscriptionID: res.Checkout.SubscriptionID,
		Plan: "pro", Created: t0.Add(time.Second)}
	del.Fill()
	h.post(t, stripefixture.SubscriptionDeleted(del))
	waitFor(t, "the customer to be canceled", func() bool { return h.customerState(t, res.Checkout.CustomerID) == "canceled" })
	waitFor(t, "the grant to be revoked at Google", func() bool { return !g.Granted(tok.RefreshToken) })
	if n := g.Count("revoke"); n != 1 {
		t.Errorf("Google saw %d revocations, want 1", n)
	}
}
