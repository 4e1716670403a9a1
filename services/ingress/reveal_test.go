package ingress_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// hashOf is what the web app binds a checkout to: the nonce's SHA-256 in
// lowercase hex.
func hashOf(nonce string) string {
	sum := sha256.Sum256([]byte(nonce))
	return hex.EncodeToString(sum[:])
}

// reveal asks for the key of cs with nonce.
func (h *harness) reveal(t testing.TB, cs, nonce string) response {
	t.Helper()
	return h.postJSON(t, "/v1/provisioning/"+cs+"/reveal", `{"nonce":"`+nonce+`"}`)
}

// reveals reads claw_ingress_key_reveals_total{outcome}.
func (h *harness) reveals(t testing.TB, outcome string) float64 {
	t.Helper()
	return servicetest.Counter(t, h.env.Metrics, "claw_ingress_key_reveals_total", map[string]string{"outcome": outcome})
}

// signupReady takes cs through a signup bound to revealHash ("" = none) up
// to ready, with key stored as its one-time reveal, as the saga and the
// workspace service would.
func (h *harness) signupReady(t *testing.T, cs, revealHash, key string) {
	t.Helper()
	ev := checkout{EventID: "evt_r" + names.CheckoutRef(cs), SessionID: cs, Plan: "pro", RevealHash: revealHash}
	if res := h.deliver(t, ev.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d %v", res.Code, res.Body)
	}
	saga := names.SignupSagaID(cs)
	if err := h.env.Secrets.Put(context.Background(), names.APIKeyRevealRef(saga), []byte(key)); err != nil {
		t.Fatal(err)
	}
	_, err := h.sagaBus(t).b.Publish(context.Background(), subjects.SagaCompleted, &pb.SagaCompleted{SagaId: saga,
		CustomerId: "cus_r" + names.CheckoutRef(cs), CheckoutSessionId: cs, InstanceUrl: "http://127.0.0.1:41009",
		ApiKeyRef: names.APIKeyRevealRef(saga)}, bus.Envelope{MsgID: "test-completed-" + saga})
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, cs, "the signup to be ready", func(r response) bool { return r.Body["status"] == "ready" })
}

