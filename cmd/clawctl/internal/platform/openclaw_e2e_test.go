package platform_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/stripefixture"
)

// gatewayReady bounds a real OpenClaw gateway's start (~9 s idle, much more
// on a loaded CI machine).
const gatewayReady = 4 * time.Minute

// realOpenClaw returns the install `make openclaw` made (deploy/openclaw),
// or OPENCLAW_DIR. Without it (or bubblewrap) the test is skipped, except
// in CI, which installs both.
func realOpenClaw(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OPENCLAW_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "deploy", "openclaw")
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "openclaw", "openclaw.mjs"))
	}
	if err == nil {
		_, err = exec.LookPath("bwrap")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI installs OpenClaw with make openclaw, and bubblewrap)", err)
		}
		t.Skipf("%v: run make openclaw", err)
	}
	return dir
}

// TestUpgradeOntoTheOpenClawEngine: a Pro customer (runtime engine) writes
// a memory, then upgrades to Team, which the compute service runs on the
// real OpenClaw gateway (RUNTIME_ENGINES=team=openclaw). The whole resize
// saga runs — Stripe's subscription update, the saga, the workspace and
// compute services, the runtime restarted on the new engine under the
// customer's uid, its gateway in its sandbox — and afterwards the same URL
// and key answer on openclaw, the memory is there through the API and in
// the gateway's state directory, and a chat goes through the gateway and
// its metering proxy to the model and is counted in the customer's usage.
func TestUpgradeOntoTheOpenClawEngine(t *testing.T) {
	dir := realOpenClaw(t)
	model := testModel(t)
	h := start(t, map[string]string{
		"RUNTIME_ENGINES": "team=openclaw", "OPENCLAW_DIR": dir,
		"OPENAI_BASE_URL": model.URL + "/v1", "OPENAI_API_KEY": "sk-test",
	})
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	res := h.signupCheckout(t, stripefixture.Checkout{Email: "claw@example.com", Name: "Open Claw", Plan: "pro", Created: t0})
	url, key := res.Status.InstanceURL, res.Status.APIKey
	if code, body := call(t, url+"/status", key); code != 200 || body["engine"] != "runtime" {
		t.Fatalf("/status on pro = %d %v, want the runtime engine", code, body)
	}
	if code, body := send(t, http.MethodPost, url+"/api/memory", key, `{"content":"Open Claw drinks green tea at four."}`); code != http.StatusCreated {
		t.Fatalf("store a memory: %d %v", code, body)
	}

	sub := stripefixture.Subscription{CustomerID: res.Checkout.CustomerID, SubscriptionID: res.Checkout.SubscriptionID,
		Plan: "team", PreviousPlan: "pro", Created: t0.Add(time.Second)}
	sub.Fill()
	h.post(t, stripefixture.SubscriptionUpdated(sub))
	// The resize saga ends once the runtime answers on the new engine with
	// its gateway up (the compute step waits for /health 200).
	deadline := time.Now().Add(gatewayReady)
	for {
		state := h.lastSaga(t, res.Checkout.CustomerID, "plan_change")
		if state == "completed" {
			break
		}
		if time.Now().After(deadline) || state == "failed" || state == "compensated" {
			code, body := callQuiet(url+"/status", key)
			t.Fatalf("the plan change saga is %q after %v: /status = %d %v", state, gatewayReady, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, status := callQuiet(url+"/status", key)
	if code != 200 || status["plan"] != "team" || status["engine"] != "openclaw" {
		t.Fatalf("/status after the upgrade = %d %v, want team on openclaw", code, status)
	}
	if code, _ := callQuiet(url+"/health", ""); code != 200 {
		t.Errorf("/health on openclaw = %d, want 200 (the saga completed with the gateway up)", code)
	}
	if s := h.customerState(t, res.Checkout.CustomerID); s != "active" {
		t.Errorf("customer state after the upgrade = %q, want active", s)
	}

	// The memory written on the runtime engine: through our API, and in
	// the state directory the gateway reads (memory/YYYY-MM-DD.md).
	if code, body := callQuiet(url+"/api/memory/search?q=tea", key); code != 200 || !strings.Contains(toJSON(body), "green tea") {
		t.Errorf("memory search on openclaw = %d %v", code, body)
	}
	if files := exportedMemory(t, url, key); !strings.Contains(files, "green tea at four") {
		t.Errorf("the gateway's memory files do not hold the memory written before the upgrade:\n%s", files)
	}

	// A chat goes through the gateway: the model's answer comes back, the
	// metering proxy counted the gateway's call, the usage moved.
	before := usageMessages(t, status)
	code, body := send(t, http.MethodPost, url+"/api/chat", key, `{"message":"hello from the saga test"}`)
	if code != 200 || !strings.Contains(toJSON(body), modelReply) {
		t.Fatalf("chat on openclaw = %d %v", code, body)
	}
	if n := proxiedCalls(t, url, key); n < 1 {
		t.Errorf("the model proxy saw %v successful gateway calls, want at least 1", n)
	}
	_, after := callQuiet(url+"/status", key)
	if got := usageMessages(t, after); got <= before {
		t.Errorf("usage messages %v → %v after a chat on openclaw, want more", before, got)
	}
}

// lastSaga returns the status of the customer's latest saga of kind ("" if
// none yet), from the admin API.
func (h *harness) lastSaga(t *testing.T, customerID, kind string) string {
	t.Helper()
	var out struct {
		Customer struct {
			Sagas []struct {
				Kind      string    `json:"kind"`
				Status    string    `json:"status"`
				CreatedAt time.Time `json:"created_at"`
			} `json:"sagas"`
		} `json:"customer"`
	}
	h.adminCustomer(t, customerID, &out)
	status, at := "", time.Time{}
	for _, s := range out.Customer.Sagas {
		if s.Kind == kind && !s.CreatedAt.Before(at) {
			status, at = s.Status, s.CreatedAt
		}
	}
	return status
}

// send makes an authenticated JSON request and decodes the answer.
func send(t *testing.T, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func usageMessages(t *testing.T, status map[string]any) float64 {
	t.Helper()
	u, _ := status["usage"].(map[string]any)
	n, ok := u["messages"].(float64)
	if !ok {
		t.Fatalf("/status has no usage.messages: %v", status)
	}
	return n
}

// exportedMemory returns the memory/*.md files of the instance's workspace
// export (OpenClaw's state directory), concatenated.
func exportedMemory(t *testing.T, url, key string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/api/workspace/export", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("workspace export = %d", resp.StatusCode)
	}
	gz, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(hdr.Name, "memory/") && strings.HasSuffix(hdr.Name, ".md") {
			out.WriteString("== " + hdr.Name + "\n")
			_, _ = io.Copy(&out, tr)
		}
	}
	return out.String()
}

var okCalls = regexp.MustCompile(`(?m)^claw_runtime_model_proxy_requests_total\{outcome="ok"\} (\S+)$`)

// proxiedCalls reads the runtime's model proxy counter of answered calls.
func proxiedCalls(t *testing.T, url, key string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := okCalls.FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics = %d without the proxy's ok counter:\n%s", resp.StatusCode, b)
	}
	n, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
