package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/cmd/clawctl/internal/cluster"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/stripefixture"
)

// script is what a customer goes through after signing up; each ends in a
// known state, which the checks expect.
type script string

// The scripts, assigned round-robin.
const (
	stayStarter script = "signup"                    // active on starter
	upgrade     script = "signup, upgrade"           // active on pro
	suspend     script = "signup, payment failed"    // suspended after the grace
	resume      script = "signup, failed, then paid" // suspended, then active again
	cancel      script = "signup, upgrade, cancel"   // canceled
)

var scripts = []script{stayStarter, upgrade, suspend, resume, cancel}

// customer is one simulated customer and what happened to it.
type customer struct {
	n          int
	script     script
	checkout   stripefixture.Checkout
	key, url   string
	acked      []sentEvent // webhooks answered 200, in order
	superseded []string    // ids of acked events the coordinator ignored as older than one it applied
	err        error       // the script could not finish
	wantState  string
	wantPlan   string
	wantSagas  map[string]int // kind → count
	readyAfter time.Duration
}

// sentEvent is one acknowledged webhook.
type sentEvent struct {
	ID, Type string
}

// load runs the customers' scripts against the cluster's ingress.
type load struct {
	c         *cluster.Cluster
	o         Options
	r         *Report
	client    *http.Client
	mu        sync.Mutex
	customers []*customer
}

func newLoad(c *cluster.Cluster, o Options, r *Report) *load {
	return &load{c: c, o: o, r: r, client: &http.Client{Timeout: 15 * time.Second}}
}

// run runs every customer's script, o.Concurrency at a time, sending each
// started customer's number on progress.
func (l *load) run(ctx context.Context, progress chan<- int) {
	sem := make(chan struct{}, l.o.Concurrency)
	var wg sync.WaitGroup
	for i := range l.o.Customers {
		cu := &customer{n: i, script: scripts[i%len(scripts)]}
		l.customers = append(l.customers, cu)
		sem <- struct{}{}
		progress <- i + 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, l.o.CustomerTimeout)
			defer cancel()
			cu.err = l.play(cctx, cu)
			if cu.err != nil {
				l.o.Log.Warn("chaos: customer script failed", "customer", cu.n, "err", cu.err)
			}
		}()
	}
	wg.Wait()
}

// play signs the customer up, reveals its key and sends its lifecycle
// events, each retried until acknowledged, as Stripe retries a delivery.
func (l *load) play(ctx context.Context, cu *customer) error {
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	nonce := signup.NewNonce()
	cu.checkout = stripefixture.Checkout{Email: fmt.Sprintf("chaos%d@example.com", cu.n), Name: fmt.Sprintf("Chaos %d", cu.n),
		Plan: "starter", Created: t0, RevealHash: signup.HashNonce(nonce)}
	cu.checkout.Fill()
	cu.wantSagas = map[string]int{"signup": 1}
	cu.wantState, cu.wantPlan = "active", "starter"
	start := time.Now()
	if err := l.deliver(ctx, cu, "checkout.session.completed", cu.checkout.EventID, stripefixture.CheckoutCompleted(cu.checkout)); err != nil {
		return err
	}
	if err := l.awaitReady(ctx, cu); err != nil {
		return err
	}
	cu.readyAfter = time.Since(start)
	key, instanceURL, err := l.reveal(ctx, cu, nonce)
	if err != nil {
		return err
	}
	cu.key, cu.url = key, instanceURL
	ids := stripefixture.Checkout{CustomerID: cu.checkout.CustomerID, SubscriptionID: cu.checkout.SubscriptionID}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	upgradeTo := func(s int) error {
		sub := stripefixture.Subscription{CustomerID: ids.CustomerID, SubscriptionID: ids.SubscriptionID, Plan: "pro", PreviousPlan: "starter", Created: at(s)}
		sub.Fill()
		cu.wantSagas["plan_change"]++
		cu.wantPlan = "pro"
		return l.deliver(ctx, cu, "customer.subscription.updated", sub.EventID, stripefixture.SubscriptionUpdated(sub))
	}
	failPayment := func(s int) error {
		in := stripefixture.Invoice{CustomerID: ids.CustomerID, SubscriptionID: ids.SubscriptionID, Created: at(s)}
		in.Fill()
		cu.wantSagas["suspend"]++
		cu.wantState = "suspended"
		return l.deliver(ctx, cu, "invoice.payment_failed", in.EventID, stripefixture.InvoicePaymentFailed(in))
	}
	switch cu.script {
	case upgrade:
		return upgradeTo(1)
	case suspend:
		return failPayment(1)
	case resume:
		if err := failPayment(1); err != nil {
			return err
		}
		if err := l.awaitState(ctx, cu, "suspended"); err != nil {
			return err
		}
		in := stripefixture.Invoice{CustomerID: ids.CustomerID, SubscriptionID: ids.SubscriptionID, Created: at(2)}
		in.Fill()
		cu.wantSagas["resume"]++
		cu.wantState = "active"
		return l.deliver(ctx, cu, "invoice.paid", in.EventID, stripefixture.InvoicePaid(in))
	case cancel:
		if err := upgradeTo(1); err != nil {
			return err
		}
		del := stripefixture.Subscription{CustomerID: ids.CustomerID, SubscriptionID: ids.SubscriptionID, Plan: "pro", Created: at(2)}
		del.Fill()
		cu.wantSagas["cancel"]++
		cu.wantState = "canceled"
		return l.deliver(ctx, cu, "customer.subscription.deleted", del.EventID, stripefixture.SubscriptionDeleted(del))
	}
	return nil
}

