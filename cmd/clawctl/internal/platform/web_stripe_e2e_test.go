package platform_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/pkg/stripemock"
)

// TestWebWithStripe: with STRIPE_SECRET_KEY the web app's "Start free
// trial" creates a real Checkout Session (through the ingress, against
// stripe-mock) and sends the browser to it, bound to that browser's reveal
// nonce; "Manage billing" opens the Billing Portal for the signed-in
// customer only.
func TestWebWithStripe(t *testing.T) {
	vars := map[string]string{"STRIPE_SECRET_KEY": "sk_test_web", "STRIPE_API_BASE": stripemock.Start(t)}
	for _, p := range plans.All() {
		vars[plans.PriceEnv(p.ID)] = plans.DevPriceID(p.ID)
	}
	h := start(t, vars)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	page := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(h.WebURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.WebURL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.WebURL)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	code, body := page("/checkout?plan=team")
	if code != http.StatusOK || strings.Contains(body, "Dev checkout") || !strings.Contains(body, "Continue to payment") {
		t.Fatalf("checkout page with Stripe = %d", code)
	}
	tok := csrf.FindStringSubmatch(body)[1]
	resp := post("/checkout", url.Values{"csrf_token": {tok}, "plan": {"team"}, "email": {"ada@example.com"}, "timezone": {"Europe/Paris"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, h.WebURL) {
		t.Fatalf("start checkout = %d → %q, want a redirect to Stripe Checkout", resp.StatusCode, loc)
	}
	revealSet := false
	for _, ck := range resp.Cookies() {
		revealSet = revealSet || ck.Name == "claw_reveal" && ck.HttpOnly
	}
	if !revealSet {
		t.Fatal("the browser holds no reveal nonce after starting a Stripe checkout")
	}

	// A paid signup (the webhook Stripe sends), then sign in through the
	// dev mailbox and open the portal.
	email := "grace@example.com"
	if _, err := signup.Run(context.Background(), signup.Options{IngressURL: h.IngressURL, Secret: h.WebhookSecret, Timeout: 90 * time.Second,
		Checkout: stripefixture.Checkout{Email: email, Name: "Grace", Plan: plans.Pro}}); err != nil {
		t.Fatal(err)
	}
	if resp := post("/billing", url.Values{"csrf_token": {tok}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("billing without a session = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var link string
	waitFor(t, "the sign-in link", func() bool {
		_, body := page("/signin")
		tok = csrf.FindStringSubmatch(body)[1]
		post("/signin", url.Values{"csrf_token": {tok}, "email": {email}})
		_, mail := page("/dev/mail")
		m := regexp.MustCompile(`href="(http://[^"]+/signin/link\?token=[^"]+)"`).FindStringSubmatch(mail)
		if m != nil {
			link = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		return link != ""
	})
	_, body = page(strings.TrimPrefix(link, h.WebURL))
	tok = csrf.FindStringSubmatch(body)[1]
	u, _ := url.Parse(link)
	if resp := post("/signin/link", url.Values{"csrf_token": {tok}, "token": {u.Query().Get("token")}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in = %d", resp.StatusCode)
	}
	_, body = page("/dashboard")
	if !strings.Contains(body, "Manage billing") {
		t.Fatal("the dashboard has no Manage billing button with Stripe configured")
	}
	tok = csrf.FindStringSubmatch(body)[1]
	resp = post("/billing", url.Values{"csrf_token": {tok}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
		t.Fatalf("Manage billing = %d → %q, want the Billing Portal", resp.StatusCode, resp.Header.Get("Location"))
	}
}
