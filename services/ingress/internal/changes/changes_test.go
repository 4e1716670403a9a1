package changes_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/natstest"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/pkg/testbuf"
	"clawdbot.cloud/services/ingress/internal/changes"
)

// connect opens a connection to ns as principal.
func connect(t *testing.T, ns *server.Server, principal string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(principal, natstest.Credentials()[principal]),
		nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// running starts f until the test ends.
func running(t *testing.T, f *changes.Feed) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// receiving waits until other receives what from sends: a notice for a
// probe saga and for no other since a fresh mark (Run wakes everyone once
// it has subscribed, which is no proof of a notice).
func receiving(t *testing.T, from, other *changes.Feed) {
	t.Helper()
	servicetest.Eventually(t, 10*time.Second, "notices to arrive", func() bool {
		m := other.Mark()
		from.Notify("signup-probe")
		time.Sleep(10 * time.Millisecond)
		return other.ChangedSince("signup-probe", m) && !other.ChangedSince("signup-nobody", m)
	})
}

// woken reports whether ch received within d.
func woken(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// TestNoticesReachEveryProcess: a notice sent by one ingress process wakes
// the waiters of that saga in another, and only them.
func TestNoticesReachEveryProcess(t *testing.T) {
	ns := natstest.Server(t)
	log := slog.New(slog.DiscardHandler)
	a := changes.New(connect(t, ns, busauth.Ingress), log)
	b := changes.New(connect(t, ns, busauth.Ingress), log)
	running(t, a)
	running(t, b)
	receiving(t, a, b)

	mine, stop := b.Subscribe("signup-1")
	defer stop()
	theirs, stopTheirs := b.Subscribe("signup-2")
	defer stopTheirs()
	if b.Waiting() != 2 {
		t.Fatalf("waiting %d, want 2", b.Waiting())
	}
	m := b.Mark()
	a.Notify("signup-1")
	if !woken(mine, 5*time.Second) {
		t.Fatal("the saga's waiter in the other process was not woken")
	}
	if woken(theirs, 100*time.Millisecond) {
		t.Fatal("another saga's waiter was woken")
	}
	if !b.ChangedSince("signup-1", m) || b.ChangedSince("signup-2", m) {
		t.Fatalf("changed since the mark: signup-1 %v, signup-2 %v; want true, false",
			b.ChangedSince("signup-1", m), b.ChangedSince("signup-2", m))
	}
	// The sender's own waiters hear it too (its projector records the
	// change; its reads wait like everyone's).
	own, stopOwn := a.Subscribe("signup-3")
	defer stopOwn()
	a.Notify("signup-3")
	if !woken(own, 5*time.Second) {
		t.Fatal("the sender's own waiter was not woken")
	}
	stop()
	stopTheirs()
	if b.Waiting() != 0 {
		t.Fatalf("waiting after stop %d", b.Waiting())
	}
}

// TestALostConnectionWakesEveryone: core NATS keeps nothing for a
// subscriber that is away, so when the connection goes and comes back
// every waiter reads again, whichever saga it waits on, and a read marked
// before counts as changed.
func TestALostConnectionWakesEveryone(t *testing.T) {
	ns := natstest.Server(t)
	log := slog.New(slog.DiscardHandler)
	a := changes.New(connect(t, ns, busauth.Ingress), log)
	nc := connect(t, ns, busauth.Ingress)
	b := changes.New(nc, log)
	running(t, a)
	running(t, b)
	receiving(t, a, b)

	waiter, stop := b.Subscribe("signup-1")
	defer stop()
	m := b.Mark()
	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	if !woken(waiter, 5*time.Second) {
		t.Fatal("a waiter was not woken when its process's connection was lost")
	}
	if !b.ChangedSince("signup-never-notified", m) {
		t.Fatal("a read marked before the connection was lost does not count as changed")
	}
	// Back: notices arrive again.
	receiving(t, a, b)
}

// TestARefusedSubscriptionIsReported: a principal the server does not let
// subscribe to the notices (a deployment with stale permissions) gets an
// error in the log, and its waiters are woken so they fall back to their
// periodic re-read, instead of a subscription that silently never
// receives anything.
func TestARefusedSubscriptionIsReported(t *testing.T) {
	ns := natstest.Server(t)
	var logs testbuf.Buffer
	f := changes.New(connect(t, ns, busauth.Web), slog.New(slog.NewTextHandler(&logs, nil)))
	m := f.Mark()
	running(t, f)
	servicetest.Eventually(t, 10*time.Second, "the refusal to be logged", func() bool {
		return strings.Contains(logs.String(), "cannot receive provisioning change notices") &&
			strings.Contains(logs.String(), "ermissions")
	})
	if !f.ChangedSince("signup-1", m) {
		t.Fatal("waiters were not told that notices may be missed")
	}
}