// deliver posts a signed webhook until the ingress answers 200, backing
// off between attempts; every attempt and refusal is counted.
func (l *load) deliver(ctx context.Context, cu *customer, typ, id string, body []byte) error {
	for attempt := 1; ; attempt++ {
		err := signup.Post(ctx, l.client, l.c.IngressURL, l.c.WebhookSecret, body)
		l.r.countDelivery(typ, err)
		if err == nil {
			l.mu.Lock()
			cu.acked = append(cu.acked, sentEvent{ID: id, Type: typ})
			l.mu.Unlock()
			return nil
		}
		if serr := sleep(ctx, backoff(attempt)); serr != nil {
			return fmt.Errorf("deliver %s: %w (last answer: %v)", typ, serr, err)
		}
	}
}

// awaitReady polls the provisioning status until ready; errors (a replica
// or the database down) are retried.
func (l *load) awaitReady(ctx context.Context, cu *customer) error {
	var last string
	for {
		st, err := l.status(ctx, cu.checkout.SessionID)
		switch {
		case err != nil:
			last = err.Error()
		case st.Status == "ready":
			return nil
		case st.Status == "failed":
			return fmt.Errorf("provisioning failed: %s", st.FailureReason)
		default:
			last = st.Status
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("provisioning not ready (%s): %w", last, err)
		}
	}
}

func (l *load) status(ctx context.Context, session string) (*signup.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.c.IngressURL+"/v1/provisioning/"+session, nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var st signup.Status
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

// reveal takes the key. A transport error or a 5xx is retried; a refusal is
// not. An answer lost to a fault after the key was handed out is the case
// the ingress's grace window (INGRESS_REVEAL_GRACE) exists for: the retry
// must get the key again, and a refusal then is a finding.
func (l *load) reveal(ctx context.Context, cu *customer, nonce string) (string, string, error) {
	lostAnswer := false
	for attempt := 1; ; attempt++ {
		key, instanceURL, err := signup.Reveal(ctx, l.client, l.c.IngressURL, cu.checkout.SessionID, nonce)
		if err == nil {
			return key, instanceURL, nil
		}
		// Transport errors and 5xx answers (a replica or the database
		// down) are retried; anything else (410: already taken) is final.
		var ue *url.Error
		if !errors.As(err, &ue) && !strings.Contains(err.Error(), " 50") {
			if lostAnswer && strings.Contains(err.Error(), "already revealed") {
				return "", "", fmt.Errorf("the answer was lost to a fault and the retry was refused (the grace window should have served it): %w", err)
			}
			return "", "", err
		}
		lostAnswer = true
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return "", "", fmt.Errorf("reveal: %w", err)
		}
	}
}

// awaitState waits until the saga's record of the customer is in state.
func (l *load) awaitState(ctx context.Context, cu *customer, state string) error {
	var last string
	for {
		got, err := customerState(ctx, l.c.DatabaseURL, cu.checkout.CustomerID)
		if err == nil && got == state {
			return nil
		}
		last = got
		if err != nil {
			last = err.Error()
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("customer never %s (last %s): %w", state, last, err)
		}
	}
}

// customerState reads the saga's customers table.
func customerState(ctx context.Context, dbURL, customerID string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var state string
	err = conn.QueryRow(cctx, `SELECT state FROM saga.customers WHERE customer_id = $1`, customerID).Scan(&state)
	return state, err
}

func backoff(attempt int) time.Duration {
	return min(250*time.Millisecond<<min(attempt-1, 5), 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
