package neon

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/services/neon/internal/adapters/archive"
	neondriver "clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
)

// Database drivers DATABASE_DRIVER accepts.
const (
	// driverPostgres is the embedded default: per customer a role and a
	// database cloned from a template on a Postgres server.
	driverPostgres = "postgres"
	// driverNeon gives each customer a Neon branch (Neon API v2).
	driverNeon = "neon"
)

// maxPoolSize bounds DATABASE_POOL_SIZE: every entry is a database on the
// customer server (about 7.5 MB of an empty clone).
const maxPoolSize = 1000

// settings is the service's own settings, read once at start.
type settings struct {
	// Driver is DATABASE_DRIVER.
	Driver string
	// AdminURL is DATABASE_ADMIN_URL: a superuser on the Postgres server
	// that hosts customer databases (postgres driver).
	AdminURL string
	// CustomerHost is CUSTOMER_DB_HOST: the host (or host:port) customers'
	// URLs name when they reach the server differently from this service
	// (postgres driver).
	CustomerHost string
	// ArchiveDir is ARCHIVE_DIR: where the drivers keep database archives
	// (a local filesystem store). Default <data dir>/archives.
	ArchiveDir string
	// ArchiveStore is ARCHIVE_STORE: "dir" (default) or "s3".
	ArchiveStore string
	// S3 is the S3-compatible archive storage (NEON_ARCHIVE_S3_*, or the
	// standard AWS_* credentials) when ArchiveStore is "s3".
	S3 archive.S3Config
	// Limits are the customer roles' limits (CUSTOMER_DB_CONNECTION_LIMIT,
	// CUSTOMER_DB_STATEMENT_TIMEOUT, CUSTOMER_DB_IDLE_IN_TRANSACTION_TIMEOUT;
	// postgres driver).
	Limits postgres.Limits
	// Concurrency is DATABASE_CONCURRENCY: commands handled at once by a
	// replica (default 16, the postgres driver's admin connections: each
	// create holds one).
	Concurrency int
	// PoolSize is DATABASE_POOL_SIZE: how many databases the postgres
	// driver keeps made ahead of signups (0, the default, keeps none).
	PoolSize int
	// PoolBusyCommits is DATABASE_POOL_BUSY_COMMITS: the server's
	// transactions a second above which a refill of the pool waits (default
	// 300; 0 refills regardless; see postgres.PoolConfig.BusyCommits).
	PoolBusyCommits int
	// Neon is the neon driver's settings (NEON_*).
	Neon neonSettings
}

// neonSettings is what the neon driver reads from the environment.
type neonSettings struct {
	APIURL, APIKey, ProjectID, ParentBranchID, DatabaseName, RoleName string
	// Placement is NEON_PLACEMENT (branch, project, sharded).
	Placement string
	// BranchesPerProject is NEON_BRANCHES_PER_PROJECT (sharded).
	BranchesPerProject int
	// OrgID and RegionID are NEON_ORG_ID and NEON_REGION_ID, for the
	// projects the driver creates.
	OrgID, RegionID string
}

// neonID is the form of Neon project and branch ids in Neon's API
// definition.
var neonID = regexp.MustCompile(`^[a-z0-9-]{1,60}$`)

