// Package railway is the cloud compute driver: each customer's runtime is a
// Railway service, deployed from the runtime's container image, driven
// through Railway's public GraphQL API with the genqlient client of package
// gql.
//
// A customer's service is named names.Service(customer) in the configured
// project and environment. Railway has no lookup by name, so every
// operation starts by listing the environment's service instances; that is
// also what makes Provision idempotent: a retried provisioning finds the
// service (and its domain, and its deployment) instead of creating another.
//
// Provisioning, in order (each step skipped when already done):
//
//	serviceCreate               an empty service: nothing deploys yet
//	serviceInstanceUpdate     } one request: image, /health check, restart
//	serviceInstanceLimitsUpdate } policy, region; vCPUs and memory of the plan
//	serviceDomainCreate         the public *.up.railway.app address
//	variableCollectionUpsert    RUNTIME_CONFIG_JSON (database URL included),
//	                            PORT, model-provider settings; skipDeploys
//	serviceInstanceDeployV2     then the deployment is polled until SUCCESS,
//	                            or FAILED/CRASHED (ErrDeployFailed)
//
// The first four need no database (see Prepare); the last two do.
package railway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
)

// SecretReader reads a secret by reference and keeps the instance tokens
// (pkg/secrets.Store does).
type SecretReader interface {
	Get(ctx context.Context, ref string) ([]byte, error)
	PutIfAbsent(ctx context.Context, ref string, plaintext []byte) ([]byte, error)
}

// Options configure a Driver. Zero values take the documented defaults.
type Options struct {
	// APIURL is Railway's GraphQL endpoint. Default DefaultAPIURL.
	APIURL string
	// Token authenticates every request; TokenKind says how it is sent.
	Token     string
	TokenKind TokenKind
	// ProjectID and EnvironmentID are where the customers' services live.
	ProjectID, EnvironmentID string
	// Image is the runtime's container image (deploy/runtime/Dockerfile).
	Image string
	// Engines chooses each plan's engine (RUNTIME_ENGINES); a plan on the
	// openclaw engine runs OpenClawImage, the official OpenClaw image
	// pinned by digest with the runtime on top (deploy/openclaw/Dockerfile).
	Engines       plans.Engines
	OpenClawImage string
	// Region is the deployment region; empty leaves Railway's default.
	Region string
	// Version is the platform release the runtimes report.
	Version string
	// Vars are set on every customer's service besides its own config:
	// the model-provider settings (ANTHROPIC_API_KEY, ...).
	Vars map[string]string
	// Secrets holds the customers' database URLs and instance tokens.
	Secrets SecretReader
	// Provider and Model, when set, go into every runtime's configuration.
	Provider, Model string
	// Log receives the driver's logs.
	Log *slog.Logger
	// Metrics receives the API metrics; nil registers none.
	Metrics prometheus.Registerer
	// HTTPClient sends the requests. Default a plain http.Client (each
	// attempt is bounded by RequestTimeout).
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt of one request. Default 30s.
	RequestTimeout time.Duration
	// MaxAttempts bounds the attempts of one request. Default 5.
	MaxAttempts int
	// Backoff and MaxBackoff bound the delay between attempts. Defaults
	// 500ms and 15s.
	Backoff, MaxBackoff time.Duration
	// RatePerSecond and RatePerHour are this driver's request budget.
	// Defaults 10 and 1,000 (Railway's Hobby limits).
	RatePerSecond, RatePerHour int
	// MaxRateWait is the longest wait for the budget, or for a 429's
	// Retry-After, before giving the command back to the bus with a
	// *RateLimitedError. Default 1m.
	MaxRateWait time.Duration
	// PollInterval is the time between two looks at a deployment. Default 2s.
	PollInterval time.Duration
	// DeployTimeout bounds the wait for a deployment to settle. Default 10m.
	DeployTimeout time.Duration
	// DomainScheme is the scheme of the instance URLs built from the
	// services' domains. Default "https", Railway's; "http" only for a test
	// server whose domains are local plain-http addresses.
	DomainScheme string
	// Clock is the driver's time. Default SystemClock.
	Clock Clock
}

