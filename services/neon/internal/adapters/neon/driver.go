// Package neon is the cloud database driver: each customer gets a Neon
// branch of a parent branch that holds the migrated customer schema, with a
// read_write compute endpoint. The branch inherits the parent's database and
// role; the driver resets the role's password on the branch, so the
// credentials it stores (the pooled connection URI, encrypted in the secret
// store) open that branch and no other.
//
// The driver speaks Neon API v2 through the client generated from Neon's
// OpenAPI definition (internal/neonapi). Neon has no idempotency keys, so
// every step finds what an earlier attempt made (the branch by its name,
// the password by the stored URI) before making anything. 423, 429 and 503
// answers are retried with backoff, honouring Retry-After; Neon's
// asynchronous operations are polled until they finish, and a failed one
// fails the request for good.
package neon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

// DefaultAPIURL is Neon API v2.
const DefaultAPIURL = "https://console.neon.tech/api/v2"

// Secrets is where the driver keeps each customer's connection URI.
// *secrets.Store satisfies it; Get reports a missing secret with an error
// wrapping secrets.ErrNotFound.
type Secrets interface {
	Get(ctx context.Context, ref string) ([]byte, error)
	Put(ctx context.Context, ref string, plaintext []byte) error
	Delete(ctx context.Context, ref string) error
}

// Config configures the driver.
type Config struct {
	// APIURL is the base URL of Neon API v2 (default DefaultAPIURL).
	APIURL string
	// APIKey is a Neon API key (Bearer token) allowed to manage the project.
	APIKey string
	// Placement is where customers' databases live: PlaceBranch (the
	// default), PlaceProject or PlaceSharded.
	Placement string
	// ProjectID is the Neon project customers' branches live in (with
	// PlaceSharded the first shard; unused with PlaceProject).
	ProjectID string
	// ParentBranchID is the branch every customer branch starts from: it
	// holds DatabaseName, owned by RoleName and migrated with pkg/customerdb
	// (unused with PlaceProject).
	ParentBranchID string
	// BranchesPerProject is the plan's limit on branches per project, the
	// default and parent branches included (PlaceSharded; default 10, the
	// lowest plan's).
	BranchesPerProject int
	// OrgID and RegionID, when set, go with every project the driver
	// creates (PlaceProject, PlaceSharded); an organization API key needs
	// OrgID.
	OrgID, RegionID string
	// DB and Schema are the control-plane database and the service's
	// schema, where PlaceSharded records shards and placements.
	DB     *pgxpool.Pool
	Schema string
	// DatabaseName and RoleName are the database and role each branch
	// inherits from the parent, and the customer's runtime connects with.
	DatabaseName, RoleName string
	// Secrets stores the customers' connection URIs.
	Secrets Secrets
	// Log receives the driver's own messages; never a credential.
	Log *slog.Logger
	// HTTPClient sends the requests (default: a client with a 30s timeout).
	HTTPClient *http.Client
	// Metrics, when set, receives the driver's API request counters.
	Metrics prometheus.Registerer
	// Archives stores database archives and BinDir holds pg_dump and
	// pg_restore; without either, archive commands fail for good.
	Archives Archives
	BinDir   string
	// Timing bounds retries and polling; the zero value is the defaults.
	Timing Timing
}

// Driver provisions customer databases as Neon branches. It is safe for
// concurrent use; calls for one customer are serialised in the process.
type Driver struct {
	api     *neonapi.ClientWithResponses
	retrier *retrier
	cfg     Config
	timing  Timing
	secrets Secrets
	log     *slog.Logger
	locks   keyedMutex
	shards  *shardStore // PlaceSharded
}

// DefaultBranchesPerProject is Config.BranchesPerProject's default: Neon's
// lowest plan allows 10 branches per project.
const DefaultBranchesPerProject = 10

