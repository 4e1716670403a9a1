package pgjournal_test

import (
	"context"
	"testing"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/bus/pgjournal"
	"clawdbot.cloud/pkg/pgtest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestJournalRemembersCommands(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewPool(t)
	// A service that kept the table before the journal moved here: its rows
	// stay, and migrating again is harmless.
	if _, err := db.Exec(ctx, `CREATE SCHEMA svc; CREATE TABLE svc.processed_commands (key text PRIMARY KEY, processed_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO svc.processed_commands (key) VALUES ('old')`); err != nil {
		t.Fatal(err)
	}
	j := pgjournal.New(db, "svc")
	for range 2 {
		if err := j.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	key := bus.JournalKey("cmd.database.create", &pb.Step{SagaId: "signup-cs_1", Name: "database", Attempt: 1})
	if done, err := j.Done(ctx, key); err != nil || done {
		t.Fatalf("Done before Record = %v, %v", done, err)
	}
	for range 2 { // recording twice is harmless
		if err := j.Record(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{key, "old"} {
		if done, err := j.Done(ctx, k); err != nil || !done {
			t.Errorf("Done(%q) = %v, %v; want true", k, done, err)
		}
	}
	// Another schema is another service's journal.
	other := pgjournal.New(db, "other")
	if err := other.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if done, err := other.Done(ctx, key); err != nil || done {
		t.Errorf("another service's journal has %q: %v, %v", key, done, err)
	}
}
