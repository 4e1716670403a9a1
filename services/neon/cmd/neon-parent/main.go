// Command neon-parent prepares the Neon parent branch every customer branch
// starts from: it migrates the parent's database to the customer schema of
// this build (pkg/customerdb). Run it once when setting the project up and
// again after a release that adds a customerdb migration:
//
//	NEON_PARENT_DATABASE_URL='postgresql://<NEON_ROLE_NAME>:<password>@<parent endpoint host>/<NEON_DATABASE_NAME>?sslmode=require' \
//	    go run ./services/neon/cmd/neon-parent
//
// The URL is the parent branch's direct (not pooled) connection string for
// the customer role, read from the environment so it never appears in the
// process list or the shell history.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/neon/internal/adapters/neon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "neon-parent:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	u := os.Getenv("NEON_PARENT_DATABASE_URL")
	if u == "" {
		return errors.New("NEON_PARENT_DATABASE_URL is required: the parent branch's direct URL for the customer role")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("connect to the parent branch: %w", err) // pgconn never quotes the password
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := neon.PrepareParent(ctx, conn); err != nil {
		return err
	}
	fmt.Printf("parent branch migrated to customerdb version %d\n", customerdb.LatestVersion())
	return nil
}
