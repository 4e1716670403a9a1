package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/busauth/serverconf"
)

func newNATSAuthCmd() *cobra.Command {
	var o natsAuthOptions
	cmd := &cobra.Command{
		Use:   "nats-auth --out DIR",
		Short: "Write the NATS users (server config with bcrypt hashes), each service's password and TLS certificates for deploy/",
		Long: `Writes, into --out (0700):
  auth.conf              the server's users: one per service and the operator, bcrypt password
                         hashes and least-privilege permissions (pkg/busauth); included by
                         deploy/nats/cluster.conf
  <principal>.password   each principal's password (0600): a Docker secret per service, and the
                         operator's for clawctl and the NATS CLI
  ca.pem, server.pem, server-key.pem
                         with --tls-hosts: a private CA and the servers' certificate (clients and
                         routes; mutual TLS between the cluster's nodes)
Existing passwords are kept (the config is rewritten from them) unless --rotate. Nothing
secret is printed.`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.out == "" {
				return usageErrorf("nats-auth: --out is required")
			}
			return natsAuthWrite(cmd.OutOrStdout(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.out, "out", "", "directory to write into (created 0700)")
	fs.BoolVar(&o.rotate, "rotate", false, "generate new passwords for every principal")
	fs.StringVar(&o.tlsHosts, "tls-hosts", "", "comma-separated names (and IPs) of the NATS servers: write TLS files for them")
	fs.DurationVar(&o.tlsValid, "tls-valid", 2*365*24*time.Hour, "validity of the TLS certificates")
	return cmd
}

// natsAuthOptions are nats-auth's flags.
type natsAuthOptions struct {
	out, tlsHosts string
	rotate        bool
	tlsValid      time.Duration
}

func natsAuthWrite(w io.Writer, o natsAuthOptions) error {
	names := busauth.Platform()
	if o.rotate {
		for _, n := range names {
			if err := os.Remove(busauth.PasswordFile(o.out, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	creds, err := busauth.LoadOrCreate(o.out, names)
	if err != nil {
		return err
	}
	users, err := serverconf.Users(creds, serverconf.Cost)
	if err != nil {
		return err
	}
	conf := filepath.Join(o.out, "auth.conf")
	f, err := os.OpenFile(conf, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) // #nosec G304 -- the operator's --out
	if err != nil {
		return err
	}
	if err := serverconf.WriteConfig(f, users); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (%d users) and %d password files in %s\n", conf, len(users), len(names), o.out)
	if o.tlsHosts != "" {
		var hosts []string
		for _, h := range strings.Split(o.tlsHosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hosts = append(hosts, h)
			}
		}
		if len(hosts) == 0 {
			return usageErrorf("nats-auth: --tls-hosts names no host")
		}
		if err := serverconf.WriteTLS(o.out, hosts, o.tlsValid); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s, %s and %s for %s\n", serverconf.CAFile, serverconf.CertFile, serverconf.KeyFile, strings.Join(hosts, ", "))
	}
	return nil
}
