package customerdb

import (
	"errors"
	"testing"
	"time"
)

func TestPendingSendIsClaimedOnceInItsConversation(t *testing.T) {
	pool := migrated(t)
	ctx := t.Context()
	var conv, other string
	for _, id := range []*string{&conv, &other} {
		if err := pool.QueryRow(ctx, `INSERT INTO conversations DEFAULT VALUES RETURNING id`).Scan(id); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, p := range []PendingSend{
		{Code: "ABC123", ConversationID: conv, DraftID: "r-1", Recipients: "bob@example.com", Subject: "Hi", ExpiresAt: now.Add(time.Hour)},
		{Code: "OLD111", ConversationID: conv, DraftID: "r-2", Recipients: "bob@example.com", Subject: "Hi", ExpiresAt: now.Add(-time.Second)},
	} {
		if err := AddPendingSend(ctx, pool, p); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, conv, code string
		want             error
	}{
		{"other conversation", other, "ABC123", ErrNoPendingSend},
		{"expired", conv, "OLD111", ErrNoPendingSend},
		{"unknown", conv, "ZZZ999", ErrNoPendingSend},
		{"first claim", conv, "ABC123", nil},
		{"second claim", conv, "ABC123", ErrNoPendingSend},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ClaimPendingSend(ctx, pool, c.conv, c.code, now)
			if !errors.Is(err, c.want) {
				t.Fatalf("claim: %v, want %v", err, c.want)
			}
			if err == nil && p.DraftID != "r-1" {
				t.Errorf("claimed draft %q, want r-1", p.DraftID)
			}
		})
	}
	if err := UnclaimPendingSend(ctx, pool, "ABC123"); err != nil {
		t.Fatal(err)
	}
	if _, err := ClaimPendingSend(ctx, pool, conv, "ABC123", now); err != nil {
		t.Errorf("claim after a failed send: %v", err)
	}
}

func TestGoogleAccountLifecycle(t *testing.T) {
	pool := migrated(t)
	ctx := t.Context()
	if _, err := GoogleAccountFor(ctx, pool); !errors.Is(err, ErrNoGoogle) {
		t.Fatalf("before connecting: %v, want ErrNoGoogle", err)
	}
	a := GoogleAccount{Email: "ada@example.com", Scopes: []string{"s1"}, AccessToken: []byte("a1"), RefreshToken: []byte("r1"), ExpiresAt: time.Now().Add(time.Hour)}
	if err := PutGoogleAccount(ctx, pool, a); err != nil {
		t.Fatal(err)
	}
	// A refresh of another (older) grant changes nothing.
	if err := UpdateGoogleAccess(ctx, pool, []byte("r0"), []byte("a0"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := UpdateGoogleAccess(ctx, pool, []byte("r1"), []byte("a2"), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := GoogleAccountFor(ctx, pool)
	if err != nil || string(got.AccessToken) != "a2" || got.RefreshedAt == nil {
		t.Fatalf("after refresh: %+v %v", got, err)
	}
	if ok, err := DeleteGoogleAccount(ctx, pool); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, _ := DeleteGoogleAccount(ctx, pool); ok {
		t.Error("second delete reported an account")
	}
}
