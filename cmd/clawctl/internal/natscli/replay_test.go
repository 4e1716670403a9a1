package natscli_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/proto/subjects"
)

// snapshot is what a replay must leave alone.
type snapshot struct {
	Sagas, Steps     []string
	Databases, Roles int
	Runtimes         int
	// MsgIDs are the distinct Nats-Msg-Ids stored, the replayed copies
	// excluded: a step service may answer a replayed command again with
	// the very same message (same id: harmless, the saga ignores it), but
	// nothing may publish anything new.
	MsgIDs []string
	// Decisions counts commands, saga events and customer events (notices
	// included) by subject: none of them may be published again at all.
	Decisions map[string]int
}

func take(t *testing.T, e *env, exclude func(h map[string][]string) bool) snapshot {
	t.Helper()
	c := e.conn(t)
	ctx := context.Background()
	s := snapshot{Runtimes: runtimeProcesses(), Decisions: map[string]int{}}
	rows := func(q string) []string {
		var out []string
		r, err := c.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var v string
			if err := r.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	s.Sagas = rows(`SELECT to_jsonb(s)::text FROM saga.sagas s ORDER BY 1`)
	s.Steps = rows(`SELECT to_jsonb(s)::text FROM saga.saga_steps s ORDER BY 1`)
	// The warm pool of customer databases refills on its own time: its
	// entries are not anything a replay made.
	const notPool = `!~ '^claw(pool|fill|drop)_'`
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname `+notPool).Scan(&s.Databases); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname `+notPool).Scan(&s.Roles); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range e.stored(t, subjects.Stream) {
		if exclude(m.Headers()) {
			continue
		}
		ids[m.Headers().Get("Nats-Msg-Id")] = true
		if sub := m.Subject(); strings.HasPrefix(sub, "cmd.") || strings.HasPrefix(sub, "saga.") || strings.HasPrefix(sub, "customer.") {
			s.Decisions[sub]++
		}
	}
	s.MsgIDs = slices.Sorted(maps.Keys(ids))
	return s
}

// Replaying the whole event history with the NATS CLI (every stored message
// re-published by `nats stream get` + `nats pub` with a new Nats-Msg-Id, as
// docs/runbooks/replay.md does) changes nothing: no new resources or
// processes, no saga state change, no new commands, saga or customer events
// (notices included), and no message with an id not seen before.
// The stream's duplicate window is shortened first, so what keeps the
// platform still is the handlers' state, not the stream's de-duplication.
func TestReplayWholeHistoryChangesNothing(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	res, err := signup.Run(ctx, signup.Options{
		IngressURL: e.p.IngressURL, Secret: e.p.WebhookSecret, Timeout: 90 * time.Second,
		Checkout: stripefixture.Checkout{Email: "replay@example.com", Name: "Replay", Plan: "starter"},
	})
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	if res.Status.Status != "ready" {
		t.Fatalf("signup status %+v", res.Status)
	}
	e.quiet(t, subjects.Stream)
	if _, err := e.cli.Run(ctx, nil, "stream", "edit", subjects.Stream, "--dupe-window", "100ms", "--force"); err != nil {
		t.Fatal(err)
	}
	replayed := func(h map[string][]string) bool { return len(h["Claw-Replay-Of"]) > 0 }
	before := take(t, e, replayed)

	info, err := e.js.Stream(ctx, subjects.Stream)
	if err != nil {
		t.Fatal(err)
	}
	last := info.CachedInfo().State.LastSeq
	for seq := uint64(1); seq <= last; seq++ {
		m, err := e.cli.Get(ctx, subjects.Stream, seq)
		if err != nil {
			t.Fatal(err)
		}
		m.Header["Claw-Replay-Of"] = fmt.Sprint(seq)
		if err := e.cli.Publish(ctx, m.Subject, m.Header, fmt.Sprintf("replay-%d", seq), m.Data); err != nil {
			t.Fatal(err)
		}
	}
	e.quiet(t, subjects.Stream)
	after := take(t, e, replayed)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("replay changed the platform (-before +after):\n%s", diff)
	}
	if n := len(e.stored(t, subjects.DeadLetterStream)); n != 0 {
		t.Errorf("%d dead letters after the replay", n)
	}
	if before.Runtimes != 1 {
		t.Errorf("%d runtime processes, want 1", before.Runtimes)
	}
	checkDashboards(t, e)
	t.Logf("replayed %d messages; %d stored in all after the replay", last, len(e.stored(t, subjects.Stream)))
}
