package customerdb

import (
	"errors"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/pgtest"
)

func TestToolCallsAndScreenshots(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	c, m, err := StartAgentConversation(ctx, pool, "chef", "t", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := GetConversation(ctx, pool, c.ID); err != nil || got.Agent != "chef" {
		t.Fatalf("conversation = %+v, %v", got, err)
	}
	long := strings.Repeat("é", MaxToolResultChars+10)
	for i, outcome := range []string{OutcomeOK, OutcomeError} {
		_, err := AddToolCall(ctx, pool, ToolCall{ConversationID: c.ID, UserMessageID: m.ID, Step: i + 1, Tool: "web_fetch",
			Input: `{"url":"https://example.com"}`, Result: long, Outcome: outcome, Duration: 1500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := AddToolCall(ctx, pool, ToolCall{ConversationID: c.ID, UserMessageID: m.ID, Step: 1, Tool: "x", Outcome: "maybe"}); err == nil {
		t.Error("an unknown outcome was stored")
	}
	calls, err := ToolCalls(ctx, pool, c.ID, 10)
	if err != nil || len(calls) != 2 {
		t.Fatalf("calls = %+v, %v", calls, err)
	}
	if calls[0].Step != 1 || calls[1].Outcome != OutcomeError || calls[0].Duration != 1500*time.Millisecond {
		t.Errorf("calls = %+v", calls)
	}
	if n := len([]rune(calls[0].Result)); n > MaxToolResultChars+40 || !strings.Contains(calls[0].Result, "[cut:") {
		t.Errorf("result of %d characters not bounded", n)
	}
	id, err := AddScreenshot(ctx, pool, c.ID, []byte("\x89PNG..."))
	if err != nil {
		t.Fatal(err)
	}
	if png, err := Screenshot(ctx, pool, id); err != nil || string(png) != "\x89PNG..." {
		t.Errorf("screenshot = %q, %v", png, err)
	}
	if _, err := Screenshot(ctx, pool, id+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing screenshot = %v", err)
	}
	// Deleting the conversation takes its calls and screenshots.
	if err := DeleteConversation(ctx, pool, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := Screenshot(ctx, pool, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("screenshot after delete = %v", err)
	}
}

func TestStoredPlan(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	if p, err := StoredPlan(ctx, pool); err != nil || p != "" {
		t.Fatalf("no plan yet = %q, %v", p, err)
	}
	for _, p := range []string{"pro", "team"} {
		if err := SetPlan(ctx, pool, p); err != nil {
			t.Fatal(err)
		}
		if got, err := StoredPlan(ctx, pool); err != nil || got != p {
			t.Errorf("stored plan = %q, %v; want %s", got, err, p)
		}
	}
	if err := PutFiles(ctx, pool, File{Path: "agents/a/SOUL.md", Content: "s"}, File{Path: "agentsX", Content: "x"}); err != nil {
		t.Fatal(err)
	}
	fs, err := FilesUnder(ctx, pool, "agents/")
	if err != nil || len(fs) != 1 || fs[0].Path != "agents/a/SOUL.md" {
		t.Errorf("files under agents/ = %+v, %v", fs, err)
	}
	if n, err := DeleteFiles(ctx, pool, "agents/a/SOUL.md", "nope"); err != nil || n != 1 {
		t.Errorf("deleted %d, %v", n, err)
	}
}

// TestSetPlanBeforeMigration: a database an older runtime has not yet
// migrated to the table is left alone, so the workspace step still succeeds.
func TestSetPlanBeforeMigration(t *testing.T) {
	if err := SetPlan(t.Context(), pgtest.NewPool(t), "pro"); err != nil {
		t.Errorf("SetPlan on an unmigrated database = %v, want nil", err)
	}
}
