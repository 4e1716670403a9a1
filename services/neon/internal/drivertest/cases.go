package drivertest

import (
	"slices"
	"sync"
	"testing"
)

func testCreate(t *testing.T, s Subject) {
	id := customer(t, s)
	db := create(t, s, id)
	conn := connect(t, storedURL(t, s, db))
	checkSchema(t, conn)
	var current string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	want := db.Name
	if s.Database != nil {
		want = s.Database(id)
	}
	if current != want {
		t.Errorf("the stored URL opens database %q, want %q", current, want)
	}
}

func testCreateTwice(t *testing.T, s Subject) {
	id := customer(t, s)
	db := create(t, s, id)
	putFile(t, connect(t, storedURL(t, s, db)), "MEMORY.md", "kept")

	again := create(t, s, id)
	conn := connect(t, storedURL(t, s, again))
	checkSchema(t, conn)
	if got := files(t, conn); !slices.Contains(got, "MEMORY.md") {
		t.Errorf("after a second create the database holds %q, want the first create's MEMORY.md: not the same database", got)
	}
}

func testCrossConnect(t *testing.T, s Subject) {
	a, b := customer(t, s), customer(t, s)
	dbA, dbB := create(t, s, a), create(t, s, b)
	urlA, urlB := storedURL(t, s, dbA), storedURL(t, s, dbB)
	for _, tc := range []struct{ who, credsURL, targetURL, database string }{
		{"A", urlA, urlB, dbB.Name},
		{"B", urlB, urlA, dbA.Name},
	} {
		conn, err := tryConnect(t, aim(t, s, tc.credsURL, tc.targetURL))
		if err == nil {
			conn.Close(t.Context()) //nolint:errcheck
			t.Fatalf("%s's credentials opened database %s", tc.who, tc.database)
		}
		if !refused(err) {
			t.Errorf("%s's credentials on database %s: got %v, want permission denied for database", tc.who, tc.database, err)
		}
	}
}

func testIsolation(t *testing.T, s Subject) {
	a, b := customer(t, s), customer(t, s)
	dbA, dbB := create(t, s, a), create(t, s, b)
	connA, connB := connect(t, storedURL(t, s, dbA)), connect(t, storedURL(t, s, dbB))
	putFile(t, connA, "a-secret.md", "A")
	putFile(t, connB, "b-secret.md", "B")
	if got := files(t, connA); slices.Contains(got, "b-secret.md") {
		t.Errorf("A's database shows B's file: %q", got)
	}
	if got := files(t, connB); slices.Contains(got, "a-secret.md") {
		t.Errorf("B's database shows A's file: %q", got)
	}
}

func testDelete(t *testing.T, s Subject) {
	id := customer(t, s)
	db := create(t, s, id)
	connURL := storedURL(t, s, db)
	if err := s.Driver.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Secrets.Get(t.Context(), db.Ref); !notFound(err) {
		t.Errorf("after Delete the stored URL: got %v, want not found", err)
	}
	if conn, err := tryConnect(t, connURL); err == nil {
		conn.Close(t.Context()) //nolint:errcheck
		t.Errorf("the deleted database's URL still connects")
	}
	if s.Exists != nil {
		database, role, err := s.Exists(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if database || role {
			t.Errorf("after Delete: database exists=%v, role exists=%v; want both gone", database, role)
		}
	}
}

func testDeleteTwice(t *testing.T, s Subject) {
	id := customer(t, s)
	create(t, s, id)
	for i := range 2 {
		if err := s.Driver.Delete(t.Context(), id); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := s.Driver.Delete(t.Context(), customer(t, s)); err != nil {
		t.Fatalf("Delete of a customer that never had a database: %v", err)
	}
}

func testConcurrentCreate(t *testing.T, s Subject) {
	id := customer(t, s)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = s.Driver.Create(t.Context(), id) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Create #%d: %v", i+1, err)
		}
	}
	db := create(t, s, id)
	checkSchema(t, connect(t, storedURL(t, s, db)))
	if s.Exists != nil {
		database, role, err := s.Exists(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !database || !role {
			t.Errorf("after concurrent creates: database exists=%v, role exists=%v", database, role)
		}
	}
}

func testRecreate(t *testing.T, s Subject) {
	id := customer(t, s)
	db := create(t, s, id)
	putFile(t, connect(t, storedURL(t, s, db)), "old.md", "gone")
	if err := s.Driver.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	db = create(t, s, id)
	conn := connect(t, storedURL(t, s, db))
	checkSchema(t, conn)
	if got := files(t, conn); slices.Contains(got, "old.md") {
		t.Errorf("a database created after Delete still holds the old data: %q", got)
	}
}
