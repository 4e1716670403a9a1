package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/workspace/internal/adapters/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A delete that lands while a build is writing leaves nothing behind: the
// build sees the deletion mark when it records itself, and undoes its work.
func TestBuildCleansUpAfterConcurrentDelete(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	check, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { check.Close(ctx) })
	if err := customerdb.Migrate(ctx, check); err != nil {
		t.Fatal(err)
	}

	const cust, saga = "cus_Race", "signup-race"
	sec := &fakeSecrets{m: map[string][]byte{names.DatabaseRef(cust): []byte(url)}}
	pub := &fakePublisher{}
	a, err := New(Options{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Bus:     pub,
		Secrets: sec,
		Ledger:  deletedMeanwhile{},
		Connect: PgxConnector(func(ctx context.Context, url string) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }),
		Now:     func() time.Time { return time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Router().Dispatch(ctx, subjects.CmdWorkspaceBuild, &pb.BuildWorkspace{
		Step: &pb.Step{SagaId: saga, CustomerId: cust, Name: "workspace", Attempt: 1},
		Plan: plans.Starter, Name: "Race Condition",
	})
	if !bus.IsPermanent(err) {
		t.Fatalf("Build = %v, want a permanent error", err)
	}
	if got := pub.subjects(); len(got) != 1 || got[0] != subjects.WorkspaceFailed {
		t.Errorf("published %v, want only %s", got, subjects.WorkspaceFailed)
	}
	files, err := customerdb.ReadWorkspace(ctx, check)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("%d files left behind", len(files))
	}
	var active int
	if err := check.QueryRow(ctx, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").Scan(&active); err != nil {
		t.Fatal(err)
	}
	if active != 0 {
		t.Errorf("%d active keys left behind", active)
	}
	if _, ok := sec.m[names.APIKeyRevealRef(saga)]; ok {
		t.Error("reveal secret left behind")
	}
}

// deletedMeanwhile is a ledger in which the saga is deleted between the
// build's first look and its record.
type deletedMeanwhile struct{}

func (deletedMeanwhile) Get(context.Context, string) (ledger.Record, bool, error) {
	return ledger.Record{}, false, nil
}
func (deletedMeanwhile) MarkBuilt(context.Context, ledger.Record) (bool, error) { return false, nil }
func (deletedMeanwhile) MarkDeleted(context.Context, string, string) error      { return nil }

type fakeSecrets struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *fakeSecrets) Get(_ context.Context, ref string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[ref]
	if !ok {
		return nil, secrets.ErrNotFound
	}
	return v, nil
}

func (s *fakeSecrets) Put(_ context.Context, ref string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[ref] = v
	return nil
}

func (s *fakeSecrets) Delete(_ context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, ref)
	return nil
}

type fakePublisher struct {
	mu   sync.Mutex
	sent []string
}

func (p *fakePublisher) Publish(_ context.Context, subject string, _ proto.Message, env bus.Envelope) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if env.MsgID == "" {
		return false, errors.New("empty message id")
	}
	p.sent = append(p.sent, subject)
	return false, nil
}

func (p *fakePublisher) subjects() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sent...)
}
