package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
)

// natsAuth is how clawctl authenticates on the bus: as the operator by
// default, with the password clawctl dev generated into its data directory.
type natsAuth struct {
	user, passwordFile, ca string
}

// defaultOperatorPassword is the operator's password file of `clawctl dev`
// run from this directory.
var defaultOperatorPassword = busauth.PasswordFile(filepath.Join(".data", platform.NATSAuthDir), busauth.Operator)

// natsAuthFlags are --nats-user, --nats-password-file and --nats-ca.
func natsAuthFlags(fs *pflag.FlagSet, a *natsAuth) {
	fs.StringVar(&a.user, "nats-user", envOr("NATS_USER", busauth.Operator), "NATS user (env NATS_USER)")
	fs.StringVar(&a.passwordFile, "nats-password-file", envOr("NATS_PASSWORD_FILE", defaultOperatorPassword),
		"file holding the NATS password (env NATS_PASSWORD_FILE; env NATS_PASSWORD wins)")
	fs.StringVar(&a.ca, "nats-ca", os.Getenv("NATS_CA"), "CA certificate (PEM) of the NATS server's TLS (env NATS_CA)")
}

// options are the bus options for a; none when natsURL carries its own
// credentials, or when no password is given and the default file is
// absent (a bus without authentication).
func (a natsAuth) options(natsURL string) ([]bus.Option, error) {
	opts := []bus.Option{bus.WithTLSCA(a.ca)}
	if u, err := url.Parse(natsURL); err == nil && u.User != nil {
		return opts, nil
	}
	pw := os.Getenv("NATS_PASSWORD")
	if pw == "" {
		var err error
		pw, err = busauth.ReadPassword(a.passwordFile)
		switch {
		case errors.Is(err, fs.ErrNotExist) && a.passwordFile == defaultOperatorPassword:
			return opts, nil
		case err != nil:
			return nil, err
		}
	}
	return append(opts, bus.WithCredentials(a.user, pw)), nil
}

// connectBus connects clawctl to the bus at natsURL.
func connectBus(ctx context.Context, natsURL string, a natsAuth) (*bus.Bus, error) {
	opts, err := a.options(natsURL)
	if err != nil {
		return nil, err
	}
	return bus.Connect(ctx, natsURL, "clawctl", slog.New(slog.DiscardHandler), nil, opts...)
}
