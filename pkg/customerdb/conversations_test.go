package customerdb

import (
	"errors"
	"testing"
	"time"
)

func TestConversations(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)

	a, err := CreateConversation(ctx, pool, "first")
	if err != nil {
		t.Fatal(err)
	}
	b, err := CreateConversation(ctx, pool, "second")
	if err != nil {
		t.Fatal(err)
	}
	if !validID(a.ID) || a.ID == b.ID {
		t.Fatalf("ids %q, %q", a.ID, b.ID)
	}
	// A message in a makes it the most recently active.
	u, err := AddMessage(ctx, pool, Message{ConversationID: a.ID, Role: RoleUser, Content: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	r, err := RecordReply(ctx, pool, Message{ConversationID: a.ID, Content: "hi!", Model: "m", InputTokens: 7, OutputTokens: 3}, at)
	if err != nil {
		t.Fatal(err)
	}
	if r.Role != RoleAssistant || r.ID <= u.ID {
		t.Errorf("reply = %+v", r)
	}
	usage, err := Usage(ctx, pool, at, at.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if usage != (UsageTotals{Messages: 1, InputTokens: 7, OutputTokens: 3}) {
		t.Errorf("usage after one reply = %+v", usage)
	}

	page1, err := ListConversations(ctx, pool, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page1) != 1 || page1[0].ID != a.ID {
		t.Fatalf("first page = %+v, want conversation a", page1)
	}
	page2, err := ListConversations(ctx, pool, 10, &ConversationCursor{UpdatedAt: page1[0].UpdatedAt, ID: page1[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page2) != 1 || page2[0].ID != b.ID {
		t.Fatalf("second page = %+v, want conversation b", page2)
	}

	msgs, err := Messages(ctx, pool, a.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Content != "hello" || msgs[1].Content != "hi!" || msgs[1].InputTokens != 7 {
		t.Errorf("messages = %+v", msgs)
	}
	last, err := Messages(ctx, pool, a.ID, 1)
	if err != nil || len(last) != 1 || last[0].Content != "hi!" {
		t.Errorf("last message = %+v, %v", last, err)
	}

	if err := DeleteConversation(ctx, pool, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		if _, err := GetConversation(ctx, pool, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetConversation(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := AddMessage(ctx, pool, Message{ConversationID: id, Role: RoleUser, Content: "x"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("AddMessage(%q) = %v, want ErrNotFound", id, err)
		}
		if err := DeleteConversation(ctx, pool, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteConversation(%q) = %v, want ErrNotFound", id, err)
		}
	}
	// A reply to a deleted conversation is not counted.
	if _, err := RecordReply(ctx, pool, Message{ConversationID: a.ID, Content: "late", InputTokens: 1}, at); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordReply to a deleted conversation = %v", err)
	}
	if usage, _ := Usage(ctx, pool, at, at.AddDate(0, 0, 1)); usage.Messages != 1 {
		t.Errorf("usage counted a reply that was not stored: %+v", usage)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM messages").Scan(&n); err != nil || n != 0 {
		t.Errorf("messages left after deleting the conversation: %d %v", n, err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"0b6c3b8e-8a51-4b8e-9f0e-2f1d3c4b5a69": true,
		"0B6C3B8E-8A51-4B8E-9F0E-2F1D3C4B5A69": true,
		"0b6c3b8e8a514b8e9f0e2f1d3c4b5a69":     false,
		"0b6c3b8e-8a51-4b8e-9f0e-2f1d3c4b5a6g": false,
		"0b6c3b8e-8a51-4b8e-9f0e-2f1d3c4b5a6":  false,
		"":                                     false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %t", id, got)
		}
	}
}

func TestStartConversation(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	c, m, err := StartConversation(ctx, pool, "title", "first words")
	if err != nil {
		t.Fatal(err)
	}
	if !validID(c.ID) || c.Title != "title" || m.ConversationID != c.ID || m.Role != RoleUser || m.ID == 0 {
		t.Fatalf("StartConversation = %+v, %+v", c, m)
	}
	ms, err := Messages(ctx, pool, c.ID, 5)
	if err != nil || len(ms) != 1 || ms[0].Content != "first words" {
		t.Errorf("messages = %+v, %v", ms, err)
	}
}
