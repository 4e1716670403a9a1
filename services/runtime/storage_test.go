package runtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
)

// TestStorageFull proves the storage cap through the runtime's API: the
// runtime records its plan's cap at start (shown by /api/usage), a memory
// or a chat message past the cap answers 507 with a message saying what to
// do, the model is not called for a refused turn, and everything stored
// before is still there.
func TestStorageFull(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_STORAGE", plans.Starter, withAnthropic(model),
		withConfig(func(c *runtime.Config) { c.RatePerSecond = -1 }))
	key := in.addKey(t)
	starter, _ := plans.Lookup(plans.Starter)

	var usage httpapi.UsageDays
	in.call(t, http.MethodGet, "/api/usage", key, nil, http.StatusOK, &usage)
	if usage.Storage.LimitBytes != starter.StorageBytes || usage.Storage.UsedBytes != 0 {
		t.Fatalf("storage of a new Starter instance: %+v, want 0 of %d", usage.Storage, starter.StorageBytes)
	}

	// Fill the database to 100 bytes under a cap lowered for the test.
	var kept httpapi.MemoryBody
	in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": strings.Repeat("k", 900)}, http.StatusCreated, &kept)
	if _, err := in.pool.Exec(context.Background(), `UPDATE instance_plan SET storage_bytes = 1000`); err != nil {
		t.Fatal(err)
	}
	in.call(t, http.MethodGet, "/api/usage", key, nil, http.StatusOK, &usage)
	if usage.Storage != (httpapi.StorageBody{UsedBytes: 900, LimitBytes: 1000}) {
		t.Fatalf("storage after a 900-byte memory under a 1000-byte cap: %+v", usage.Storage)
	}

	resp, raw := in.do(t, http.MethodPost, "/api/memory", key, map[string]any{"content": strings.Repeat("x", 200)})
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(raw), "storage full") {
		t.Errorf("a memory past the cap: %d %s, want 507 storage full", resp.StatusCode, raw)
	}
	resp, raw = in.do(t, http.MethodPost, "/api/chat", key, map[string]any{"message": strings.Repeat("y", 200)})
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(raw), "upgrade your plan") {
		t.Errorf("a chat message past the cap: %d %s, want 507 with what to do", resp.StatusCode, raw)
	}
	if n := len(model.Requests()); n != 0 {
		t.Errorf("the model was called %d times for refused turns", n)
	}

	var list struct {
		Memories []httpapi.MemoryBody `json:"memories"`
	}
	_, raw = in.do(t, http.MethodGet, "/api/memory", key, nil)
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Memories) != 1 || list.Memories[0].ID != kept.ID {
		t.Errorf("memories after the refusals: %s, want the one kept", raw)
	}
	mems, err := customerdb.ListMemories(context.Background(), in.pool, 10, 0)
	if err != nil || len(mems) != 1 {
		t.Errorf("memories in the database: %d (%v), want 1", len(mems), err)
	}
}
