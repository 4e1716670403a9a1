package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"clawdbot.cloud/pkg/dbroles"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon"
)

// roleSecretEnv names the platform secret the roles' passwords derive from.
const roleSecretEnv = "CLAW_DB_ROLE_SECRET"

// newDBCmd is db bootstrap|url.
func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db bootstrap|url",
		Short: "Create the least-privilege Postgres roles (production) and print their URLs",
		Long: `bootstrap creates or updates, idempotently, every service's role on the
control-plane database (clawsvc_<service>: its own schema, the secrets its
reference prefixes allow, nothing else; PUBLIC closed) and, with
--customer-admin-url, the customer-database server's admin role
(clawsvc_customer_admin: CREATEROLE, CREATEDB, not superuser).
url SERVICE prints the postgres URL SERVICE (or customer_admin) logs in
with: a credential, for the service's secret store, never for a log.

Passwords derive from ` + roleSecretEnv + ` (base64 of 32 random bytes,
openssl rand -base64 32), which only the operator and this command hold:
a service holding it could derive its neighbours' passwords.`,
		Args: noSubcommand,
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(newDBBootstrapCmd(), newDBURLCmd())
	return cmd
}

// roleSet reads the role secret from the environment.
func roleSet() (dbroles.Set, error) {
	text := os.Getenv(roleSecretEnv)
	if text == "" {
		return dbroles.Set{}, usageError{fmt.Errorf("%s is not set (openssl rand -base64 32)", roleSecretEnv)}
	}
	secret, err := secrets.ParseKey(text)
	if err != nil {
		return dbroles.Set{}, usageError{fmt.Errorf("%s: %w", roleSecretEnv, err)}
	}
	return dbroles.Set{Secret: secret}, nil
}

func newDBBootstrapCmd() *cobra.Command {
	var controlURL, customerURL string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Create or update the services' roles (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := roleSet()
			if err != nil {
				return err
			}
			if controlURL == "" {
				return usageError{errors.New("--control-admin-url (or CONTROL_DB_ADMIN_URL) is required")}
			}
			ctx := cmd.Context()
			if err := bootstrap(ctx, controlURL, func(c *pgx.Conn) error { return set.Bootstrap(ctx, c) }); err != nil {
				return fmt.Errorf("control-plane database: %w", err)
			}
			for _, s := range dbroles.Services {
				fmt.Fprintf(cmd.OutOrStdout(), "role %s: schemas %v\n", set.Role(s.Name), s.Schemas)
			}
			if customerURL != "" {
				err := bootstrap(ctx, customerURL, func(c *pgx.Conn) error {
					return set.BootstrapCustomerAdmin(ctx, c, neon.TemplateDatabase)
				})
				if err != nil {
					return fmt.Errorf("customer-database server: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "role %s: CREATEROLE CREATEDB\n", set.CustomerAdmin())
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&controlURL, "control-admin-url", os.Getenv("CONTROL_DB_ADMIN_URL"), "superuser (or CREATEROLE owner) URL of the control-plane database")
	fs.StringVar(&customerURL, "customer-admin-url", os.Getenv("CUSTOMER_DB_SUPERUSER_URL"), "superuser URL of the customer-database server (optional)")
	return cmd
}

// bootstrap runs fn on a connection to connURL.
func bootstrap(ctx context.Context, connURL string, fn func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err // pgconn redacts the password
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	return fn(conn)
}

func newDBURLCmd() *cobra.Command {
	var base string
	cmd := &cobra.Command{
		Use:   "url SERVICE",
		Short: "Print the postgres URL a service (or customer_admin) logs in with",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := roleSet()
			if err != nil {
				return err
			}
			role := set.CustomerAdmin()
			if args[0] != "customer_admin" {
				if _, err := dbroles.Lookup(args[0]); err != nil {
					return usageError{err}
				}
				role = set.Role(args[0])
			}
			u, err := set.URL(base, role)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), u)
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "base", "postgres://control-db:5432/clawdbot?sslmode=disable", "the server and database the URL names")
	return cmd
}