// DefaultAPIURL is Railway's public GraphQL endpoint.
const DefaultAPIURL = "https://backboard.railway.com/graphql/v2"

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	if o.DomainScheme == "" {
		o.DomainScheme = "https"
	}
	if o.TokenKind == "" {
		o.TokenKind = AccountToken
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	def(&o.RequestTimeout, 30*time.Second)
	def(&o.Backoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 15*time.Second)
	def(&o.MaxRateWait, time.Minute)
	def(&o.PollInterval, 2*time.Second)
	def(&o.DeployTimeout, 10*time.Minute)
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.RatePerSecond == 0 {
		o.RatePerSecond = 10
	}
	if o.RatePerHour == 0 {
		o.RatePerHour = 1000
	}
}

// Driver runs customers' runtimes as Railway services. It implements
// app.Driver. Operations on one customer are serialised within a Driver;
// replicas of the compute service rely on the bus delivering a command to
// one of them at a time.
type Driver struct {
	o   Options
	gql graphql.Client
	log *slog.Logger

	mu    sync.Mutex
	locks map[string]*customerLock
}

var _ app.Driver = (*Driver)(nil)

// customerLock serialises one customer's operations; refs counts holders
// and waiters, so the entry goes when nobody needs it.
type customerLock struct {
	sync.Mutex
	refs int
}

// New checks the options and returns a Driver. It sends nothing yet.
func New(o Options) (*Driver, error) {
	o.defaults()
	var missing []string
	for name, v := range map[string]string{
		"Token": o.Token, "ProjectID": o.ProjectID, "EnvironmentID": o.EnvironmentID, "Image": o.Image, "Version": o.Version,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if o.Secrets == nil || o.Log == nil || len(missing) > 0 {
		return nil, fmt.Errorf("railway driver: Secrets, Log, Token, ProjectID, EnvironmentID, Image and Version are required (missing %v)", missing)
	}
	if err := checkEngines(o); err != nil {
		return nil, fmt.Errorf("railway driver: %w", err)
	}
	if o.DomainScheme != "https" && o.DomainScheme != "http" {
		return nil, fmt.Errorf("railway driver: domain scheme %q is not https or http", o.DomainScheme)
	}
	switch o.TokenKind {
	case AccountToken, TeamToken, ProjectToken:
	default:
		return nil, fmt.Errorf("railway driver: token kind %q is not account, team or project", o.TokenKind)
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, err
	}
	name, value := authHeader(o.TokenKind, o.Token)
	t := &transport{
		client: o.HTTPClient, tokenHeader: name, tokenValue: value,
		limiter: NewLimiter(o.RatePerSecond, o.RatePerHour, o.MaxRateWait, o.Clock),
		clock:   o.Clock, metrics: m,
		timeout: o.RequestTimeout, backoff: o.Backoff, maxBackoff: o.MaxBackoff,
		maxRateWait: o.MaxRateWait, maxAttempts: o.MaxAttempts,
	}
	return &Driver{
		o:     o,
		gql:   client{inner: graphql.NewClient(o.APIURL, t)},
		log:   o.Log,
		locks: map[string]*customerLock{},
	}, nil
}

// lock serialises the operations on one customer's service.
func (d *Driver) lock(customerID string) (unlock func()) {
	d.mu.Lock()
	l, ok := d.locks[customerID]
	if !ok {
		l = &customerLock{}
		d.locks[customerID] = l
	}
	l.refs++
	d.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		d.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(d.locks, customerID)
		}
		d.mu.Unlock()
	}
}

// ErrDeployFailed is app.ErrDeployFailed: a deployment of the customer's
// runtime ended FAILED, CRASHED or otherwise for good.
var ErrDeployFailed = app.ErrDeployFailed

// classify marks an error Railway gave that no retry can fix.
func classify(err error) error {
	if badRequest(err) {
		return fmt.Errorf("%w: Railway refused the operation as malformed (schema drift? run make railway-schema): %w", app.ErrRejected, err)
	}
	return err
}
