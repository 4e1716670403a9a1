package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumOrSkip returns Chromium's path; skipped only outside CI.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM_PATH"), "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found in CI")
	}
	t.Skip("chromium not installed")
	return ""
}

// TestControlUIInBrowser, in headless Chromium: the dashboard of a
// customer whose instance runs OpenClaw offers "Open the Control UI"; it
// opens the UI on the control origin (control.localhost, which Chromium
// resolves to loopback), whose WebSocket connects through the proxy. From
// that origin, a script's fetch of the web app's API with the customer's
// session fails and is refused by the web app; the handoff token is in no
// URL the browser visited and the control cookie is not readable by
// scripts. A customer on the runtime engine is not offered the link.
// (The real gateway's Control UI through the same hop:
// services/runtime's TestOpenClawEngine, "control ui in a browser".)
func TestControlUIInBrowser(t *testing.T) {
	chromium := chromiumOrSkip(t)
	a := newApp(t, true, nil)
	hits := make(chan controlHit, 50)
	ada, bob := a.browser(), a.browser()
	signUpWithInstance(t, a, ada, "cus_ada", "openclaw", hits)
	signUpWithInstance(t, a, bob, "cus_bob", "runtime", hits)

	actx, cancelA := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	var mu sync.Mutex
	var urls []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	signIn := func(b *browser) {
		t.Helper()
		c := b.cookie(sessionCookie)
		if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, struct{}{}); err != nil {
			t.Fatal(err)
		}
		httpOnly := true
		if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: a.url + "/",
			HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enable network events: %v", err)
	}

	// Bob's instance runs our own runtime: no Control UI on his dashboard.
	signIn(bob)
	if err := chromedp.Do(ctx, chromedp.Navigate(a.url+"/dashboard"), chromedp.WaitReady(`#control-ui[data-engine="runtime"]`)); err != nil {
		t.Fatalf("bob's dashboard: %v", err)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("control-ui").hidden`)); err != nil || !hidden {
		t.Errorf("the Control UI is offered on the runtime engine (hidden %v, %v)", hidden, err)
	}

	// Ada's runs OpenClaw: the link opens the UI on its own origin, and
	// its WebSocket connects through the proxy.
	signIn(ada)
	if err := chromedp.Do(ctx, chromedp.Navigate(a.url+"/dashboard"), chromedp.WaitVisible(`#control-ui-open`), chromedp.Click(`#control-ui-open`)); err != nil {
		t.Fatalf("ada's dashboard link: %v", err)
	}
	if err := waitInPage(ctx, `document.getElementById("ws") !== null && document.getElementById("ws").textContent === "cus_ada connected"`); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.body.innerText`))
		t.Fatalf("the Control UI's WebSocket did not connect: %v; the page: %q", err, text)
	}
	where, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.origin + location.pathname + " " + document.title + " " + document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if want := a.control + "/openclaw/ OpenClaw Control of cus_ada "; where != want {
		t.Errorf("the Control UI is at %q, want %q (and no cookie a script can read)", where, want)
	}
	var ws []controlHit
	for len(hits) > 0 {
		if h := <-hits; h.websocket {
			ws = append(ws, h)
		}
	}
	if len(ws) != 1 || ws[0].who != "cus_ada" || ws[0].origin != a.control || ws[0].cookie != "" {
		t.Errorf("WebSockets that reached instances: %+v, want ada's, from the control origin, without cookies", ws)
	}

	// A script of the control origin cannot use the web app's API with the
	// customer's session: the browser refuses to show it the answer, and
	// the web app refuses the request itself (a no-cors request's answer is
	// opaque to the script, but it did reach the app).
	before := a.refused("cross_origin")
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Promise.all([
		fetch("`+a.url+`/app/api/account", {credentials: "include"}).then(r => "read " + r.status, e => "failed: " + e.name),
		fetch("`+a.url+`/app/api/instance/api/keys", {method: "POST", credentials: "include", mode: "no-cors", body: "{}"}).then(r => "sent " + r.type, e => "failed: " + e.name),
		fetch("`+a.url+`/app/api/account", {credentials: "include", mode: "no-cors"}).then(r => "sent " + r.type, e => "failed: " + e.name),
	]).then(r => r.join(", "))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got != "failed: TypeError, sent opaque, sent opaque" {
		t.Errorf("the control origin's fetches of the web app's API: %q", got)
	}
	if n := a.refused("cross_origin") - before; n != 3 {
		t.Errorf("the web app refused %v of the control origin's 3 requests", n)
	}

	// The handoff token went in a form's body only; its page is gone from
	// history's reach (no-store) and the token was used up.
	mu.Lock()
	defer mu.Unlock()
	var controlURLs []string
	for _, u := range urls {
		if strings.Contains(u, "token=") {
			t.Errorf("a URL carried a token: %s", u)
		}
		if strings.HasPrefix(u, a.control) {
			controlURLs = append(controlURLs, strings.TrimPrefix(u, a.control))
		}
	}
	if len(controlURLs) < 3 || controlURLs[0] != "/handoff" || controlURLs[1] != "/openclaw/" {
		t.Errorf("the browser's way on the control origin: %v, want /handoff, /openclaw/, the WebSocket", controlURLs)
	}
}

// waitInPage evaluates expr in the page until it is true, across the
// navigations that replace the page meanwhile.
func waitInPage(ctx context.Context, expr string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}
