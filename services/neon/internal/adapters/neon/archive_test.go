package neon_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgcluster"
	"clawdbot.cloud/services/neon/internal/adapters/archive"
	"clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/neontest"
	"clawdbot.cloud/services/neon/internal/s3test"
)

// withArchives gives the driver archive storage (a local directory unless
// store is set) and the server's pg_dump and pg_restore.
func withArchives(t testing.TB, store neon.Archives) func(*neon.Config) {
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	if store == nil {
		dir, err := archive.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		store = dir
	}
	return func(c *neon.Config) { c.Archives, c.BinDir = store, bin }
}

// TestArchiveRestoreOwnProject archives a customer that has a project of
// its own (the project goes), and restores it into a new project with its
// data.
func TestArchiveRestoreOwnProject(t *testing.T) {
	t.Parallel()
	arch := withArchives(t, nil)
	f := newFixtureOn(t, neontest.Options{}, func(c *neon.Config) {
		c.Placement, c.ProjectID, c.ParentBranchID = neon.PlaceProject, "", ""
		arch(c)
	})
	archiveRestoreCycle(t, f, f.newCustomer(t))
	if n := len(f.srv.Projects()); n != 2 {
		t.Errorf("%d projects after restore, want 2 (the first and the customer's)", n)
	}
}

// archiveRestoreCycle writes a memory, archives, checks the database is
// gone, restores and finds the memory through new credentials.
func archiveRestoreCycle(t testing.TB, f *fixture, id string) {
	t.Helper()
	ctx := t.Context()
	if _, err := f.driver.Create(ctx, id); err != nil {
		t.Fatal(err)
	}
	url := f.storedURL(t, id)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := customerdb.AddMemory(ctx, conn, "the door code is 4711", []string{"home"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx) //nolint:errcheck
	a, err := f.driver.Archive(ctx, id)
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	if a.Ref != names.ArchiveRef(id) || a.Bytes == 0 {
		t.Fatalf("archive = %+v", a)
	}
	if _, err := f.secrets.Get(ctx, names.DatabaseRef(id)); err == nil {
		t.Fatal("the URL is still stored after archive")
	}
	if _, err := pgx.Connect(ctx, url); err == nil {
		t.Fatal("the archived database still connects")
	}
	if _, err := f.driver.Restore(ctx, id, a.Ref); err != nil {
		t.Fatalf("restore: %v", err)
	}
	conn, err = pgx.Connect(ctx, f.storedURL(t, id))
	if err != nil {
		t.Fatalf("connect to the restored database: %v", err)
	}
	defer conn.Close(ctx) //nolint:errcheck
	hits, err := customerdb.SearchMemories(ctx, conn, "door code", 10)
	if err != nil || len(hits) != 1 {
		t.Fatalf("memory after restore: %v, %v", hits, err)
	}
}

// BenchmarkArchiveRestore measures one archive and one restore of a small
// customer database (the migrated schema and one memory) with the neon
// driver on the test server, archives in a local directory.
func BenchmarkArchiveRestore(b *testing.B) {
	benchArchiveRestore(b, nil)
}

func benchArchiveRestore(b *testing.B, store neon.Archives) {
	f := newFixtureOn(b, neontest.Options{}, withArchives(b, store))
	id := f.newCustomer(b)
	archiveRestoreCycle(b, f, id)
	ctx := b.Context()
	var archive, restore time.Duration
	var bytes int64
	for b.Loop() {
		start := time.Now()
		a, err := f.driver.Archive(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := f.driver.Restore(ctx, id, a.Ref); err != nil {
			b.Fatal(err)
		}
		archive += mid.Sub(start)
		restore += time.Since(mid)
		bytes = a.Bytes
	}
	b.ReportMetric(float64(archive.Milliseconds())/float64(b.N), "archive-ms/op")
	b.ReportMetric(float64(restore.Milliseconds())/float64(b.N), "restore-ms/op")
	b.ReportMetric(float64(bytes), "archive-bytes")
}

// BenchmarkArchiveRestoreS3 is BenchmarkArchiveRestore with archives
// encrypted in a real S3-compatible server (versitygw) on this machine.
func BenchmarkArchiveRestoreS3(b *testing.B) {
	srv := s3test.Start(b)
	store, err := archive.NewS3(b.Context(), archive.S3Config{
		Endpoint: srv.Endpoint, Bucket: "claw-bench",
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
	}, newStore(b))
	if err != nil {
		b.Fatal(err)
	}
	benchArchiveRestore(b, store)
}

// TestArchiveRestoreS3 runs the cycle with archives in S3, sharded.
func TestArchiveRestoreS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	store, err := archive.NewS3(t.Context(), archive.S3Config{
		Endpoint: srv.Endpoint, Bucket: "claw-test",
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
	}, newStore(t))
	if err != nil {
		t.Fatal(err)
	}
	arch := withArchives(t, store)
	f := newFixtureOn(t, neontest.Options{BranchLimit: 3}, func(c *neon.Config) {
		sharded(t)(c)
		c.BranchesPerProject = 3
		arch(c)
	})
	archiveRestoreCycle(t, f, f.newCustomer(t))
}
