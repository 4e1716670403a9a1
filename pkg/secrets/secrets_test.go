package secrets_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, db *pgxpool.Pool, fill byte) *secrets.Store {
	t.Helper()
	k := make([]byte, secrets.KeySize)
	for i := range k {
		k[i] = fill
	}
	s, err := secrets.Open(context.Background(), db, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutGetDelete(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewPool(t)
	s := open(t, db, 1)
	if err := s.Put(ctx, "db/cus_1", []byte("postgres://a:b@h/d")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "db/cus_1")
	if err != nil || string(got) != "postgres://a:b@h/d" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	var raw []byte
	if err := db.QueryRow(ctx, `SELECT ciphertext FROM secrets.secrets WHERE ref = 'db/cus_1'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if string(raw) == "postgres://a:b@h/d" || len(raw) < 28 {
		t.Fatal("stored in the clear")
	}
	// A ciphertext moved to another reference does not decrypt.
	if _, err := db.Exec(ctx, `INSERT INTO secrets.secrets (ref, ciphertext) VALUES ('db/cus_2', $1)`, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "db/cus_2"); err == nil {
		t.Error("a ciphertext under another reference decrypted")
	}
	if err := s.Delete(ctx, "db/cus_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "db/cus_1"); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("Get after Delete = %v", err)
	}
	if err := s.Delete(ctx, "db/cus_1"); err != nil {
		t.Errorf("second Delete = %v", err)
	}
}

func TestTakeIsOnceAndSurvivesAWrongKey(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewPool(t)
	s, wrong := open(t, db, 1), open(t, db, 2)
	if err := s.Put(ctx, "apikey/s", []byte("claw_x")); err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Take(ctx, "apikey/s"); err == nil {
		t.Fatal("Take with the wrong key succeeded")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := s.Take(ctx, "apikey/s"); err == nil && string(v) == "claw_x" {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got != 1 {
		t.Fatalf("%d concurrent Takes got the secret, want exactly 1 (after a failed wrong-key Take)", got)
	}
}

func TestPutIfAbsentKeepsTheFirst(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.NewPool(t), 1)
	first, err := s.PutIfAbsent(ctx, "apikey/t", []byte("one"))
	if err != nil || string(first) != "one" {
		t.Fatalf("first = %q, %v", first, err)
	}
	second, err := s.PutIfAbsent(ctx, "apikey/t", []byte("two"))
	if err != nil || string(second) != "one" {
		t.Fatalf("second = %q, %v; want the first value", second, err)
	}
}

func TestParseKey(t *testing.T) {
	k, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.ParseKey(k); err != nil {
		t.Errorf("ParseKey(NewKey()) = %v", err)
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ="} {
		if _, err := secrets.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