// Open builds the driver and checks, with three read-only requests, that
// the API key reaches the project and that the parent branch holds the
// database and the role: a wrong setting stops the service at start
// instead of failing every customer's signup.
func Open(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.Placement == "" {
		cfg.Placement = PlaceBranch
	}
	if cfg.BranchesPerProject == 0 {
		cfg.BranchesPerProject = DefaultBranchesPerProject
	}
	if cfg.Schema == "" {
		cfg.Schema = "neon"
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	m, err := newAPIMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	timing := cfg.Timing.withDefaults()
	r := &retrier{next: cfg.HTTPClient, timing: timing, m: m}
	auth := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "clawdbot-cloud-neon-driver")
		return nil
	}
	api, err := neonapi.NewClientWithResponses(cfg.APIURL, neonapi.WithHTTPClient(r), neonapi.WithRequestEditorFn(auth))
	if err != nil {
		return nil, fmt.Errorf("neon API client: %w", err)
	}
	d := &Driver{api: api, retrier: r, cfg: cfg, timing: timing, secrets: cfg.Secrets, log: cfg.Log}
	if cfg.Placement == PlaceProject {
		// No parent: each customer's project is migrated when made. One
		// read-only request proves the key.
		one := 1
		lr, err := d.api.ListProjectsWithResponse(ctx, &neonapi.ListProjectsParams{Limit: &one, OrgId: ptrOr(cfg.OrgID)})
		if err := answer("list projects", lr, err); err != nil {
			return nil, fmt.Errorf("neon API key: %w", err)
		}
		return d, nil
	}
	if err := d.checkParent(ctx); err != nil {
		return nil, err
	}
	if cfg.Placement == PlaceSharded {
		if err := d.openShards(ctx); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// openShards prepares the shard record and enters the configured project
// as shard 0, its capacity what its branches leave of the limit.
func (d *Driver) openShards(ctx context.Context) error {
	d.shards = newShardStore(d.cfg.DB, d.cfg.Schema)
	if err := d.shards.migrate(ctx); err != nil {
		return err
	}
	all, err := d.listBranches(ctx, d.cfg.ProjectID, "", func(neonapi.Branch) bool { return true })
	if err != nil {
		return fmt.Errorf("neon project %s: %w", d.cfg.ProjectID, err)
	}
	return d.shards.register(ctx, shard{Seq: 0, Project: d.cfg.ProjectID, Parent: d.cfg.ParentBranchID,
		Capacity: d.cfg.BranchesPerProject - len(all)})
}

// ptrOr returns &s, or nil for "".
func ptrOr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// check reports every missing or malformed setting at once.
func (c Config) check() error {
	var errs []error
	need := []struct{ name, value string }{{"API key", c.APIKey}, {"database name", c.DatabaseName}, {"role name", c.RoleName}}
	if c.Placement != PlaceProject {
		need = append(need, struct{ name, value string }{"project id", c.ProjectID},
			struct{ name, value string }{"parent branch id", c.ParentBranchID})
	}
	for _, s := range need {
		if s.value == "" {
			errs = append(errs, fmt.Errorf("no %s", s.name))
		}
	}
	switch c.Placement {
	case PlaceBranch, PlaceProject:
	case PlaceSharded:
		if c.DB == nil {
			errs = append(errs, errors.New("sharded placement needs the control-plane database"))
		}
		if c.BranchesPerProject < 2 {
			errs = append(errs, errors.New("sharded placement needs at least 2 branches per project (a parent and a customer)"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown placement %q (branch, project or sharded)", c.Placement))
	}
	if u, err := url.Parse(c.APIURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, errors.New("the API URL is not an http(s) URL"))
	}
	if c.Secrets == nil {
		errs = append(errs, errors.New("no secret store"))
	}
	return errors.Join(errs...)
}

// checkParent verifies the parent branch, its database and its role.
func (d *Driver) checkParent(ctx context.Context) error {
	p, parent := d.cfg.ProjectID, d.cfg.ParentBranchID
	br, err := d.api.GetProjectBranchWithResponse(ctx, p, parent)
	if err := answer("get parent branch", br, err); err != nil {
		return fmt.Errorf("neon project %s, parent branch %s: %w", p, parent, err)
	}
	db, err := d.api.GetProjectBranchDatabaseWithResponse(ctx, p, parent, d.cfg.DatabaseName)
	if err := answer("get parent database", db, err); err != nil {
		return fmt.Errorf("neon parent branch %s, database %s: %w", parent, d.cfg.DatabaseName, err)
	}
	if owner := db.JSON200.Database.OwnerName; owner != d.cfg.RoleName {
		d.log.Warn("the parent branch's database is not owned by the customer role; customers may lack privileges",
			"database", d.cfg.DatabaseName, "owner", owner, "role", d.cfg.RoleName)
	}
	role, err := d.api.GetProjectBranchRoleWithResponse(ctx, p, parent, d.cfg.RoleName)
	if err := answer("get parent role", role, err); err != nil {
		return fmt.Errorf("neon parent branch %s, role %s: %w", parent, d.cfg.RoleName, err)
	}
	return nil
}

// Close releases nothing: the driver holds no connections of its own.
func (d *Driver) Close() {}

// Ping fails while Neon refuses the API key (the last answer was 401 or
// 403). It sends no request: readiness probes must not spend the account's
// rate limit.
func (d *Driver) Ping(context.Context) error {
	if d.retrier.authFailed.Load() {
		return errors.New("neon API refuses the API key")
	}
	return nil
}
