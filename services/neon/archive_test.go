package neon_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/neon"
	"clawdbot.cloud/services/neon/internal/neontest"
	"clawdbot.cloud/services/neon/internal/s3test"
)

// Archive (day 7), restore (a customer back), archive again and delete the
// archive (day 30), each twice, through the bus on the postgres driver and
// on the neon driver (one project; sharded, restoring into a shard the
// driver makes).
func TestArchiveRestoreDeleteArchive(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		archiveRestore(t, map[string]string{"DATABASE_ADMIN_URL": pgtest.AdminURL(t)}, nil)
	})
	neonCase := func(t *testing.T, o neontest.Options, extra map[string]string) {
		o.AdminURL, o.AutoTick = pgtest.AdminURL(t), true
		srv := neontest.New(t, o)
		vars := srv.Settings()
		maps.Copy(vars, extra)
		archiveRestore(t, vars, func(name string) bool { return len(srv.Branches(name)) > 0 })
	}
	t.Run("neon", func(t *testing.T) { neonCase(t, neontest.Options{}, nil) })
	t.Run("neon-s3", func(t *testing.T) {
		s3 := s3test.Start(t)
		neonCase(t, neontest.Options{}, map[string]string{
			"ARCHIVE_STORE": "s3", "NEON_ARCHIVE_S3_ENDPOINT": s3.Endpoint, "NEON_ARCHIVE_S3_BUCKET": "claw-archives",
			"NEON_ARCHIVE_S3_ACCESS_KEY_ID": s3.AccessKeyID, "NEON_ARCHIVE_S3_SECRET_ACCESS_KEY": s3.SecretAccessKey,
			s3DirVar: s3.Dir})
	})
	t.Run("neon-sharded", func(t *testing.T) {
		neonCase(t, neontest.Options{BranchLimit: 2}, map[string]string{
			"NEON_PLACEMENT": "sharded", "NEON_BRANCHES_PER_PROJECT": "2"})
	})
}

// s3DirVar passes the S3 server's directory to archiveRestore (the
// service ignores it).
const s3DirVar = "TEST_S3_DIR"