// loadConfig reads and validates the settings, reporting every problem in
// one error.
func loadConfig(l *config.Loader) (settings, error) {
	c := settings{
		Driver:      l.OneOf("DATABASE_DRIVER", driverPostgres, driverPostgres, driverNeon),
		Concurrency: l.Int("DATABASE_CONCURRENCY", 16),
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		l.Problem("DATABASE_CONCURRENCY must be between 1 and 256")
	}
	c.ArchiveDir = l.String("ARCHIVE_DIR", "")
	c.ArchiveStore = l.OneOf("ARCHIVE_STORE", storeDir, storeDir, storeS3)
	if c.ArchiveStore == storeS3 {
		c.S3 = loadS3(l)
	}
	switch c.Driver {
	case driverPostgres:
		c.AdminURL = l.Required("DATABASE_ADMIN_URL",
			"superuser URL of the Postgres server hosting customer databases (postgres://user:pass@host:5432/postgres)")
		if c.AdminURL != "" {
			l.URL("DATABASE_ADMIN_URL", "", "postgres", "postgresql")
		}
		c.CustomerHost = l.String("CUSTOMER_DB_HOST", "")
		c.Limits = postgres.Limits{
			ConnectionLimit:          l.Int("CUSTOMER_DB_CONNECTION_LIMIT", postgres.DefaultLimits.ConnectionLimit),
			StatementTimeout:         l.Duration("CUSTOMER_DB_STATEMENT_TIMEOUT", postgres.DefaultLimits.StatementTimeout),
			IdleInTransactionTimeout: l.Duration("CUSTOMER_DB_IDLE_IN_TRANSACTION_TIMEOUT", postgres.DefaultLimits.IdleInTransactionTimeout),
		}
		c.PoolSize = l.Int("DATABASE_POOL_SIZE", 0)
		if c.PoolSize < 0 || c.PoolSize > maxPoolSize {
			l.Problem("DATABASE_POOL_SIZE must be between 0 and %d", maxPoolSize)
		}
		c.PoolBusyCommits = l.Int("DATABASE_POOL_BUSY_COMMITS", 300)
		if c.PoolBusyCommits < 0 {
			l.Problem("DATABASE_POOL_BUSY_COMMITS must be 0 (off) or more")
		}
		if c.Limits.ConnectionLimit < 1 {
			l.Problem("CUSTOMER_DB_CONNECTION_LIMIT must be at least 1")
		}
		if c.Limits.StatementTimeout < time.Millisecond || c.Limits.IdleInTransactionTimeout < time.Millisecond {
			l.Problem("CUSTOMER_DB_STATEMENT_TIMEOUT and CUSTOMER_DB_IDLE_IN_TRANSACTION_TIMEOUT must be at least 1ms (0 would turn them off)")
		}
		if c.CustomerHost != "" && !validHost(c.CustomerHost) {
			l.Problem("CUSTOMER_DB_HOST=%q is not a host or host:port", c.CustomerHost)
		}
	case driverNeon:
		c.Neon = loadNeon(l)
	}
	return c, l.Err()
}

// loadNeon reads the neon driver's settings; DATABASE_ADMIN_URL is not
// needed then.
func loadNeon(l *config.Loader) neonSettings {
	n := neonSettings{
		Placement: l.OneOf("NEON_PLACEMENT", neondriver.PlaceBranch,
			neondriver.PlaceBranch, neondriver.PlaceProject, neondriver.PlaceSharded),
		APIKey: l.Required("NEON_API_KEY", "a Neon API key that may manage the project (Neon console → Account settings → API keys)"),
	}
	if n.Placement == neondriver.PlaceProject {
		n.ProjectID = l.String("NEON_PROJECT_ID", "")
		n.ParentBranchID = l.String("NEON_PARENT_BRANCH_ID", "")
	} else {
		n.ProjectID = l.Required("NEON_PROJECT_ID", "the Neon project that holds customers' branches (Project settings → General)")
		n.ParentBranchID = l.Required("NEON_PARENT_BRANCH_ID", "the br-… id of the branch holding the migrated customer schema (see services/neon/README.md)")
	}
	n.DatabaseName = l.Required("NEON_DATABASE_NAME", "the database on the parent branch that holds the customer schema")
	n.RoleName = l.Required("NEON_ROLE_NAME", "the role that owns NEON_DATABASE_NAME on the parent branch; customers connect as it")
	n.APIURL = l.URL("NEON_API_URL", neondriver.DefaultAPIURL, "https", "http")
	n.BranchesPerProject = l.Int("NEON_BRANCHES_PER_PROJECT", neondriver.DefaultBranchesPerProject)
	n.OrgID = l.String("NEON_ORG_ID", "")
	n.RegionID = l.String("NEON_REGION_ID", "")
	if n.Placement == neondriver.PlaceSharded && n.BranchesPerProject < 2 {
		l.Problem("NEON_BRANCHES_PER_PROJECT must be at least 2 (a parent and one customer)")
	}
	if n.OrgID != "" && !neonID.MatchString(n.OrgID) {
		l.Problem("NEON_ORG_ID=%q is not a Neon id (lower-case letters, digits and dashes)", n.OrgID)
	}
	for _, id := range []struct{ key, value string }{{"NEON_PROJECT_ID", n.ProjectID}, {"NEON_PARENT_BRANCH_ID", n.ParentBranchID}} {
		if id.value != "" && !neonID.MatchString(id.value) {
			l.Problem("%s=%q is not a Neon id (lower-case letters, digits and dashes)", id.key, id.value)
		}
	}
	for _, name := range []struct{ key, value string }{{"NEON_DATABASE_NAME", n.DatabaseName}, {"NEON_ROLE_NAME", n.RoleName}} {
		if len(name.value) > 63 {
			l.Problem("%s is longer than Postgres's 63-byte names", name.key)
		}
	}
	if u, err := url.Parse(n.APIURL); err == nil && u.Scheme == "http" && !loopback(u.Hostname()) {
		l.Problem("NEON_API_URL must use https (http only for a test server on this machine)")
	}
	return n
}

