package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/testbuf"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
)

const instanceToken = "it_0123456789abcdef0123456789abcdef0123"

// waitServing waits for the "serving" log line and returns its address.
func waitServing(t testing.TB, logs *testbuf.Buffer, exited <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if addr := servingAddr(logs.String()); addr != "" {
			return addr
		}
		select {
		case err := <-exited:
			t.Fatalf("runtime exited before serving: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving line within 30s:\n%s", logs)
		}
	}
}

// chatInstance is the runtime binary running against a fake Messages API
// (given in its environment, as the compute service does) with a key.
type chatInstance struct {
	url, key string
	pid      int
	model    *anthropictest.Server
	logs     *testbuf.Buffer
}

func startChatInstance(t testing.TB, plan string) *chatInstance {
	t.Helper()
	bin := buildBinary(t)
	model := anthropictest.New(t)
	dbURL := pgtest.NewDatabase(t)
	cfg, err := json.Marshal(map[string]any{
		"customer_id":     "cus_BINCHAT",
		"plan":            plan,
		"listen_addr":     "127.0.0.1:0",
		"database_url":    dbURL,
		"instance_id":     "bin-chat",
		"version":         "v-bin",
		"instance_token":  instanceToken,
		"rate_per_second": -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd, logs, exited := start(t, bin, string(cfg),
		"ANTHROPIC_API_KEY="+anthropictest.APIKey, "ANTHROPIC_BASE_URL="+model.URL, "GOMEMLIMIT=460MiB", "GOMAXPROCS=1")
	addr := waitServing(t, logs, exited)

	key, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := customerdb.AddAPIKey(t.Context(), db, apikey.Hash(key), apikey.Prefix(key)); err != nil {
		t.Fatal(err)
	}
	return &chatInstance{url: "http://" + addr, key: key, pid: cmd.Process.Pid, model: model, logs: logs}
}

// chat sends one turn and returns the conversation id.
func (c *chatInstance) chat(t testing.TB, message, conversation string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"message": message, "conversation_id": conversation})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.url+"/api/chat", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/chat = %d %s", resp.StatusCode, raw)
	}
	var out struct {
		ConversationID string `json:"conversation_id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out.ConversationID
}

func TestBinaryChatsWithTheProviderFromItsEnvironment(t *testing.T) {
	c := startChatInstance(t, "starter")
	conv := c.chat(t, "hello from the binary", "")
	c.chat(t, "and again", conv)
	if n := len(c.model.Requests()); n != 2 {
		t.Fatalf("model got %d requests", n)
	}

	// The platform reads usage with the instance token.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, c.url+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+instanceToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Usage struct{ Messages int64 }
		Model struct{ Provider string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status = %d %v", resp.StatusCode, err)
	}
	if st.Usage.Messages != 2 || st.Model.Provider != "anthropic" {
		t.Errorf("status = %+v", st)
	}
	for _, secret := range []string{anthropictest.APIKey, instanceToken, c.key, "hello from the binary"} {
		if strings.Contains(c.logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(c.logs.String(), fmt.Sprintf(`"provider":%q`, "anthropic")) {
		t.Errorf("serving line does not name the provider:\n%s", c.logs)
	}
}
