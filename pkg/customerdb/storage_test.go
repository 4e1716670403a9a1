package customerdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/plans"
)

// capped returns a migrated database on the starter plan with its storage
// cap lowered to limit bytes.
func capped(t testing.TB, limit int64) *pgxpool.Pool {
	t.Helper()
	db := migrated(t)
	if err := SetPlan(t.Context(), db, plans.Starter); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(t.Context(), `UPDATE instance_plan SET storage_bytes = $1`, limit); err != nil {
		t.Fatal(err)
	}
	return db
}

func storage(t *testing.T, db DB) Storage {
	t.Helper()
	s, err := ReadStorage(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStorageCapRefusesGrowthAndKeepsData proves the cap: memories and
// messages count, a write past the cap is refused with StorageFullCode and
// a message that says why, nothing stored before is lost, and deleting
// makes room again.
func TestStorageCapRefusesGrowthAndKeepsData(t *testing.T) {
	ctx := t.Context()
	db := capped(t, 3500)
	now := time.Now()
	var kept []int64
	for range 3 {
		m, err := AddMemory(ctx, db, strings.Repeat("m", 1000), nil, now)
		if err != nil {
			t.Fatalf("a memory within the cap: %v", err)
		}
		kept = append(kept, m.ID)
	}
	before := storage(t, db)
	if before.UsedBytes < 3000 || before.LimitBytes != 3500 {
		t.Fatalf("after three 1000-byte memories: %+v", before)
	}

	_, err := AddMemory(ctx, db, strings.Repeat("x", 1000), nil, now)
	if !IsStorageFull(err) {
		t.Fatalf("a memory past the cap: got %v, want the storage trigger's refusal (%s)", err, StorageFullCode)
	}
	if !strings.Contains(err.Error(), "storage full") || !strings.Contains(err.Error(), "3500") {
		t.Errorf("the refusal does not say what is full and the cap: %v", err)
	}
	// A conversation's messages count toward the same cap.
	if _, _, err := StartConversation(ctx, db, "t", strings.Repeat("y", 2000)); !IsStorageFull(err) {
		t.Errorf("a message past the cap: got %v, want refused", err)
	}
	if after := storage(t, db); after != before {
		t.Errorf("refused writes changed the accounted storage: %+v, want %+v", after, before)
	}
	mems, err := ListMemories(ctx, db, 10, 0)
	if err != nil || len(mems) != 3 {
		t.Fatalf("after the refusals: %d memories (%v), want the 3 stored before", len(mems), err)
	}

	if err := DeleteMemory(ctx, db, kept[0]); err != nil {
		t.Fatalf("deleting while full: %v", err)
	}
	if _, err := AddMemory(ctx, db, strings.Repeat("z", 900), nil, now); err != nil {
		t.Errorf("a memory after making room: %v", err)
	}
}

// TestStorageAccountsEveryTable proves the running total follows inserts,
// updates and cascading deletes of conversations, messages, tool calls and
// screenshots, and equals a recount from the tables.
func TestStorageAccountsEveryTable(t *testing.T) {
	ctx := t.Context()
	db := capped(t, 1<<20)
	c, m, err := StartConversation(ctx, db, "title", "hello there")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddToolCall(ctx, db, ToolCall{ConversationID: c.ID, UserMessageID: m.ID, Step: 1, Tool: "web_search",
		Input: "{}", Result: "result", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := AddScreenshot(ctx, db, c.ID, make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE conversations SET title = 'a longer title than before'`); err != nil {
		t.Fatal(err)
	}
	want := int64(len("a longer title than before") + len("hello there") + len("{}") + len("result") + 500)
	if got := storage(t, db).UsedBytes; got != want {
		t.Errorf("accounted %d bytes, want %d", got, want)
	}
	if err := DeleteConversation(ctx, db, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := storage(t, db).UsedBytes; got != 0 {
		t.Errorf("after deleting the conversation (cascading to its messages, tool calls, screenshots): %d bytes, want 0", got)
	}
}

// TestSetPlanRecordsTheCap proves a plan change moves the cap with it, and
// that EnsurePlan records the configured plan only where the workspace
// service recorded none, following the configuration across restarts.
func TestSetPlanRecordsTheCap(t *testing.T) {
	ctx := t.Context()
	db := migrated(t)
	team, _ := plans.Lookup(plans.Team)
	starter, _ := plans.Lookup(plans.Starter)
	if err := EnsurePlan(ctx, db, team); err != nil {
		t.Fatal(err)
	}
	if got := storage(t, db).LimitBytes; got != team.StorageBytes {
		t.Errorf("EnsurePlan on an empty record: cap %d, want Team's %d", got, team.StorageBytes)
	}
	// A restart with another configured plan (a resize) while only the
	// runtime has recorded one: the record follows.
	if err := EnsurePlan(ctx, db, starter); err != nil {
		t.Fatal(err)
	}
	if got, _ := StoredPlan(ctx, db); got != plans.Starter || storage(t, db).LimitBytes != starter.StorageBytes {
		t.Errorf("EnsurePlan(starter) over its own Team record: plan %q cap %d, want starter's", got, storage(t, db).LimitBytes)
	}
	if err := SetPlan(ctx, db, plans.Starter); err != nil {
		t.Fatal(err)
	}
	if err := EnsurePlan(ctx, db, team); err != nil {
		t.Fatal(err)
	}
	if got := storage(t, db).LimitBytes; got != starter.StorageBytes {
		t.Errorf("after SetPlan(starter) and EnsurePlan(team): cap %d, want Starter's %d", got, starter.StorageBytes)
	}
	if _, err := db.Exec(ctx, `UPDATE instance_plan SET storage_bytes = NULL`); err != nil {
		t.Fatal(err)
	}
	if err := EnsurePlan(ctx, db, team); err != nil {
		t.Fatal(err)
	}
	if got := storage(t, db).LimitBytes; got != starter.StorageBytes {
		t.Errorf("a recorded plan without a cap: EnsurePlan set %d, want the recorded plan's (Starter) %d", got, starter.StorageBytes)
	}
}

// BenchmarkStorageTrigger measures a memory write (AddMemory: the insert
// and the daily note's append, one transaction) with the storage trigger
// and, on a second database, with the trigger dropped. Each write dates its
// note a day later, so no note grows through the run.
//
//	go test -run '^$' -bench BenchmarkStorageTrigger -benchtime 2000x -count 5 ./customerdb/
func BenchmarkStorageTrigger(b *testing.B) {
	for _, bc := range []struct {
		name    string
		trigger bool
	}{{"with_trigger", true}, {"without_trigger", false}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			db := capped(b, 1<<40)
			if !bc.trigger {
				if _, err := db.Exec(ctx, `DROP TRIGGER storage_account ON memories`); err != nil {
					b.Fatal(err)
				}
			}
			content := strings.Repeat("a memory worth keeping ", 10)
			day := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			b.ResetTimer()
			for i := range b.N {
				if _, err := AddMemory(ctx, db, content, []string{"bench"}, day.AddDate(0, 0, i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
