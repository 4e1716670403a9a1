package modelproxy

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
	"clawdbot.cloud/services/runtime/internal/quota"
)

// gate holds every upstream call until opened, so a test can have calls
// in flight at once; entered receives one value per call that reaches it.
// hold closes an opened gate again.
type gate struct {
	base    http.RoundTripper
	entered chan struct{}
	mu      sync.Mutex
	open    chan struct{} // closed while calls go through
}

func newGate(t *testing.T, calls int) *gate {
	g := &gate{base: http.DefaultTransport, entered: make(chan struct{}, calls), open: make(chan struct{})}
	t.Cleanup(g.release) // before the servers close: LIFO
	return g
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.entered <- struct{}{}
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return g.base.RoundTrip(r)
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *gate) client(o *Options) { o.Client = &http.Client{Transport: g} }

// reservations is the quota reservations held in the customer's database.
func (f *fixture) reservations(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := f.pool.QueryRow(t.Context(), `SELECT count(*) FROM quota_reservations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProxyReservesAtTheLastMessage: calls that each start a turn, sent at
// once when one message is left, are let through exactly once: the others
// are refused before the model is called, although the first has not
// answered yet (its message is reserved, not yet counted). Run with -race.
func TestProxyReservesAtTheLastMessage(t *testing.T) {
	const calls = 8
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			plan := starter(t)
			plan.MonthlyMessages = 5
			g := newGate(t, calls)
			f := newFixture(t, api, plan, nil, g.client)
			if err := customerdb.AddUsage(t.Context(), f.pool, time.Now(), customerdb.UsageTotals{Messages: 4}); err != nil {
				t.Fatal(err)
			}
			f.model.Enqueue(llmtest.Answer{Text: "THE ONE", InputTokens: 30, OutputTokens: 3})
			codes := make(chan int, calls)
			for range calls {
				go func() {
					resp, _, err := f.send(f.path(), gatewayKey, f.body("test-model", false, false))
					if err != nil {
						codes <- 0
						return
					}
					codes <- resp.StatusCode
				}()
			}
			// Every call is either refused or held at the model endpoint.
			refused, held := 0, 0
			for refused+held < calls {
				select {
				case code := <-codes:
					if code != http.StatusTooManyRequests {
						t.Fatalf("a call answered %d while the model was held, want 429", code)
					}
					refused++
				case <-g.entered:
					held++
				}
			}
			if held != 1 || refused != calls-1 {
				t.Errorf("%d calls reached the model and %d were refused, want 1 and %d", held, refused, calls-1)
			}
			g.release()
			for range held {
				if code := <-codes; code != http.StatusOK {
					t.Errorf("the call let through answered %d", code)
				}
			}
			if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 5, InputTokens: 30, OutputTokens: 3}); got != want {
				t.Errorf("usage = %+v, want %+v", got, want)
			}
			if n := f.reservations(t); n != 0 {
				t.Errorf("%d reservations left after the call answered", n)
			}
			if n := f.outcome(outcomeQuota); n != calls-1 {
				t.Errorf("quota refusals counted %v, want %d", n, calls-1)
			}
		})
	}
}

// TestProxyCountsAFrontDoorTurnOnce: a front-door turn's reservation, lent
// to the proxy, is taken by the turn's model call instead of a second
// reservation: while the call runs the message is held once, and when it
// answers the reservation becomes the counted message in one step. A call
// that fails gives the reservation back; a turn that ends while its call
// is still out leaves the reservation to the call.
func TestProxyCountsAFrontDoorTurnOnce(t *testing.T) {
	plan := starter(t)
	plan.MonthlyMessages, plan.MonthlyTokens = 2, 10_000
	g := newGate(t, 4)
	f := newFixture(t, Anthropic, plan, nil, g.client)
	ctx := t.Context()
	reserve := func() (customerdb.Reservation, error) {
		r, _, err := quota.Reserve(ctx, f.pool, plan, time.Now())
		return r, err
	}
	r, err := reserve()
	if err != nil {
		t.Fatal(err)
	}
	giveBack := f.turns.Lend(r)
	f.model.Enqueue(llmtest.Answer{Text: "FRONT DOOR", InputTokens: 40, OutputTokens: 4})
	done := make(chan int, 1)
	go func() {
		resp, _, err := f.send(f.path(), gatewayKey, f.body("test-model", false, false))
		if err != nil {
			done <- 0
			return
		}
		done <- resp.StatusCode
	}()
	<-g.entered
	// The call is out: the turn's message is held by its one reservation.
	if n := f.reservations(t); n != 1 {
		t.Errorf("%d reservations while the front-door turn's call runs, want its own 1", n)
	}
	other, err := reserve()
	if err != nil {
		t.Fatalf("a second turn with 2 messages and 1 in flight: %v", err)
	}
	if _, err := reserve(); err == nil {
		t.Error("a third turn was reserved with 2 in flight")
	}
	if err := customerdb.ReleaseTurn(ctx, f.pool, other, customerdb.UsageTotals{}); err != nil {
		t.Fatal(err)
	}
	g.release()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the front-door turn's call = %d", code)
	}
	if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 1, InputTokens: 40, OutputTokens: 4}); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
	if n := f.reservations(t); n != 0 {
		t.Errorf("%d reservations after the call answered, want 0 (its reservation became the message)", n)
	}
	if giveBack() {
		t.Error("giveBack reports the reservation still the turn's after its call settled it")
	}
	// One message used, none in flight: one more turn fits.
	last, err := reserve()
	if err != nil {
		t.Fatalf("the last message after a counted front-door turn: %v", err)
	}
	if err := customerdb.ReleaseTurn(ctx, f.pool, last, customerdb.UsageTotals{}); err != nil {
		t.Fatal(err)
	}

	t.Run("a failed call gives the reservation back", func(t *testing.T) {
		r, err := reserve()
		if err != nil {
			t.Fatal(err)
		}
		before := f.usage(t)
		giveBack := f.turns.Lend(r)
		f.model.Enqueue(llmtest.Answer{Status: http.StatusServiceUnavailable})
		resp, _ := f.post(t, f.path(), gatewayKey, f.body("test-model", false, false))
		<-g.entered
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("failing call = %d", resp.StatusCode)
		}
		if n := f.turns.lentCount(); n != 1 {
			t.Errorf("%d reservations lent after the failed call, want the turn's back", n)
		}
		if !giveBack() {
			t.Error("the failed call kept the turn's reservation")
		}
		if got := f.usage(t); got != before {
			t.Errorf("usage after the failed call = %+v, want %+v", got, before)
		}
		if err := customerdb.ReleaseTurn(ctx, f.pool, r, customerdb.UsageTotals{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a turn that ends first leaves the reservation to its call", func(t *testing.T) {
		r, err := reserve()
		if err != nil {
			t.Fatal(err)
		}
		held := f.reservations(t)
		giveBack := f.turns.Lend(r)
		f.model.Enqueue(llmtest.Answer{Status: http.StatusInternalServerError})
		// The call must still be out when the turn ends: with the gate
		// open it could fail first and hand the reservation back, and the
		// turn would rightly keep it (a CI run did that).
		g.hold()
		defer g.release() // if this subtest stops early, the ones after it still pass the gate
		g2 := make(chan int, 1)
		go func() {
			resp, _, err := f.send(f.path(), gatewayKey, f.body("test-model", false, false))
			if err != nil {
				g2 <- 0
				return
			}
			g2 <- resp.StatusCode
		}()
		<-g.entered
		if giveBack() {
			t.Error("the turn kept a reservation its call had taken")
		}
		g.release()
		if code := <-g2; code != http.StatusInternalServerError {
			t.Fatalf("failing call = %d", code)
		}
		if n := f.reservations(t); n != held-1 {
			t.Errorf("%d reservations after the orphaned call failed, want %d (it gave the turn's up)", n, held-1)
		}
	})

	t.Run("the token budget spent refuses the turn's call and gives the reservation back", func(t *testing.T) {
		r, err := reserve()
		if err != nil {
			t.Fatal(err)
		}
		if err := customerdb.AddUsage(ctx, f.pool, time.Now(), customerdb.UsageTotals{OutputTokens: 10_000}); err != nil {
			t.Fatal(err)
		}
		giveBack := f.turns.Lend(r)
		calls := len(f.model.Requests())
		resp, body := f.post(t, f.path(), gatewayKey, f.body("test-model", false, false))
		if _, msg := errorOf(t, Anthropic, body); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(msg, "token budget") {
			t.Errorf("the turn's call past the token budget = %d %q", resp.StatusCode, msg)
		}
		if n := len(f.model.Requests()) - calls; n != 0 {
			t.Errorf("the model was called %d times past the token budget", n)
		}
		if !giveBack() {
			t.Error("the refused call kept the turn's reservation")
		}
	})
}

// TestProxyRetryCountsOnce: a call that starts a turn and fails before any
// output gives its reservation up, so the gateway's retry of it is let
// through at the last message and counted once.
func TestProxyRetryCountsOnce(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			plan := starter(t)
			plan.MonthlyMessages = 2
			f := newFixture(t, api, plan, nil)
			if err := customerdb.AddUsage(t.Context(), f.pool, time.Now(), customerdb.UsageTotals{Messages: 1}); err != nil {
				t.Fatal(err)
			}
			f.model.Enqueue(llmtest.Answer{Status: 529, ErrorType: "overloaded_error"},
				llmtest.Answer{Text: "RETRIED", InputTokens: 10, OutputTokens: 1})
			body := f.body("test-model", false, false)
			for i, want := range []int{529, 200, 429} {
				if resp, b := f.post(t, f.path(), gatewayKey, body); resp.StatusCode != want {
					t.Fatalf("call %d = %d %s, want %d", i, resp.StatusCode, b, want)
				}
			}
			if got, want := f.usage(t), (customerdb.UsageTotals{Messages: 2, InputTokens: 10, OutputTokens: 1}); got != want {
				t.Errorf("usage = %+v, want %+v", got, want)
			}
			if n := f.reservations(t); n != 0 {
				t.Errorf("%d reservations left", n)
			}
		})
	}
}

// TestTurns: the lending itself. A lent reservation is taken once, oldest
// first; one given back is taken again; giveBack after a take reports the
// turn no longer holds it, and a call giving back to an ended turn must
// release it.
func TestTurns(t *testing.T) {
	var nilTurns *Turns
	if !nilTurns.Lend(customerdb.Reservation{ID: 1})() || nilTurns.take() != nil {
		t.Error("a nil Turns lends")
	}
	ts := &Turns{}
	back1 := ts.Lend(customerdb.Reservation{ID: 1})
	back2 := ts.Lend(customerdb.Reservation{ID: 2})
	l := ts.take()
	if l == nil || l.r.ID != 1 {
		t.Fatalf("take = %+v, want reservation 1", l)
	}
	if ts.giveBack(l) {
		t.Error("give back to an open turn asked for a release")
	}
	if l = ts.take(); l == nil || l.r.ID != 1 {
		t.Fatalf("take after a give back = %+v, want reservation 1 again", l)
	}
	if back1() {
		t.Error("turn 1 kept a reservation a call holds")
	}
	if !ts.giveBack(l) {
		t.Error("give back to an ended turn did not ask for a release")
	}
	if !back2() {
		t.Error("turn 2 lost a reservation nobody took")
	}
	if l = ts.take(); l != nil {
		t.Errorf("take after every turn ended = %+v", l)
	}
}