func TestRevealOnlyToTheStartingBrowser(t *testing.T) {
	h := start(t)
	const cs, nonce = "cs_test_reveal0001", "Zm9vYmFyLW5vbmNlLW9mLWEtYnJvd3Nlcg"
	// While provisioning: not yet.
	if res := h.deliver(t, checkout{EventID: "evt_reveal_early", SessionID: cs, Plan: "pro", RevealHash: hashOf(nonce)}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d", res.Code)
	}
	if r := h.reveal(t, cs, nonce); r.Code != http.StatusConflict || r.Body["error"] != "not ready yet" {
		t.Fatalf("reveal while provisioning: %d %v", r.Code, r.Body)
	}
	h.signupReady(t, cs, hashOf(nonce), "claw_browser_key")

	res := h.get(t, "/v1/provisioning/"+cs)
	if res.Body["api_key_available"] != true || res.Body["api_key"] != nil {
		t.Fatalf("ready: %v", res.Body)
	}
	// The session id alone, or another browser's nonce, reveals nothing and
	// burns nothing.
	for _, wrong := range []string{"another-browsers-nonce", strings.ToUpper(nonce), nonce + "x", hashOf(nonce)} {
		r := h.reveal(t, cs, wrong)
		if r.Code != http.StatusForbidden || r.Body["error"] != "this browser cannot reveal this key" || r.Body["api_key"] != nil {
			t.Errorf("nonce %q: %d %v, want 403", wrong, r.Code, r.Body)
		}
	}
	if res := h.get(t, "/v1/provisioning/"+cs); res.Body["api_key_available"] != true {
		t.Fatalf("after wrong nonces: %v", res.Body)
	}
	r := h.reveal(t, cs, nonce)
	if r.Code != 200 || r.Body["api_key"] != "claw_browser_key" || r.Body["instance_url"] != "http://127.0.0.1:41009" {
		t.Fatalf("reveal: %d %v", r.Code, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	// The same browser may ask again within the grace window (its answer
	// may have been lost); another browser still may not.
	if r := h.reveal(t, cs, nonce); r.Code != 200 || r.Body["api_key"] != "claw_browser_key" {
		t.Fatalf("second reveal within the grace window: %d %v", r.Code, r.Body)
	}
	if r := h.reveal(t, cs, "another-browsers-nonce"); r.Code != http.StatusForbidden {
		t.Fatalf("another browser within the grace window: %d %v", r.Code, r.Body)
	}
	after := h.get(t, "/v1/provisioning/"+cs)
	if after.Body["api_key"] != nil || after.Body["api_key_available"] != false || after.Body["api_key_revealed"] != true {
		t.Fatalf("after the reveal: %v", after.Body)
	}
	// Then the window passes (moved back rather than waited for): gone,
	// from the store too.
	h.endGraceWindow(t, cs)
	if r := h.reveal(t, cs, nonce); r.Code != http.StatusGone || r.Body["error"] != "already revealed" {
		t.Fatalf("reveal after the grace window: %d %v", r.Code, r.Body)
	}
	if _, err := h.env.Secrets.Get(context.Background(), names.APIKeyRevealRef(names.SignupSagaID(cs))); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("the revealed secret is still stored: %v", err)
	}
	for outcome, want := range map[string]float64{"revealed": 1, "repeated": 1, "forbidden": 5, "already_revealed": 1, "not_ready": 1} {
		if got := h.reveals(t, outcome); got != want {
			t.Errorf("reveals{%s} = %v, want %v", outcome, got, want)
		}
	}
	if logs := h.logs.String(); strings.Contains(logs, "claw_browser_key") || strings.Contains(logs, nonce) {
		t.Error("the key or the nonce was logged")
	}
}

func TestRevealRequests(t *testing.T) {
	h := start(t)
	const nonce = "0123456789abcdef0123"
	h.signupReady(t, "cs_test_revreq001", hashOf(nonce), "claw_req")
	tests := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"malformed id", "/v1/provisioning/ch_1/reveal", `{"nonce":"` + nonce + `"}`, 400, "invalid checkout session id"},
		{"injected id", "/v1/provisioning/cs_a%27%20OR%201=1/reveal", `{"nonce":"` + nonce + `"}`, 400, "invalid checkout session id"},
		{"unknown session", "/v1/provisioning/cs_test_nobody0001/reveal", `{"nonce":"` + nonce + `"}`, 404, "unknown checkout session"},
		{"not json", "/v1/provisioning/cs_test_revreq001/reveal", `nonce=1`, 400, "JSON"},
		{"unknown field", "/v1/provisioning/cs_test_revreq001/reveal", `{"nonce":"` + nonce + `","x":1}`, 400, "unknown field"},
		{"no nonce", "/v1/provisioning/cs_test_revreq001/reveal", `{}`, 400, "nonce must be"},
		{"short nonce", "/v1/provisioning/cs_test_revreq001/reveal", `{"nonce":"abc"}`, 400, "nonce must be"},
		{"long nonce", "/v1/provisioning/cs_test_revreq001/reveal", `{"nonce":"` + strings.Repeat("a", 129) + `"}`, 400, "nonce must be"},
		{"bad alphabet", "/v1/provisioning/cs_test_revreq001/reveal", `{"nonce":"0123456789abcdef+/=="}`, 400, "nonce must be"},
		{"too large", "/v1/provisioning/cs_test_revreq001/reveal", `{"nonce":"` + strings.Repeat("a", 17<<10) + `"}`, 413, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.postJSON(t, tc.path, tc.body)
			if msg, _ := r.Body["error"].(string); r.Code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("got %d %v, want %d with %q", r.Code, r.Body, tc.code, tc.want)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
			}
		})
	}
	if got := h.reveals(t, "bad_request"); got != 9 {
		t.Errorf("reveals{bad_request} = %v, want 9", got)
	}
	req, _ := http.NewRequest(http.MethodGet, h.base+"/v1/provisioning/cs_test_revreq001/reveal", nil)
	if r := do(t, req); r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET on the reveal: %d %v", r.Code, r.Header)
	}
	// Nothing above burned the key.
	if r := h.reveal(t, "cs_test_revreq001", nonce); r.Code != 200 || r.Body["api_key"] != "claw_req" {
		t.Fatalf("reveal: %d %v", r.Code, r.Body)
	}
}