// Archive stores ARCHIVE_STORE accepts.
const (
	storeDir = "dir"
	storeS3  = "s3"
)

// loadS3 reads the S3-compatible archive storage's settings. Credentials
// come from NEON_ARCHIVE_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY /
// _SESSION_TOKEN, or else the standard AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; no value is ever printed.
func loadS3(l *config.Loader) archive.S3Config {
	c := archive.S3Config{
		Endpoint: l.Required("NEON_ARCHIVE_S3_ENDPOINT", "the S3-compatible service's URL, e.g. https://s3.us-east-1.amazonaws.com"),
		Bucket:   l.Required("NEON_ARCHIVE_S3_BUCKET", "the bucket that holds database archives"),
		Prefix:   l.String("NEON_ARCHIVE_S3_PREFIX", ""),
	}
	c.Region = l.String("NEON_ARCHIVE_S3_REGION", l.String("AWS_REGION", "us-east-1"))
	if c.Endpoint != "" {
		l.URL("NEON_ARCHIVE_S3_ENDPOINT", "", "https", "http")
		if u, err := url.Parse(c.Endpoint); err == nil && u.Scheme == "http" && !loopback(u.Hostname()) {
			l.Problem("NEON_ARCHIVE_S3_ENDPOINT must use https (http only for a server on this machine)")
		}
	}
	c.AccessKeyID = l.String("NEON_ARCHIVE_S3_ACCESS_KEY_ID", "")
	c.SecretAccessKey = l.String("NEON_ARCHIVE_S3_SECRET_ACCESS_KEY", "")
	c.SessionToken = l.String("NEON_ARCHIVE_S3_SESSION_TOKEN", "")
	if c.AccessKeyID == "" && c.SecretAccessKey == "" {
		c.AccessKeyID = l.String("AWS_ACCESS_KEY_ID", "")
		c.SecretAccessKey = l.String("AWS_SECRET_ACCESS_KEY", "")
		c.SessionToken = l.String("AWS_SESSION_TOKEN", "")
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		l.Problem("ARCHIVE_STORE=s3 needs credentials: NEON_ARCHIVE_S3_ACCESS_KEY_ID and NEON_ARCHIVE_S3_SECRET_ACCESS_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return c
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validHost accepts a host name or address, with or without a port.
func validHost(s string) bool {
	if strings.ContainsAny(s, "/@?# ") {
		return false
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h != "" && p != ""
	}
	return true
}
