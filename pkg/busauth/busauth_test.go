package busauth_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/natstest"
	"clawdbot.cloud/proto/subjects"
)

// client is one principal's connection, with the permission violations the
// server reported to it.
type client struct {
	nc       *nats.Conn
	denied   chan string
	username string
}

func connect(t *testing.T, url, user string) *client {
	t.Helper()
	c := &client{denied: make(chan string, 16), username: user}
	nc, err := nats.Connect(url, nats.UserInfo(user, natstest.Credentials()[user]),
		nats.CustomInboxPrefix(busauth.InboxPrefix(user)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				c.denied <- err.Error()
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c
}

// refused waits for the server to report a violation naming subject (or a
// subject it begins).
func (c *client) refused(t *testing.T, subject string) bool {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-c.denied:
			if strings.Contains(e, `"`+subject) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

func TestUnauthenticatedClientsAreRefused(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	for _, tc := range []struct {
		name string
		opts []nats.Option
	}{
		{"no credentials", nil},
		{"wrong password", []nats.Option{nats.UserInfo(busauth.Saga, "not-the-password")}},
		{"unknown user", []nats.Option{nats.UserInfo("runtime", natstest.Credentials()[busauth.Saga])}},
		{"another's password", []nats.Option{nats.UserInfo(busauth.Saga, natstest.Credentials()[busauth.Neon])}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(url, tc.opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("err = %v, want an authorization violation", err)
			}
		})
	}
	// The bus package's own connection refuses likewise, and its error
	// never carries a password given in the URL.
	_, err := bus.Connect(context.Background(), strings.Replace(url, "nats://", "nats://saga:hunter2-secret@", 1), "t", slog.New(slog.DiscardHandler), nil)
	if err == nil || strings.Contains(err.Error(), "hunter2-secret") {
		t.Fatalf("bus.Connect with a wrong password: %v", err)
	}
}

// TestPermissions runs each service principal against the real server: what
// it may publish and subscribe to arrives, what it may not is refused by
// the server (and never arrives).
func TestPermissions(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	watcher := connect(t, url, busauth.Test)
	clients := map[string]*client{}
	for _, n := range busauth.Services() {
		clients[n] = connect(t, url, n)
	}
	type tc struct {
		who     string
		pub     bool // publish (else subscribe)
		subject string
		allowed bool
	}
	var cases []tc
	// Stripe's customer events and the saga's admin requests: the ingress only.
	for _, who := range busauth.Services() {
		for _, subj := range []string{subjects.CustomerSignedUp, subjects.CustomerCanceled, subjects.AdminSagaCustomerDeprovision, subjects.AdminSagaList} {
			cases = append(cases, tc{who, true, subj, who == busauth.Ingress})
		}
	}
	// The compute service's admin requests (OpenClaw rollouts): the
	// operator only, no service, not even the compute service itself.
	for _, who := range busauth.Services() {
		for _, subj := range []string{subjects.AdminComputeOpenClawRollout, subjects.AdminComputeOpenClawStatus} {
			cases = append(cases, tc{who, true, subj, false})
		}
	}
	cases = append(cases,
		// Commands: the saga sends them; health only the restart.
		tc{busauth.Saga, true, subjects.CmdDatabaseCreate, true},
		tc{busauth.Saga, true, subjects.CmdComputeProvision, true},
		tc{busauth.Ingress, true, subjects.CmdDatabaseDelete, false},
		tc{busauth.Neon, true, subjects.CmdComputeDelete, false},
		tc{busauth.Web, true, subjects.CmdWorkspaceBuild, false},
		tc{busauth.Health, true, subjects.CmdComputeRestart, true},
		tc{busauth.Health, true, subjects.CmdComputeDelete, false},
		// Results: each step service its own domain only.
		tc{busauth.Neon, true, subjects.DatabaseCreated, true},
		tc{busauth.Neon, true, subjects.ComputeProvisioned, false},
		tc{busauth.Railway, true, subjects.ComputeProvisioned, true},
		tc{busauth.Railway, true, subjects.DatabaseDeleted, false},
		tc{busauth.Workspace, true, subjects.WorkspaceBuilt, true},
		tc{busauth.Workspace, true, subjects.InstanceReady, false},
		tc{busauth.Health, true, subjects.InstanceReady, true},
		tc{busauth.Ingress, true, subjects.SagaCompleted, false},
		tc{busauth.Saga, true, subjects.SagaCompleted, true},
		tc{busauth.Saga, true, subjects.DatabaseCreated, false},
		// Dead letters: only under one's own consumers.
		tc{busauth.Neon, true, subjects.DeadLetterPrefix + "neon", true},
		tc{busauth.Neon, true, subjects.DeadLetterPrefix + "saga", false},
		// Reading: nobody subscribes to the event subjects directly; the
		// admin requests reach the saga only; inboxes are private.
		tc{busauth.Web, false, "cmd.>", false},
		tc{busauth.Web, false, subjects.CustomerSignedUp, false},
		tc{busauth.Neon, false, subjects.CmdComputeAll, false},
		tc{busauth.Neon, false, subjects.CmdDatabaseAll, false},
		tc{busauth.Ingress, false, "admin.saga.>", false},
		tc{busauth.Saga, false, "admin.saga.>", true},
		tc{busauth.Railway, false, subjects.AdminComputeAll, true},
		tc{busauth.Saga, false, subjects.AdminComputeAll, false},
		tc{busauth.Railway, false, "admin.saga.>", false},
		tc{busauth.Neon, false, busauth.InboxPrefix("neon") + ".x", true},
		tc{busauth.Neon, false, busauth.InboxPrefix("saga") + ".>", false},
		tc{busauth.Web, false, "_INBOX.>", false},
		tc{busauth.Health, false, ">", false},
	)
	for _, c := range cases {
		verb := "subscribe"
		if c.pub {
			verb = "publish"
		}
		want := "refused"
		if c.allowed {
			want = "allowed"
		}
		t.Run(c.who+" "+verb+" "+c.subject+" "+want, func(t *testing.T) {
			cl := clients[c.who]
			if c.pub {
				sub, err := watcher.nc.SubscribeSync(c.subject)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = sub.Unsubscribe() }()
				if err := watcher.nc.Flush(); err != nil {
					t.Fatal(err)
				}
				if err := cl.nc.Publish(c.subject, []byte("probe")); err != nil {
					t.Fatal(err)
				}
				if c.allowed {
					if _, err := sub.NextMsg(5 * time.Second); err != nil {
						t.Fatalf("%s's publish on %s did not arrive: %v", c.who, c.subject, err)
					}
					return
				}
				if !cl.refused(t, c.subject) {
					t.Fatalf("the server did not refuse %s publishing %s", c.who, c.subject)
				}
				if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
					t.Fatalf("%s's refused publish arrived: %s", c.who, m.Subject)
				}
				return
			}
			sub, err := cl.nc.SubscribeSync(c.subject)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Unsubscribe() }()
			if !c.allowed {
				if !cl.refused(t, c.subject) {
					t.Fatalf("the server did not refuse %s subscribing to %s", c.who, c.subject)
				}
				return
			}
			if err := cl.nc.Flush(); err != nil {
				t.Fatal(err)
			}
			probe := strings.ReplaceAll(strings.ReplaceAll(c.subject, ">", "probe"), "*", "probe")
			if err := watcher.nc.Publish(probe, []byte("probe")); err != nil {
				t.Fatal(err)
			}
			if _, err := sub.NextMsg(5 * time.Second); err != nil {
				t.Fatalf("%s did not receive %s: %v", c.who, probe, err)
			}
		})
	}
}