// No hash bound (a checkout that did not start in the web app), or a
// malformed one (treated as absent): nobody can reveal the key.
func TestRevealWithoutBoundHash(t *testing.T) {
	h := start(t)
	h.signupReady(t, "cs_test_nohash001", "", "claw_nohash")
	const malformed = "NOT-A-HASH-nonce-derived-value"
	h.signupReady(t, "cs_test_badhash01", malformed, "claw_badhash")
	for _, cs := range []string{"cs_test_nohash001", "cs_test_badhash01"} {
		if res := h.get(t, "/v1/provisioning/"+cs); res.Body["api_key_available"] != false {
			t.Errorf("%s: %v", cs, res.Body)
		}
		for _, nonce := range []string{"0123456789abcdef", "AAAAAAAAAAAAAAAAAAAAAA"} {
			if r := h.reveal(t, cs, nonce); r.Code != http.StatusForbidden || r.Body["api_key"] != nil {
				t.Errorf("%s: %d %v, want 403", cs, r.Code, r.Body)
			}
		}
	}
	if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_reveal_hash_malformed_total", nil); n != 1 {
		t.Errorf("malformed hashes counted %v, want 1", n)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "malformed metadata.reveal_hash") || strings.Contains(logs, malformed) {
		t.Errorf("the malformed hash was not logged as such, or its value was:\n%s", logs)
	}
}

func TestRevealFailedSignup(t *testing.T) {
	h := start(t)
	const cs, nonce = "cs_test_revfail01", "0123456789abcdef"
	if res := h.deliver(t, checkout{EventID: "evt_revfail", SessionID: cs, Plan: "pro", RevealHash: hashOf(nonce)}.payload(t)); res.Code != 200 {
		t.Fatalf("webhook: %d", res.Code)
	}
	h.sagaBus(t).publish(subjects.SagaCompensated, &pb.SagaCompensated{SagaId: names.SignupSagaID(cs), CheckoutSessionId: cs,
		FailedStep: "compute", Reason: "no capacity"})
	h.waitFor(t, cs, "the signup to fail", func(r response) bool { return r.Body["status"] == "failed" })
	if r := h.reveal(t, cs, nonce); r.Code != http.StatusConflict || r.Body["error"] != "signup failed: compute: no capacity" {
		t.Fatalf("reveal of a failed signup: %d %v", r.Code, r.Body)
	}
}

// Of many concurrent reveals with the right nonce, one is the reveal and
// the others repeats within the grace window: all get the one key.
func TestRevealConcurrent(t *testing.T) {
	h := start(t)
	const cs, nonce = "cs_test_revconc01", "concurrent-browser-nonce"
	h.signupReady(t, cs, hashOf(nonce), "claw_once")
	keys, codes := h.revealAtOnce(t, 12, cs, nonce)
	if len(keys) != 1 || keys["claw_once"] != 12 || codes[200] != 12 {
		t.Fatalf("keys %v, codes %v; want the one key 12 times", keys, codes)
	}
	if h.reveals(t, "revealed") != 1 || h.reveals(t, "repeated") != 11 {
		t.Errorf("reveals{revealed} = %v, {repeated} = %v; want 1 and 11", h.reveals(t, "revealed"), h.reveals(t, "repeated"))
	}
}

// Without a grace window the reveal is strictly once: of many concurrent
// reveals exactly one gets the key, and it is gone from the store at once.
func TestRevealWithoutGraceWindow(t *testing.T) {
	h := startWith(t, map[string]string{"INGRESS_REVEAL_GRACE": "0s"})
	const cs, nonce = "cs_test_revnogr01", "no-grace-browser-nonce"
	h.signupReady(t, cs, hashOf(nonce), "claw_strictly_once")
	keys, codes := h.revealAtOnce(t, 12, cs, nonce)
	if len(keys) != 1 || keys["claw_strictly_once"] != 1 || codes[200] != 1 || codes[410] != 11 {
		t.Fatalf("keys %v, codes %v; want exactly one key and 11 × 410", keys, codes)
	}
	if _, err := h.env.Secrets.Get(context.Background(), names.APIKeyRevealRef(names.SignupSagaID(cs))); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("the revealed secret is still stored: %v", err)
	}
}

// The first answer is lost (its replica died after the store handed the
// key out, before the row was marked): the browser's retry gets the key,
// and the row is marked then.
func TestRevealRetryAfterALostAnswer(t *testing.T) {
	h := start(t)
	const cs, nonce = "cs_test_revlost01", "lost-answer-browser-nonce"
	h.signupReady(t, cs, hashOf(nonce), "claw_lost_once")
	// What the dead replica did: the store's reveal, nothing after it.
	if _, first, err := h.env.Secrets.Reveal(context.Background(), names.APIKeyRevealRef(names.SignupSagaID(cs)), time.Minute); err != nil || !first {
		t.Fatalf("reveal in the store: %v, %v", first, err)
	}
	if r := h.reveal(t, cs, nonce); r.Code != 200 || r.Body["api_key"] != "claw_lost_once" {
		t.Fatalf("retry: %d %v", r.Code, r.Body)
	}
	if res := h.get(t, "/v1/provisioning/"+cs); res.Body["api_key_revealed"] != true {
		t.Fatalf("after the retry: %v", res.Body)
	}
	if h.reveals(t, "repeated") != 1 {
		t.Errorf("reveals{repeated} = %v, want 1", h.reveals(t, "repeated"))
	}
}

