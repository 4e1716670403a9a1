package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/cluster"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/proto/subjects"
)

// checker checks the invariants once the load is over.
type checker struct {
	c       *cluster.Cluster
	o       Options
	r       *Report
	load    *load
	runtime string // the runtime binary, to find the runtimes in /proc
}

// signedUp are the customers whose checkout was acknowledged.
func (k *checker) signedUp() []*customer {
	var out []*customer
	for _, cu := range k.load.customers {
		if len(cu.acked) > 0 {
			out = append(out, cu)
		}
	}
	return out
}

// settle waits, up to o.Settle, until no saga runs, no customer event
// waits and every customer is in the state its script leads to.
func (k *checker) settle(ctx context.Context) {
	deadline := time.Now().Add(k.o.Settle)
	for time.Now().Before(deadline) {
		if k.settled(ctx) {
			return
		}
		if sleep(ctx, 500*time.Millisecond) != nil {
			return
		}
	}
}

func (k *checker) settled(ctx context.Context) bool {
	conn, err := k.connect(ctx)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	var busy int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM saga.sagas WHERE status IN ('running', 'compensating'))
		+ (SELECT count(*) FROM saga.customer_events WHERE status = 'pending')`).Scan(&busy); err != nil || busy > 0 {
		return false
	}
	for _, cu := range k.signedUp() {
		var state string
		if err := conn.QueryRow(ctx, `SELECT state FROM saga.customers WHERE customer_id = $1`, cu.checkout.CustomerID).Scan(&state); err != nil || state != cu.wantState {
			return false
		}
	}
	return true
}

func (k *checker) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return pgx.Connect(cctx, k.c.DatabaseURL)
}

// run runs every check into the report.
func (k *checker) run(ctx context.Context) {
	var lats []time.Duration
	var failed []string
	for _, cu := range k.load.customers {
		if cu.err != nil {
			failed = append(failed, fmt.Sprintf("customer %d (%s): %v", cu.n, cu.script, cu.err))
		} else {
			lats = append(lats, cu.readyAfter)
		}
	}
	slices.Sort(lats)
	k.r.SignupP50, k.r.SignupP99 = bench.Percentile(lats, 50), bench.Percentile(lats, 99)
	k.r.add(Check{Name: "every customer's script finished", OK: len(failed) == 0, Problems: failed,
		Detail: fmt.Sprintf("%d of %d signed up, revealed their key and sent their lifecycle events", len(k.load.customers)-len(failed), len(k.load.customers))})
	conn, err := k.connect(ctx)
	if err != nil {
		k.r.add(Check{Name: "control-plane database", Detail: err.Error()})
		return
	}
	defer conn.Close(context.Background())
	k.superseded(ctx, conn)
	k.sagas(ctx, conn)
	k.states(ctx, conn)
	k.keys(ctx)
	k.processes()
	k.databases(ctx, conn)
	k.events(ctx, conn)
}

// superseded finds the lifecycle events the coordinator ignored as stale:
// an upgrade whose delivery was delayed (its saga replica killed while
// handling it, so redelivered after the ack wait) behind the cancellation
// Stripe created after it. The newest event wins, as it must with Stripe,
// which does not promise order: the customer is canceled on the plan it
// had. Such an upgrade is expected to leave no saga and no plan change; it
// is reported, and it is a loss only if no later event was applied.
func (k *checker) superseded(ctx context.Context, conn *pgx.Conn) {
	var found []string
	for _, cu := range k.signedUp() {
		for i, ev := range cu.acked {
			if ev.Type != "customer.subscription.updated" || i == len(cu.acked)-1 {
				continue // only an upgrade with a later event can be superseded
			}
			var st, reason string
			if err := conn.QueryRow(ctx, `SELECT status, reason FROM saga.customer_events WHERE event_id = $1`, ev.ID).Scan(&st, &reason); err != nil {
				continue
			}
			later := cu.acked[len(cu.acked)-1]
			var laterStatus string
			_ = conn.QueryRow(ctx, `SELECT status FROM saga.customer_events WHERE event_id = $1`, later.ID).Scan(&laterStatus)
			if st != "ignored" || !strings.HasPrefix(reason, "stale") || laterStatus != "applied" {
				continue
			}
			cu.superseded = append(cu.superseded, ev.ID)
			cu.wantSagas["plan_change"]--
			if cu.wantSagas["plan_change"] == 0 {
				delete(cu.wantSagas, "plan_change")
			}
			cu.wantPlan = "starter"
			found = append(found, fmt.Sprintf("customer %d: upgrade %s reached the coordinator after its newer %s (%s)", cu.n, ev.ID, later.Type, reason))
		}
	}
	k.r.add(Check{Name: "events superseded by newer ones (by design: the newest wins)", OK: true, Problems: found,
		Detail: fmt.Sprintf("%d lifecycle events arrived after a newer event of their customer and were ignored as stale", len(found))})
}

// sagas: per customer, exactly the sagas its events call for, each
// completed, none twice; none for a customer the run did not make.
func (k *checker) sagas(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT customer_id, kind, status, count(*) FROM saga.sagas GROUP BY 1, 2, 3`)
	if err != nil {
		k.r.add(Check{Name: "every saga completed exactly once", Detail: err.Error()})
		return
	}
	got := map[string]map[string]int{} // customer → kind → completed
	var problems []string
	total := 0
	for rows.Next() {
		var cust, kind, status string
		var n int
		if err := rows.Scan(&cust, &kind, &status, &n); err != nil {
			k.r.add(Check{Name: "every saga completed exactly once", Detail: err.Error()})
			return
		}
		total += n
		if status != "completed" {
			problems = append(problems, fmt.Sprintf("%d %s saga(s) of %s ended %s", n, kind, cust, status))
			continue
		}
		if got[cust] == nil {
			got[cust] = map[string]int{}
		}
		got[cust][kind] += n
	}
	rows.Close()
	for _, cu := range k.signedUp() {
		id := cu.checkout.CustomerID
		for kind, want := range cu.wantSagas {
			if got[id][kind] != want {
				problems = append(problems, fmt.Sprintf("customer %d (%s): %d completed %s saga(s), want %d", cu.n, cu.script, got[id][kind], kind, want))
			}
		}
		for kind, n := range got[id] {
			if cu.wantSagas[kind] == 0 {
				problems = append(problems, fmt.Sprintf("customer %d (%s): %d unexpected %s saga(s)", cu.n, cu.script, n, kind))
			}
		}
		delete(got, id)
	}
	for id := range got {
		problems = append(problems, "sagas of a customer the run never signed up: "+id)
	}
	k.r.add(Check{Name: "every saga completed exactly once", OK: len(problems) == 0, Problems: problems,
		Detail: fmt.Sprintf("%d sagas for %d customers", total, len(k.signedUp()))})
}