// TestJetStreamPermissions: streams are the saga's and the operator's;
// each service creates and reads only its own consumers, the step services
// only with their own commands as the filter; nobody else reads messages
// out of the stream.
func TestJetStreamPermissions(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	// A refused request is never answered: it times out.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := func(c *client) jetstream.JetStream {
		j, err := jetstream.New(c.nc)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	cl := map[string]*client{}
	for _, n := range append(busauth.Services(), busauth.Operator) {
		cl[n] = connect(t, url, n)
	}
	streams := func(c *client) error {
		b, err := bus.Connect(ctx, url, c.username, slog.New(slog.DiscardHandler), nil,
			bus.WithCredentials(c.username, natstest.Credentials()[c.username]))
		if err != nil {
			return err
		}
		defer b.Close()
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return b.Setup(sctx, bus.StreamOptions{EventsMaxAge: 48 * time.Hour})
	}
	// A service that may not create the streams is refused.
	if err := streams(cl[busauth.Web]); err == nil {
		t.Fatal("web created the streams")
	}
	if err := streams(cl[busauth.Operator]); err != nil {
		t.Fatalf("operator: %v", err)
	}
	if err := streams(cl[busauth.Saga]); err != nil {
		t.Fatalf("saga (updating): %v", err)
	}
	if _, err := js(cl[busauth.Operator]).Publish(ctx, subjects.CmdComputeProvision, []byte("{}")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		who, name  string
		run        func(context.Context, jetstream.JetStream) error
		refusedSub string // "" when allowed
	}{
		{busauth.Neon, "own consumer, own commands", func(ctx context.Context, j jetstream.JetStream) error {
			_, err := j.CreateOrUpdateConsumer(ctx, subjects.Stream, jetstream.ConsumerConfig{Durable: "neon", FilterSubject: subjects.CmdDatabaseAll, AckPolicy: jetstream.AckExplicitPolicy})
			return err
		}, ""},
		{busauth.Neon, "own consumer, compute's commands", func(ctx context.Context, j jetstream.JetStream) error {
			_, err := j.CreateOrUpdateConsumer(ctx, subjects.Stream, jetstream.ConsumerConfig{Durable: "neon", FilterSubject: subjects.CmdComputeAll, AckPolicy: jetstream.AckExplicitPolicy})
			return err
		}, "$JS.API.CONSUMER.CREATE.CLAW.neon.cmd.compute.>"},
		{busauth.Neon, "own consumer, several filters", func(ctx context.Context, j jetstream.JetStream) error {
			_, err := j.CreateOrUpdateConsumer(ctx, subjects.Stream, jetstream.ConsumerConfig{Durable: "neon",
				FilterSubjects: []string{subjects.CmdDatabaseCreate, subjects.CmdComputeProvision}, AckPolicy: jetstream.AckExplicitPolicy})
			return err
		}, "$JS.API.CONSUMER.CREATE.CLAW.neon"},
		{busauth.Neon, "railway's consumer", func(ctx context.Context, j jetstream.JetStream) error {
			_, err := j.CreateOrUpdateConsumer(ctx, subjects.Stream, jetstream.ConsumerConfig{Durable: "railway", FilterSubject: subjects.CmdComputeAll, AckPolicy: jetstream.AckExplicitPolicy})
			return err
		}, "$JS.API.CONSUMER.CREATE.CLAW.railway.cmd.compute.>"},
		{busauth.Web, "an ordered consumer", func(ctx context.Context, j jetstream.JetStream) error {
			c, err := j.OrderedConsumer(ctx, subjects.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"cmd.>"}})
			if err != nil {
				return err
			}
			_, err = c.Next(jetstream.FetchMaxWait(time.Second))
			return err
		}, "$JS.API.CONSUMER.CREATE.CLAW"},
		{busauth.Web, "a message by sequence", func(ctx context.Context, j jetstream.JetStream) error {
			s, err := j.Stream(ctx, subjects.Stream)
			if err != nil {
				return err
			}
			_, err = s.GetMsg(ctx, 1)
			return err
		}, "$JS.API.STREAM.MSG.GET.CLAW"},
		{busauth.Neon, "deleting the stream", func(ctx context.Context, j jetstream.JetStream) error {
			return j.DeleteStream(ctx, subjects.Stream)
		}, "$JS.API.STREAM.DELETE.CLAW"},
		{busauth.Railway, "the stream's update", func(ctx context.Context, j jetstream.JetStream) error {
			_, err := j.UpdateStream(ctx, jetstream.StreamConfig{Name: subjects.Stream, Subjects: []string{">"}})
			return err
		}, "$JS.API.STREAM.UPDATE.CLAW"},
	} {
		t.Run(tc.who+" "+tc.name, func(t *testing.T) {
			c := cl[tc.who]
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			err := tc.run(rctx, js(c))
			if tc.refusedSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed")
			}
			if !c.refused(t, tc.refusedSub) {
				t.Fatalf("no permission violation for %s (err %v)", tc.refusedSub, err)
			}
		})
	}
}
