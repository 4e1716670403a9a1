package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"clawdbot.cloud/cmd/clawctl/internal/cluster"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/service"
)

func newClusterCmd() *cobra.Command {
	var (
		dataDir     string
		replicas    int
		sync        string
		noRestart   bool
		restartNATS bool
	)
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run the production topology on this machine (what make run-cluster does)",
		Long: `cluster runs three nats-server processes forming a JetStream cluster (every stream at three
replicas, fsync on every write), one Postgres, and two processes of every service from its own
binary in the directory of clawctl (make build puts them there), each on the bus as its own
principal and in Postgres as its own role. A service replica that crashes is started again
after a backoff (1/2 s, doubling up to 30 s), its restarts counted in the log and printed at the
end. Ctrl-C stops everything. docs/runbooks/run-cluster.md`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCluster(cmd.Context(), cmd.OutOrStdout(), cluster.Options{DataDir: dataDir, Replicas: replicas, Sync: sync,
				NoRestart: noRestart, RestartNATS: restartNATS})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", ".data-cluster", "data directory (env CLAW_DATA_DIR wins)")
	cmd.Flags().IntVar(&replicas, "replicas", 2, "processes of every service")
	cmd.Flags().StringVar(&sync, "sync", cluster.SyncAlways, `JetStream sync_interval of the nodes: "always" or a duration such as 2m (NATS's default)`)
	cmd.Flags().BoolVar(&noRestart, "no-restart", false, "leave a crashed service replica down (by default it is started again after a backoff)")
	cmd.Flags().BoolVar(&restartNATS, "restart-nats", false, "start a NATS node that exits again after a backoff (by default it stays down)")
	return cmd
}

func runCluster(ctx context.Context, w io.Writer, o cluster.Options) error {
	dataDir, replicas, sync := o.DataDir, o.Replicas, o.Sync
	if replicas < 1 {
		return usageErrorf("cluster: --replicas must be at least 1")
	}
	if _, err := time.ParseDuration(sync); sync != cluster.SyncAlways && err != nil {
		return usageErrorf("cluster: --sync is %q or a duration such as 2m", cluster.SyncAlways)
	}
	format := os.Getenv("LOG_FORMAT")
	if format == "" {
		format = "text"
	}
	log := service.NewLogger(format, "")
	o.Env, o.Log = os.LookupEnv, log
	c, err := cluster.Start(ctx, o)
	if err != nil {
		return err
	}
	dir := envOr("CLAW_DATA_DIR", dataDir)
	fmt.Fprintf(w, `
Clawdbot Cloud is running as a cluster (Ctrl-C stops everything).
  web app (sign up, dashboard)                 %s  (every web replica, SO_REUSEPORT)
  ingress (Stripe webhooks, provisioning API)  %s  (every ingress replica, SO_REUSEPORT)
  NATS (3 nodes, streams R3, sync %s)      %s
    CA %s; operator's password in %s
  control-plane database                       %s
  Stripe webhook secret                        %s
`, c.WebURL, c.IngressURL, c.Sync, c.NATSURLs, c.NATSCA, busauth.PasswordFile(c.AuthDir, busauth.Operator), redact(c.DatabaseURL), c.WebhookSecret)
	if c.WebhookSecret == platform.DevWebhookSecret {
		fmt.Fprintln(w, "    (the dev default; set STRIPE_WEBHOOK_SECRET for anything real)")
	}
	if os.Getenv("ADMIN_TOKEN") == "" {
		fmt.Fprintf(w, "  admin token (clawctl customer/sagas/…)        %s (dev default)\n", platform.DevAdminToken)
	}
	fmt.Fprintf(w, "  processes (logs in %s):\n", filepath.Join(dir, "logs"))
	for _, p := range c.Processes("nats") {
		fmt.Fprintf(w, "    %-12s pid %-7d monitoring http://%s\n", p.Name, p.PID(), p.OpsAddr)
	}
	for _, s := range platform.Services {
		for _, p := range c.Processes(s.Name) {
			fmt.Fprintf(w, "    %-12s pid %-7d ops http://%s\n", p.Name, p.PID(), p.OpsAddr)
		}
	}
	fmt.Fprintf(w, "\nOpen %s to sign up in the browser, or: go run ./cmd/clawctl signup --email ada@example.com --plan pro\n\n", c.WebURL)
	<-ctx.Done()
	fmt.Fprintln(w, "stopping…")
	restarts := c.Restarts()
	c.Stop()
	printRestarts(w, restarts)
	return nil
}

// printRestarts lists the processes the supervisor started again.
func printRestarts(w io.Writer, restarts map[string]int) {
	if len(restarts) == 0 {
		fmt.Fprintln(w, "no process was restarted")
		return
	}
	names := slices.Sorted(maps.Keys(restarts))
	fmt.Fprintln(w, "restarted by the supervisor:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %d\n", n, restarts[n])
	}
}
