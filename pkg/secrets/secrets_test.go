package secrets_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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

func TestRevealGraceWindow(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewPool(t)
	s, wrong := open(t, db, 1), open(t, db, 2)
	for _, ref := range []string{"apikey/a", "apikey/b", "apikey/c"} {
		if err := s.Put(ctx, ref, []byte("claw_"+ref)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := wrong.Reveal(ctx, "apikey/a", time.Hour); err == nil {
		t.Fatal("Reveal with the wrong key succeeded")
	}
	// Eight readers at once, the wrong key's attempt before them: all get
	// the secret within the window, exactly one of them first.
	var wg sync.WaitGroup
	var mu sync.Mutex
	got, first := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, f, err := s.Reveal(ctx, "apikey/a", time.Hour)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			if string(v) == "claw_apikey/a" {
				got++
			}
			if f {
				first++
			}
		}()
	}
	wg.Wait()
	if got != 8 || first != 1 {
		t.Fatalf("8 reveals within the window: %d got the secret, %d were first; want 8 and 1", got, first)
	}
	// The window passes (moved back rather than waited for): gone, and
	// the row with it.
	backdate := func(ref string) {
		t.Helper()
		if _, err := db.Exec(ctx, `UPDATE secrets.secrets SET taken_at = now() - interval '2 hours' WHERE ref = $1`, ref); err != nil {
			t.Fatal(err)
		}
	}
	backdate("apikey/a")
	if _, _, err := s.Reveal(ctx, "apikey/a", time.Hour); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("reveal after the window: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "apikey/a"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("secret after the window: %v, want deleted", err)
	}
	// The sweep deletes a secret whose window passed with nobody asking
	// again, and nothing else: not one in its window, not one never read.
	for _, ref := range []string{"apikey/b", "apikey/c"} {
		if _, _, err := s.Reveal(ctx, ref, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "apikey/d", []byte("claw_d")); err != nil {
		t.Fatal(err)
	}
	backdate("apikey/b")
	n, err := s.SweepRevealed(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("SweepRevealed = %d, %v; want 1", n, err)
	}
	if _, err := s.Get(ctx, "apikey/b"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("swept secret: %v, want deleted", err)
	}
	for _, ref := range []string{"apikey/c", "apikey/d"} {
		if _, err := s.Get(ctx, ref); err != nil {
			t.Fatalf("%s after the sweep: %v", ref, err)
		}
	}
	// No window: the first reader takes it.
	if _, f, err := s.Reveal(ctx, "apikey/d", 0); err != nil || !f {
		t.Fatalf("Reveal without a window = %v, %v", f, err)
	}
	if _, _, err := s.Reveal(ctx, "apikey/d", 0); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("second Reveal without a window: %v, want ErrNotFound", err)
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
