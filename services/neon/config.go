package neon

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"clawdbot.cloud/pkg/config"
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
	// ArchiveDir is ARCHIVE_DIR: where the postgres driver keeps database
	// archives (a local filesystem store). Default <data dir>/archives.
	ArchiveDir string
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
	// Neon is the neon driver's settings (NEON_*).
	Neon neonSettings
}

// neonSettings is what the neon driver reads from the environment.
type neonSettings struct {
	APIURL, APIKey, ProjectID, ParentBranchID, DatabaseName, RoleName string
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
	switch c.Driver {
	case driverPostgres:
		c.AdminURL = l.Required("DATABASE_ADMIN_URL",
			"superuser URL of the Postgres server hosting customer databases (postgres://user:pass@host:5432/postgres)")
		if c.AdminURL != "" {
			l.URL("DATABASE_ADMIN_URL", "", "postgres", "postgresql")
		}
		c.ArchiveDir = l.String("ARCHIVE_DIR", "")
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
		APIKey:         l.Required("NEON_API_KEY", "a Neon API key that may manage the project (Neon console → Account settings → API keys)"),
		ProjectID:      l.Required("NEON_PROJECT_ID", "the Neon project that holds customers' branches (Project settings → General)"),
		ParentBranchID: l.Required("NEON_PARENT_BRANCH_ID", "the br-… id of the branch holding the migrated customer schema (see services/neon/README.md)"),
		DatabaseName:   l.Required("NEON_DATABASE_NAME", "the database on the parent branch that holds the customer schema"),
		RoleName:       l.Required("NEON_ROLE_NAME", "the role that owns NEON_DATABASE_NAME on the parent branch; customers connect as it"),
		APIURL:         l.URL("NEON_API_URL", neondriver.DefaultAPIURL, "https", "http"),
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
