package bench

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestPostgresPart: process titles as Postgres 15 sets them.
func TestPostgresPart(t *testing.T) {
	for title, want := range map[string]string{
		"postgres: clawsvc_ingress clawdbot 127.0.0.1(43210) idle":                                                "ingress",
		"postgres: clawsvc_customer_admin clawdbot 127.0.0.1(43211) CREATE DATABASE":                              "customer_admin",
		"postgres: claw_0123456789abcdef0123456789abcdef claw_0123456789abcdef0123456789abcdef 127.0.0.1(1) idle": PartCustomers,
		"postgres: postgres clawdbot [local] idle":                                                                "postgres",
		"postgres: checkpointer ":                                  "checkpointer",
		"postgres: checkpointer performing restartpoint":           "checkpointer",
		"postgres: walwriter ":                                     "walwriter",
		"postgres: logical replication launcher ":                  "logical replication launcher",
		"postgres: background writer ":                             "background writer",
		"postgres: autovacuum worker claw_0123":                    "autovacuum worker",
		"postgres: autovacuum launcher ":                           "autovacuum launcher",
		"/usr/lib/postgresql/15/bin/postgres -D /tmp/pg/data -p 5": PartPostmaster,
	} {
		if got := PostgresPart(title); got != want {
			t.Errorf("PostgresPart(%q) = %q, want %q", title, got, want)
		}
	}
}

// TestSubCountsEachProcessOnce: a process that stays counts what it used
// in between, one that exited what it used after the first sample (through
// the postmaster's children), and a pid reused by a new process counts as
// the old one exiting and the new one starting.
func TestSubCountsEachProcessOnce(t *testing.T) {
	ms := time.Millisecond
	earlier := CPUTime{Postgres: 10*ms + 100*ms + 40*ms + 200*ms + 5*ms, postmaster: 1, children: 200 * ms, pg: map[int]pgProcess{
		1:  {part: PartPostmaster, start: 1, used: 10 * ms},
		10: {part: "ingress", start: 50, used: 100 * ms},   // exits; pid 10 is reused by a saga backend
		11: {part: "saga", start: 60, used: 40 * ms},       // stays
		12: {part: PartCustomers, start: 70, used: 5 * ms}, // exits
	}}
	// In between: the postmaster 2 ms, the ingress backend 20 ms before it
	// exited, the customer's 7 ms, the staying saga backend 15 ms, the new
	// one on pid 10 30 ms, a backend started and exited in between 9 ms.
	later := CPUTime{postmaster: 1, children: (200 + 120 + 12 + 9) * ms, pg: map[int]pgProcess{
		1:  {part: PartPostmaster, start: 1, used: 12 * ms},
		10: {part: "saga", start: 90, used: 30 * ms},
		11: {part: "saga", start: 60, used: 55 * ms},
	}}
	later.Postgres = 12*ms + 30*ms + 55*ms + later.children
	d := later.Sub(earlier)
	want := map[string]time.Duration{PartPostmaster: 2 * ms, "saga": 45 * ms, PartExited: (20 + 7 + 9) * ms}
	if !maps.Equal(d.PostgresBy, want) {
		t.Errorf("PostgresBy = %v, want %v", d.PostgresBy, want)
	}
	var sum time.Duration
	for _, v := range d.PostgresBy {
		sum += v
	}
	if sum != d.Postgres {
		t.Errorf("parts add up to %v, the total is %v", sum, d.Postgres)
	}
}

// TestCPUSplitsPostgresByWhoUsedIt: on a real server, the time a role's
// backend spends between two samples is that role's, a backend that
// exits in between is counted as exited, and the parts add up to the
// Postgres total.
func TestCPUSplitsPostgresByWhoUsedIt(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) }) //nolint:errcheck // test teardown
	var backend int
	if err := admin.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	postmaster := parentOf(backend)
	if _, err := os.Stat("/proc/" + strconv.Itoa(postmaster)); postmaster <= 1 || err != nil {
		t.Skipf("the test server is not a local process (postmaster %d): %v", postmaster, err)
	}
	if _, err := admin.Exec(ctx, `CREATE ROLE claw_bench_test_role LOGIN PASSWORD 'bench-test-only'`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(ctx, `DROP ROLE IF EXISTS claw_bench_test_role`) })
	// burn keeps a backend busy until it has used at least 300 ms more.
	burn := func(conn *pgx.Conn) {
		t.Helper()
		var pid int
		if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		st, err := readStat(pid)
		if err != nil {
			t.Fatal(err)
		}
		for used := int64(0); used < 30; {
			if _, err := conn.Exec(ctx, `SELECT count(*) FROM generate_series(1, 500000)`); err != nil {
				t.Fatal(err)
			}
			now, err := readStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			used = now.own - st.own
		}
	}

	before, err := CPU(sleep, postmaster)
	if err != nil {
		t.Fatal(err)
	}
	burn(admin) // the superuser "postgres" (pgtest's admin) or whoever the URL names
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = "claw_bench_test_role", "bench-test-only"
	short, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	burn(short)
	if err := short.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The postmaster counts an exited child's time once it has waited for it.
	var d CPUTime
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		after, err := CPU(sleep, postmaster)
		if err != nil {
			t.Fatal(err)
		}
		d = after.Sub(before)
		if d.PostgresBy[PartExited] >= 250*time.Millisecond || time.Now().After(deadline) {
			break
		}
	}
	var user string
	if err := admin.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	if got := d.PostgresBy[user]; got < 250*time.Millisecond {
		t.Errorf("%s's backend used %v, want at least 250 ms (%v)", user, got, d.PostgresBy)
	}
	if got := d.PostgresBy[PartExited]; got < 250*time.Millisecond {
		t.Errorf("the exited backend used %v, want at least 250 ms (%v)", got, d.PostgresBy)
	}
	if got := d.PostgresBy[PartCustomers]; got != 0 {
		t.Errorf("customers used %v, want nothing: the exited backend counts as exited (%v)", got, d.PostgresBy)
	}
	var sum time.Duration
	for _, used := range d.PostgresBy {
		sum += used
	}
	if sum != d.Postgres {
		t.Errorf("the parts add up to %v, the Postgres total is %v (%v)", sum, d.Postgres, d.PostgresBy)
	}
}