// archiveRestore runs the lifecycle on the service configured by vars;
// live reports whether the customer's database is still there (nil: look
// on the Postgres server for the database and role of its name).
func archiveRestore(t *testing.T, vars map[string]string, live func(name string) bool) {
	p := servicetest.New(t)
	dir := t.TempDir()
	vars["ARCHIVE_DIR"] = dir
	env := p.Env(t, "neon", vars)
	servicetest.Start(t, env, neon.Run)
	saga := p.Env(t, "saga", nil)
	js := env.Bus.JetStream()
	ctx := t.Context()
	const cust = "cus_Archive1"
	name := names.Database(cust)

	st := &pb.Step{SagaId: "signup-cs_arc1", CustomerId: cust, Name: "database", Attempt: 1}
	send(t, saga.Bus, subjects.CmdDatabaseCreate, &pb.CreateDatabase{Step: st, Plan: "starter"}, st)
	waitMsg(t, js, subjects.DatabaseCreated)
	url := secret(t, env.Secrets.Get, names.DatabaseRef(cust))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := customerdb.AddMemory(ctx, conn, "the door code is 4711", []string{"home"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx) //nolint:errcheck

	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) }) //nolint:errcheck
	exists := func() (db, role bool) {
		t.Helper()
		err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1),
			EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&db, &role)
		if err != nil {
			t.Fatal(err)
		}
		return db, role
	}
	file := filepath.Join(dir, filepath.FromSlash(names.ArchiveRef(cust))+".dump")
	s3 := vars[s3DirVar] != ""
	if s3 { // the encrypted object on the S3 server's disk
		file = filepath.Join(vars[s3DirVar], "claw-archives", filepath.FromSlash(names.ArchiveRef(cust))+".dump.enc")
	}

	// Archive, twice.
	var size int64
	for attempt := int32(1); attempt <= 2; attempt++ {
		st := &pb.Step{SagaId: "cancel-evt_arc1", CustomerId: cust, Name: "archive", Attempt: attempt}
		send(t, saga.Bus, subjects.CmdDatabaseArchive, &pb.ArchiveDatabase{Step: st}, st)
		var got pb.DatabaseArchived
		waitStep(t, js, subjects.DatabaseArchived, attempt, &got)
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatalf("archive file: %v", err)
		}
		if got.GetArchiveRef() != names.ArchiveRef(cust) || (!s3 && got.GetBytes() != fi.Size()) || fi.Size() == 0 {
			t.Errorf("database.archived = %v, file has %d bytes", &got, fi.Size())
		}
		if size != 0 && got.GetBytes() != size {
			t.Errorf("a duplicate archive changed the archive: %d bytes, then %d", size, got.GetBytes())
		}
		size = got.GetBytes()
		if s3 {
			if b, err := os.ReadFile(file); err != nil || bytes.Contains(b, []byte("door code")) {
				t.Errorf("the S3 object is missing or holds plaintext: %v", err)
			}
		} else if _, err := os.Stat(file + ".sha256"); err != nil {
			t.Errorf("archive checksum: %v", err)
		}
		if live != nil {
			if live(name) {
				t.Error("after archive: the customer's branch still exists")
			}
		} else if db, role := exists(); db || role {
			t.Errorf("after archive: database exists %v, role exists %v", db, role)
		}
		if _, err := env.Secrets.Get(ctx, names.DatabaseRef(cust)); err == nil {
			t.Error("the database URL is still stored after archive")
		}
	}

	// Restore, twice: the row written before the archive is back, with new
	// credentials that keep working.
	for attempt := int32(1); attempt <= 2; attempt++ {
		st := &pb.Step{SagaId: "resubscribe-evt_arc1", CustomerId: cust, Name: "restore", Attempt: attempt}
		send(t, saga.Bus, subjects.CmdDatabaseRestore, &pb.RestoreDatabase{Step: st, ArchiveRef: names.ArchiveRef(cust)}, st)
		var got pb.DatabaseRestored
		waitStep(t, js, subjects.DatabaseRestored, attempt, &got)
		if got.GetDatabaseRef() != names.DatabaseRef(cust) {
			t.Errorf("database.restored = %v", &got)
		}
		newURL := secret(t, env.Secrets.Get, names.DatabaseRef(cust))
		if newURL == url {
			t.Error("the restored database kept the old password")
		}
		conn, err := pgx.Connect(ctx, newURL)
		if err != nil {
			t.Fatalf("connect to the restored database: %v", err)
		}
		hits, err := customerdb.SearchMemories(ctx, conn, "door code", 10)
		conn.Close(ctx) //nolint:errcheck
		if err != nil || len(hits) != 1 {
			t.Fatalf("memory after restore: %v, %v", hits, err)
		}
	}

	// Delete the archive, twice.
	for attempt := int32(1); attempt <= 2; attempt++ {
		st := &pb.Step{SagaId: "purge-evt_arc1", CustomerId: cust, Name: "delete_archive", Attempt: attempt}
		send(t, saga.Bus, subjects.CmdDatabaseDropArchive, &pb.DeleteArchive{Step: st, ArchiveRef: names.ArchiveRef(cust)}, st)
		var got pb.ArchiveDeleted
		waitStep(t, js, subjects.ArchiveDeleted, attempt, &got)
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("archive file after delete_archive: %v", err)
		}
	}
}

// stepped is a result event.
type stepped interface {
	proto.Message
	GetStep() *pb.Step
}

// waitStep waits until the last event on subject is the one of attempt and
// decodes it into dst.
func waitStep(t *testing.T, js jetstream.JetStream, subject string, attempt int32, dst stepped) {
	t.Helper()
	servicetest.Eventually(t, 60*time.Second, subject, func() bool {
		s, err := js.Stream(t.Context(), subjects.Stream)
		if err != nil {
			return false
		}
		raw, err := s.GetLastMsgForSubject(t.Context(), subject)
		if err != nil {
			return false
		}
		if err := bus.Decode(raw.Data, dst); err != nil {
			t.Fatal(err)
		}
		return dst.GetStep().GetAttempt() == attempt
	})
}

// secret returns the stored secret ref.
func secret(t *testing.T, get func(context.Context, string) ([]byte, error), ref string) string {
	t.Helper()
	b, err := get(t.Context(), ref)
	if err != nil {
		t.Fatalf("secret %s: %v", ref, err)
	}
	return string(b)
}