// revealAtOnce sends n reveals of cs with nonce at once and returns the
// keys answered (key → count) and the status codes (code → count).
func (h *harness) revealAtOnce(t *testing.T, n int, cs, nonce string) (map[string]int, map[int]int) {
	t.Helper()
	var (
		mu    sync.Mutex
		keys  = map[string]int{}
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.reveal(t, cs, nonce)
			mu.Lock()
			defer mu.Unlock()
			codes[r.Code]++
			if k, ok := r.Body["api_key"].(string); ok {
				keys[k]++
			}
		}()
	}
	wg.Wait()
	return keys, codes
}

// endGraceWindow moves cs's reveal back past any grace window in the
// secret store, which keeps its time, rather than waiting for it.
func (h *harness) endGraceWindow(t *testing.T, cs string) {
	t.Helper()
	if _, err := h.env.DB.Exec(context.Background(), `UPDATE secrets.secrets SET taken_at = taken_at - interval '2 hours' WHERE ref = $1`,
		names.APIKeyRevealRef(names.SignupSagaID(cs))); err != nil {
		t.Fatal(err)
	}
}

// Past INGRESS_REVEAL_TTL the reveal refuses even before the sweeper ran.
func TestRevealExpiresBeforeTheSweep(t *testing.T) {
	h := startWith(t, map[string]string{"INGRESS_REVEAL_TTL": "1ns", "INGRESS_REVEAL_SWEEP_INTERVAL": "1h"})
	const cs, nonce = "cs_test_revexp001", "expiring-browser-nonce"
	h.signupReady(t, cs, hashOf(nonce), "claw_expired")
	if res := h.get(t, "/v1/provisioning/"+cs); res.Body["api_key_available"] != false {
		t.Errorf("expired key shown available: %v", res.Body)
	}
	if r := h.reveal(t, cs, nonce); r.Code != http.StatusGone || r.Body["error"] != "expired" {
		t.Fatalf("reveal past the TTL: %d %v", r.Code, r.Body)
	}
	if r := h.reveal(t, cs, "someone-elses-nonce"); r.Code != http.StatusForbidden {
		t.Errorf("wrong nonce past the TTL: %d %v, want 403", r.Code, r.Body)
	}
	if h.reveals(t, "expired") != 1 {
		t.Errorf("reveals{expired} = %v", h.reveals(t, "expired"))
	}
}

// The sweeper deletes the secrets of keys nobody revealed in time.
func TestSweeperDeletesUnrevealedKeys(t *testing.T) {
	h := startWith(t, map[string]string{"INGRESS_REVEAL_TTL": "1ns", "INGRESS_REVEAL_SWEEP_INTERVAL": "20ms"})
	const cs, nonce = "cs_test_revswp001", "swept-browser-nonce-0"
	h.signupReady(t, cs, hashOf(nonce), "claw_swept")
	ref := names.APIKeyRevealRef(names.SignupSagaID(cs))
	servicetest.Eventually(t, 10*time.Second, "the sweeper to expire the key", func() bool {
		var expired bool
		err := h.env.DB.QueryRow(context.Background(),
			`SELECT api_key_expired FROM ingress.provisioning WHERE checkout_session_id = $1`, cs).Scan(&expired)
		return err == nil && expired
	})
	if _, err := h.env.Secrets.Get(context.Background(), ref); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("the expired key's secret is still stored: %v", err)
	}
	if r := h.reveal(t, cs, nonce); r.Code != http.StatusGone || r.Body["error"] != "expired" {
		t.Fatalf("reveal after the sweep: %d %v", r.Code, r.Body)
	}
	if n := servicetest.Counter(t, h.env.Metrics, "claw_ingress_key_reveals_expired_total", nil); n != 1 {
		t.Errorf("expired keys counted %v, want 1", n)
	}
	if strings.Contains(h.logs.String(), cs) {
		t.Error("the sweeper logged the checkout session id")
	}
}
