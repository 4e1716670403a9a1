package neon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/neon"
	"clawdbot.cloud/services/neon/internal/neontest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestDatabaseLifecycleThroughTheBus(t *testing.T) {
	lifecycle(t, map[string]string{"DATABASE_ADMIN_URL": pgtest.AdminURL(t)})
}

// TestNeonDriverLifecycleThroughTheBus runs the service as configured for
// production (DATABASE_DRIVER=neon and the NEON_* settings, no
// DATABASE_ADMIN_URL) against the Neon test server, on the real clock.
func TestNeonDriverLifecycleThroughTheBus(t *testing.T) {
	srv := neontest.New(t, neontest.Options{AdminURL: pgtest.AdminURL(t), AutoTick: true})
	env := lifecycle(t, srv.Settings())
	calls := len(srv.Calls())
	got := servicetest.Counter(t, env.Metrics, "claw_neon_api_requests_total", map[string]string{"code": "200"}) +
		servicetest.Counter(t, env.Metrics, "claw_neon_api_requests_total", map[string]string{"code": "201"})
	if int(got) != calls {
		t.Errorf("claw_neon_api_requests_total counts %v successful requests, the server answered %d", got, calls)
	}
	t.Logf("Neon API calls for start + create + delete: %d", calls)
}

// lifecycle creates and deletes a customer's database through the bus with
// the service configured by vars.
func lifecycle(t *testing.T, vars map[string]string) *service.Env {
	p := servicetest.New(t)
	env := p.Env(t, "neon", vars)
	servicetest.Start(t, env, neon.Run)
	saga := p.Env(t, "saga", nil)
	js := env.Bus.JetStream()

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	step := &pb.Step{SagaId: "signup-cs_" + hex.EncodeToString(b), CustomerId: "cus_R" + hex.EncodeToString(b), Name: "database", Attempt: 1}
	send(t, saga.Bus, subjects.CmdDatabaseCreate, &pb.CreateDatabase{Step: step, Plan: "starter"}, step)

	raw := waitMsg(t, js, subjects.DatabaseCreated)
	var created pb.DatabaseCreated
	if err := bus.Decode(raw.Data, &created); err != nil {
		t.Fatal(err)
	}
	if created.DatabaseName != names.Database(step.CustomerId) || created.DatabaseRef != names.DatabaseRef(step.CustomerId) ||
		!proto.Equal(created.Step, step) {
		t.Errorf("database.created = %v", &created)
	}
	if got, want := raw.Header.Get("Nats-Msg-Id"), "database.created-"+step.SagaId+"-database-1"; got != want {
		t.Errorf("Nats-Msg-Id %q, want %q", got, want)
	}

	connURL, err := env.Secrets.Get(t.Context(), created.DatabaseRef)
	if err != nil {
		t.Fatalf("stored URL: %v", err)
	}
	u, err := url.Parse(string(connURL))
	if err != nil {
		t.Fatal("stored URL does not parse")
	}
	password, _ := u.User.Password()
	var headers bytes.Buffer
	for k, v := range raw.Header {
		fmt.Fprintln(&headers, k, v)
	}
	for _, leak := range []string{password, string(connURL), "postgres://"} {
		if leak == "" || bytes.Contains(raw.Data, []byte(leak)) || strings.Contains(headers.String(), leak) {
			t.Fatalf("database.created carries a credential (or the password is empty)")
		}
	}
	conn, err := pgx.Connect(t.Context(), string(connURL))
	if err != nil {
		t.Fatalf("connect with the stored URL: %v", err)
	}
	var tables int
	err = conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('workspace_files', 'api_keys')`).Scan(&tables)
	conn.Close(t.Context()) //nolint:errcheck
	if err != nil || tables != 2 {
		t.Fatalf("customer schema: %d of 2 tables (err %v)", tables, err)
	}

	send(t, saga.Bus, subjects.CmdDatabaseDelete, &pb.DeleteDatabase{Step: step}, step)
	raw = waitMsg(t, js, subjects.DatabaseDeleted)
	var deleted pb.DatabaseDeleted
	if err := bus.Decode(raw.Data, &deleted); err != nil {
		t.Fatal(err)
	}
	if deleted.DatabaseName != created.DatabaseName {
		t.Errorf("database.deleted names %q, want %q", deleted.DatabaseName, created.DatabaseName)
	}
	if _, err := env.Secrets.Get(t.Context(), created.DatabaseRef); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("stored URL after delete: %v, want not found", err)
	}
	if conn, err := pgx.Connect(t.Context(), string(connURL)); err == nil {
		conn.Close(t.Context()) //nolint:errcheck
		t.Error("the deleted database's URL still connects")
	}

	checkMetrics(t, env, step.CustomerId)
	return env
}

// checkMetrics checks the operations were counted and that no metric
// carries the customer id.
func checkMetrics(t *testing.T, env *service.Env, customerID string) {
	t.Helper()
	for _, op := range []string{"create", "delete"} {
		labels := map[string]string{"consumer": "neon", "command": "cmd.database." + op, "result": "ok"}
		if got := servicetest.Counter(t, env.Metrics, "claw_step_commands_total", labels); got != 1 {
			t.Errorf("claw_step_commands_total%v = %v, want 1", labels, got)
		}
	}
	mfs, err := env.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), customerID) || strings.Contains(l.GetValue(), names.Database(customerID)) {
					t.Errorf("metric %s label %s carries the customer", mf.GetName(), l.GetName())
				}
			}
		}
	}
}

func TestConfigurationProblemsStopTheService(t *testing.T) {
	const admin = "postgres://postgres:hunter2@127.0.0.1:5432/postgres?sslmode=disable"
	for _, tc := range []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"no admin URL", map[string]string{}, []string{"DATABASE_ADMIN_URL is required"}},
		{"unknown driver", map[string]string{"DATABASE_DRIVER": "mysql", "DATABASE_ADMIN_URL": admin}, []string{"DATABASE_DRIVER"}},
		{"neon without its settings", map[string]string{"DATABASE_DRIVER": "neon"}, []string{
			"NEON_API_KEY is required", "NEON_PROJECT_ID is required", "NEON_PARENT_BRANCH_ID is required",
			"NEON_DATABASE_NAME is required", "NEON_ROLE_NAME is required"}},
		{"neon with malformed settings", map[string]string{"DATABASE_DRIVER": "neon", "NEON_API_KEY": "hunter2",
			"NEON_PROJECT_ID": "Bad_Project", "NEON_PARENT_BRANCH_ID": "br-ok-1", "NEON_DATABASE_NAME": "clawdbot",
			"NEON_ROLE_NAME": "claw_app", "NEON_API_URL": "http://neon.example.com/api/v2"},
			[]string{"NEON_PROJECT_ID=\"Bad_Project\"", "NEON_API_URL must use https"}},
		{"not a postgres URL", map[string]string{"DATABASE_ADMIN_URL": "mysql://root:hunter2@db/x"}, []string{"DATABASE_ADMIN_URL"}},
		{"bad customer host", map[string]string{"DATABASE_ADMIN_URL": admin, "CUSTOMER_DB_HOST": "user@host/db"}, []string{"CUSTOMER_DB_HOST"}},
		{"bad pool and concurrency", map[string]string{"DATABASE_ADMIN_URL": admin, "DATABASE_POOL_SIZE": "-1", "DATABASE_CONCURRENCY": "0"},
			[]string{"DATABASE_POOL_SIZE must be between 0 and 1000", "DATABASE_CONCURRENCY must be between 1 and 256"}},
		{"all at once", map[string]string{"DATABASE_DRIVER": "mysql", "CUSTOMER_DB_HOST": "a/b"}, []string{"DATABASE_DRIVER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &service.Env{Name: "neon", Config: config.FromMap(tc.vars), Log: slog.New(slog.DiscardHandler)}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := neon.Run(ctx, env)
			if err == nil {
				t.Fatal("Run started with a bad configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.vars["DATABASE_DRIVER"] == "neon" && strings.Contains(err.Error(), "DATABASE_ADMIN_URL") {
				t.Errorf("the neon driver asks for DATABASE_ADMIN_URL: %q", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the configuration error quotes a password: %q", err)
			}
		})
	}
}

func send(t *testing.T, b *bus.Bus, subject string, msg proto.Message, step *pb.Step) {
	t.Helper()
	id := fmt.Sprintf("%s-%s-%s-%d", subject, step.SagaId, step.Name, step.Attempt)
	if _, err := b.Publish(t.Context(), subject, msg, bus.Envelope{MsgID: id, SagaID: step.SagaId, CustomerID: step.CustomerId}); err != nil {
		t.Fatal(err)
	}
}

func waitMsg(t *testing.T, js jetstream.JetStream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	return servicetest.WaitLast(t, js, subjects.Stream, subject, 60*time.Second)
}
