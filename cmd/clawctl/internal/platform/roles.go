package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/dbroles"
	"clawdbot.cloud/services/neon"
)

// devRoles is the dev platform's role set: passwords derived from the
// encryption key (dev mode runs every service in one process, which holds
// the key anyway), so nothing new is written to the data dir. The roles of
// the private cluster's "clawdbot" database are clawsvc_<service>; another
// database (DATABASE_URL, as tests set it on a shared server) gets a prefix
// of its own, as roles are server-wide.
func devRoles(adminURL string, key []byte) (dbroles.Set, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return dbroles.Set{}, fmt.Errorf("control-plane database URL does not parse")
	}
	set := dbroles.Set{Secret: key}
	if db := strings.TrimPrefix(u.Path, "/"); db != "clawdbot" {
		sum := sha256.Sum256([]byte(db))
		set.Prefix = dbroles.DefaultPrefix + hex.EncodeToString(sum[:4]) + "_"
	}
	return set, nil
}

// BootstrapRoles creates or updates (as the admin of adminURL) every
// service's least-privilege role on the control-plane database and the
// customer-database admin role, and returns the role set; roles.URL gives
// each one's URL.
func BootstrapRoles(ctx context.Context, adminURL string, key []byte) (dbroles.Set, error) {
	roles, err := devRoles(adminURL, key)
	if err != nil {
		return dbroles.Set{}, err
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return dbroles.Set{}, fmt.Errorf("control-plane database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := roles.Bootstrap(ctx, conn); err != nil {
		return dbroles.Set{}, fmt.Errorf("control-plane roles (DATABASE_URL must be a superuser or CREATEROLE owner of its database): %w", err)
	}
	// Customer databases live on the same server in dev; the neon service
	// administers them as a CREATEROLE, CREATEDB role, not the superuser.
	if err := roles.BootstrapCustomerAdmin(ctx, conn, neon.TemplateDatabase); err != nil {
		return dbroles.Set{}, fmt.Errorf("customer-database admin role: %w", err)
	}
	return roles, nil
}

// servicePools opens one pool per service, each logged in as the service's
// own role (BootstrapRoles made them). The pools close with the platform.
func (p *Platform) servicePools(ctx context.Context, adminURL string, roles dbroles.Set) (map[string]*pgxpool.Pool, error) {
	pools := map[string]*pgxpool.Pool{}
	for _, svc := range Services {
		if _, err := dbroles.Lookup(svc.Name); err != nil {
			return nil, err
		}
		u, err := roles.URL(adminURL, roles.Role(svc.Name))
		if err != nil {
			return nil, err
		}
		pool, err := pgxpool.New(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("%s database pool: %w", svc.Name, err)
		}
		p.cleanup = append(p.cleanup, pool.Close)
		pools[svc.Name] = pool
	}
	return pools, nil
}
