package neon

import (
	"net"
	"strings"

	"clawdbot.cloud/pkg/config"
)

// Database drivers DATABASE_DRIVER accepts.
const (
	// driverPostgres is the embedded default: per customer a role and a
	// database cloned from a template on a Postgres server.
	driverPostgres = "postgres"
)

// settings is the service's own settings, read once at start.
type settings struct {
	// Driver is DATABASE_DRIVER.
	Driver string
	// AdminURL is DATABASE_ADMIN_URL: a superuser on the Postgres server
	// that hosts customer databases.
	AdminURL string
	// CustomerHost is CUSTOMER_DB_HOST: the host (or host:port) customers'
	// URLs name when they reach the server differently from this service.
	CustomerHost string
}

// loadConfig reads and validates the settings, reporting every problem in
// one error.
func loadConfig(l *config.Loader) (settings, error) {
	c := settings{
		Driver: l.OneOf("DATABASE_DRIVER", driverPostgres, driverPostgres),
	}
	if c.Driver == driverPostgres {
		c.AdminURL = l.Required("DATABASE_ADMIN_URL",
			"superuser URL of the Postgres server hosting customer databases (postgres://user:pass@host:5432/postgres)")
		if c.AdminURL != "" {
			l.URL("DATABASE_ADMIN_URL", "", "postgres", "postgresql")
		}
		c.CustomerHost = l.String("CUSTOMER_DB_HOST", "")
		if c.CustomerHost != "" && !validHost(c.CustomerHost) {
			l.Problem("CUSTOMER_DB_HOST=%q is not a host or host:port", c.CustomerHost)
		}
	}
	return c, l.Err()
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