// states: each customer where its script leads (state and plan).
func (k *checker) states(ctx context.Context, conn *pgx.Conn) {
	var problems []string
	counts := map[string]int{}
	for _, cu := range k.signedUp() {
		var state, plan string
		if err := conn.QueryRow(ctx, `SELECT state, plan FROM saga.customers WHERE customer_id = $1`, cu.checkout.CustomerID).Scan(&state, &plan); err != nil {
			problems = append(problems, fmt.Sprintf("customer %d: %v", cu.n, err))
			continue
		}
		counts[state]++
		if state != cu.wantState || plan != cu.wantPlan {
			problems = append(problems, fmt.Sprintf("customer %d (%s): %s on %s, want %s on %s", cu.n, cu.script, state, plan, cu.wantState, cu.wantPlan))
		}
	}
	k.r.add(Check{Name: "every customer in the state its events lead to", OK: len(problems) == 0, Problems: problems, Detail: fmt.Sprint(counts)})
}

// keys: an active customer's key opens its instance on its plan; a
// suspended or canceled one's is refused with the reason.
func (k *checker) keys(ctx context.Context) {
	var problems []string
	works := 0
	client := &http.Client{Timeout: 10 * time.Second}
	for _, cu := range k.signedUp() {
		if cu.key == "" {
			problems = append(problems, fmt.Sprintf("customer %d: no key was revealed", cu.n))
			continue
		}
		want := map[string]int{"active": 200, "suspended": http.StatusPaymentRequired, "canceled": http.StatusForbidden}[cu.wantState]
		var code int
		var plan string
		// A runtime restarted by a fault may take a moment to answer.
		for range 20 {
			code, plan = status(ctx, client, cu.url, cu.key)
			if code == want && (want != 200 || plan == cu.wantPlan) {
				break
			}
			_ = sleep(ctx, 500*time.Millisecond)
		}
		switch {
		case code != want:
			problems = append(problems, fmt.Sprintf("customer %d (%s): /status with its key = %d, want %d", cu.n, cu.script, code, want))
		case want == 200 && plan != cu.wantPlan:
			problems = append(problems, fmt.Sprintf("customer %d (%s): instance runs plan %q, want %s", cu.n, cu.script, plan, cu.wantPlan))
		default:
			works++
		}
	}
	k.r.add(Check{Name: "every key works", OK: len(problems) == 0, Problems: problems,
		Detail: fmt.Sprintf("%d of %d keys answer as their customer's state says (200 with the plan, 402 suspended, 403 canceled)", works, len(k.signedUp()))})
}

