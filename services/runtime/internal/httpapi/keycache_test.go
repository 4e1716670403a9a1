package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// countingDB is the customer's real database, counting the queries that
// read api_keys.
type countingDB struct {
	*pgxpool.Pool
	keyQueries atomic.Int64
}

func (d *countingDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if strings.Contains(sql, "api_keys") {
		d.keyQueries.Add(1)
	}
	return d.Pool.QueryRow(ctx, sql, args...)
}

// TestMadeUpKeysCostOneQueryEach floods the API with well-formed made-up
// keys, 20 distinct ones 10 times each: 20 key queries, not 200. A real
// key is looked up on every request, so its revocation applies at once.
// Without the negative cache every request queries.
func TestMadeUpKeysCostOneQueryEach(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	if err := customerdb.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	db := &countingDB{Pool: pool}
	plan, _ := plans.Lookup(plans.Starter)
	srv := httptest.NewServer(New(Options{Version: "test", Plan: plan, DB: db, Log: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	status := func(key string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	madeUp := make([]string, 20)
	for i := range madeUp {
		k, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		madeUp[i] = k
	}
	for range 10 {
		for _, k := range madeUp {
			if got := status(k); got != http.StatusUnauthorized {
				t.Fatalf("made-up key: %d", got)
			}
		}
	}
	if n := db.keyQueries.Load(); n != int64(len(madeUp)) {
		t.Errorf("%d key queries for %d distinct made-up keys", n, len(madeUp))
	}

	good, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := customerdb.AddAPIKey(ctx, pool, apikey.Hash(good), apikey.Prefix(good)); err != nil {
		t.Fatal(err)
	}
	before := db.keyQueries.Load()
	for range 3 {
		if got := status(good); got != http.StatusOK {
			t.Fatalf("real key: %d", got)
		}
	}
	if n := db.keyQueries.Load() - before; n != 3 {
		t.Errorf("%d key queries for 3 requests with a real key; want 3 (never cached)", n)
	}
	if err := customerdb.RevokeAPIKeys(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := status(good); got != http.StatusUnauthorized {
		t.Errorf("revoked key: %d; want 401 on the very next request", got)
	}
}
