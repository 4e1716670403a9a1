package platform

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/busauth/serverconf"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/service"
)

// NATSAuthDir is where, under the data directory, the platform keeps the
// bus principals' passwords (0700, files 0600; never printed): generated at
// the first start, read at every later one. The operator's password there
// is what clawctl and the NATS CLI use (docs/runbooks/nats-auth.md).
const NATSAuthDir = "nats-auth"

// BusCredentials returns the principals' passwords, or nil when CLAW_BUS_AUTH
// is off (only for measuring the authenticated bus's overhead).
func BusCredentials(s Settings) (busauth.Credentials, error) {
	if !s.BusAuth {
		return nil, nil
	}
	c, err := busauth.LoadOrCreate(filepath.Join(s.DataDir, NATSAuthDir), busauth.Platform())
	if err != nil {
		return nil, fmt.Errorf("bus credentials: %w", err)
	}
	return c, nil
}

// natsUsers are the embedded server's users for creds (none: no auth).
// Their bcrypt hashes use the least cost: they live only in this process's
// memory, and the passwords are 256 random bits, which no cost factor makes
// any harder to guess; the server checks a hash on every connection, and at
// the default cost nine services connecting at once on a loaded machine
// (or under the race detector) outwait the client's 2 s connect timeout.
func natsUsers(creds busauth.Credentials) ([]*server.User, error) {
	if creds == nil {
		return nil, nil
	}
	return serverconf.Users(creds, bcrypt.MinCost)
}

// BusOptions are the options that connect to the platform's bus as principal
// (busauth.Operator for tools and tests).
func (p *Platform) BusOptions(principal string) []bus.Option {
	if p.natsCreds == nil {
		return nil
	}
	return []bus.Option{bus.WithCredentials(principal, p.natsCreds[principal])}
}

// NATSPassword is principal's password on the platform's bus ("" without
// authentication), for tools such as the NATS CLI.
func (p *Platform) NATSPassword(principal string) string { return p.natsCreds[principal] }

// setupStreams creates the streams as the operator before any service
// starts: only the saga's and the operator's principals may create them,
// and the other services wait for them.
func (p *Platform) setupStreams(ctx context.Context, cfg *config.Loader) error {
	opts := service.StreamOptions(cfg, 1)
	if err := cfg.Err(); err != nil {
		return err
	}
	b, err := bus.Connect(ctx, p.NATSURL, "clawctl", p.log, nil, p.BusOptions(busauth.Operator)...)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.Setup(ctx, opts)
}

// userIf is name when the bus has credentials, else "" (no authentication).
func userIf(creds busauth.Credentials, name string) string {
	if creds == nil {
		return ""
	}
	return name
}