func status(ctx context.Context, client *http.Client, url, key string) (int, string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var body struct {
		Plan string `json:"plan"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Plan
}

// processes: one runtime process per active customer, none for anyone
// else (a suspended or canceled customer's port is answered by the
// compute service itself).
func (k *checker) processes() {
	byService := map[string][]string{} // compute service name → pids
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		dir := filepath.Join("/proc", e.Name())
		if exe, err := os.Readlink(filepath.Join(dir, "exe")); err != nil || exe != k.runtime {
			continue
		}
		environ, _ := os.ReadFile(filepath.Join(dir, "environ"))
		svc := "(no marker)"
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if v, ok := strings.CutPrefix(string(kv), "CLAW_SERVICE_ID="); ok {
				svc = v
			}
		}
		byService[svc] = append(byService[svc], e.Name())
	}
	var orphans, dups []string
	running := 0
	for _, cu := range k.signedUp() {
		svc := names.Service(cu.checkout.CustomerID)
		pids := byService[svc]
		delete(byService, svc)
		if cu.wantState == "active" {
			running++
			if len(pids) == 0 {
				dups = append(dups, fmt.Sprintf("customer %d (%s): no runtime runs", cu.n, cu.script))
			}
		} else if len(pids) > 0 {
			orphans = append(orphans, fmt.Sprintf("customer %d is %s but runtime pid %v runs", cu.n, cu.wantState, pids))
		}
		if len(pids) > 1 {
			dups = append(dups, fmt.Sprintf("customer %d (%s): %d runtimes (pids %v)", cu.n, cu.script, len(pids), pids))
		}
	}
	for svc, pids := range byService {
		orphans = append(orphans, fmt.Sprintf("runtime pid %v (%s) of no customer", pids, svc))
	}
	k.r.add(Check{Name: "no orphan process", OK: len(orphans) == 0, Problems: orphans,
		Detail: fmt.Sprintf("runtimes only for active customers (%d)", running)})
	k.r.add(Check{Name: "no duplicate (or missing) instance", OK: len(dups) == 0, Problems: dups,
		Detail: "exactly one runtime per active customer"})
}

var customerName = regexp.MustCompile(`^claw_[0-9a-f]{32}$`)

// databases: one database and one role per customer (canceled customers
// keep theirs until the day-30 deletion), none of no customer.
func (k *checker) databases(ctx context.Context, conn *pgx.Conn) {
	want := map[string]bool{}
	for _, cu := range k.signedUp() {
		want[names.Database(cu.checkout.CustomerID)] = true
	}
	for _, q := range []struct{ what, sql string }{
		{"database", `SELECT datname FROM pg_database`},
		{"role", `SELECT rolname FROM pg_roles`},
	} {
		name := "one " + q.what + " per customer, no orphan"
		rows, err := conn.Query(ctx, q.sql)
		if err != nil {
			k.r.add(Check{Name: name, Detail: err.Error()})
			continue
		}
		have := map[string]bool{}
		pooled := 0 // warm-pool entries (clawpool_, clawfill_, clawdrop_): no customer's yet
		for rows.Next() {
			var n string
			if rows.Scan(&n) != nil {
				continue
			}
			if customerName.MatchString(n) {
				have[n] = true
			} else if strings.HasPrefix(n, "clawpool_") || strings.HasPrefix(n, "clawfill_") || strings.HasPrefix(n, "clawdrop_") {
				pooled++
			}
		}
		rows.Close()
		var problems []string
		for n := range have {
			if !want[n] {
				problems = append(problems, fmt.Sprintf("%s %s belongs to no customer", q.what, n))
			}
		}
		for n := range want {
			if !have[n] {
				problems = append(problems, fmt.Sprintf("customer's %s %s is missing", q.what, n))
			}
		}
		k.r.add(Check{Name: name, OK: len(problems) == 0, Problems: problems,
			Detail: fmt.Sprintf("%d customer %ss for %d customers (and %d of the warm pool)", len(have), q.what, len(want), pooled)})
	}
}

// streamReadPatience is how long the event check retries reading the stream.
const streamReadPatience = 30 * time.Second

// ingressSubjects are the events the ingress publishes for webhooks.
var ingressSubjects = []string{subjects.CustomerSignedUp, subjects.CustomerPlanChanged, subjects.CustomerPaymentFailed,
	subjects.CustomerPaymentSucceeded, subjects.CustomerCanceled}

// events: every acknowledged webhook is on the stream (once: its Stripe
// event id is the message id) and was applied by the coordinator; no
// message went to the dead letters.
func (k *checker) events(ctx context.Context, conn *pgx.Conn) {
	name := "no event lost"
	b, err := bus.Connect(ctx, k.c.NATSURLs, "chaos", slog.New(slog.DiscardHandler), nil, k.c.BusOptions(busauth.Operator)...)
	if err != nil {
		k.r.add(Check{Name: name, Detail: err.Error()})
		return
	}
	defer b.Close()
	// A node just restarted may not answer JetStream's API for a moment
	// ("no responders"): reading is retried for a while, as any client
	// would; a stream that stays unreadable fails the check.
	var onStream map[string]int
	for tries, deadline := 1, time.Now().Add(streamReadPatience); ; tries++ {
		onStream, err = msgIDs(ctx, b.JetStream(), subjects.Stream, ingressSubjects)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			k.r.add(Check{Name: name, Detail: fmt.Sprintf("read the stream (%d tries): %v", tries, err)})
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	var problems []string
	acked := 0
	for _, cu := range k.signedUp() {
		for _, ev := range cu.acked {
			acked++
			if onStream[ev.ID] != 1 {
				problems = append(problems, fmt.Sprintf("customer %d: %s %s on the stream %d times, want once", cu.n, ev.Type, ev.ID, onStream[ev.ID]))
			}
			if ev.Type == "checkout.session.completed" {
				var sagas int
				if err := conn.QueryRow(ctx, `SELECT count(*) FROM saga.sagas WHERE checkout_session_id = $1`, cu.checkout.SessionID).Scan(&sagas); err != nil || sagas != 1 {
					problems = append(problems, fmt.Sprintf("customer %d: checkout %s started %d sagas, want 1 %v", cu.n, ev.ID, sagas, err))
				}
				continue
			}
			if slices.Contains(cu.superseded, ev.ID) {
				continue
			}
			var st string
			if err := conn.QueryRow(ctx, `SELECT status FROM saga.customer_events WHERE event_id = $1`, ev.ID).Scan(&st); err != nil || st != "applied" {
				problems = append(problems, fmt.Sprintf("customer %d: %s %s at the coordinator: %q %v", cu.n, ev.Type, ev.ID, st, err))
			}
		}
	}
	total := 0
	for _, n := range onStream {
		total += n
	}
	k.r.add(Check{Name: name, OK: len(problems) == 0 && total == acked, Problems: problems,
		Detail: fmt.Sprintf("%d webhooks acknowledged, %d customer events on the stream, every checkout started its saga, every lifecycle event applied by the coordinator (or superseded, above)", acked, total)})
	dl, err := b.JetStream().Stream(ctx, subjects.DeadLetterStream)
	if err != nil {
		k.r.add(Check{Name: "no dead letter", Detail: err.Error()})
		return
	}
	n := dl.CachedInfo().State.Msgs
	k.r.add(Check{Name: "no dead letter", OK: n == 0, Detail: fmt.Sprintf("%d messages in %s", n, subjects.DeadLetterStream)})
}

// msgIDs counts the messages on filter subjects of stream by Nats-Msg-Id.
func msgIDs(ctx context.Context, js jetstream.JetStream, stream string, filter []string) (map[string]int, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: filter})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for {
		batch, err := cons.Fetch(200, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		pending := uint64(0)
		for m := range batch.Messages() {
			got++
			out[m.Headers().Get(jetstream.MsgIDHeader)]++
			if md, err := m.Metadata(); err == nil {
				pending = md.NumPending
			}
		}
		if batch.Error() != nil {
			return nil, batch.Error()
		}
		if got == 0 || pending == 0 {
			return out, nil
		}
	}
}
