// Package cluster runs the production topology of Clawdbot Cloud on one
// machine (`clawctl cluster`, `make run-cluster`): three nats-server
// processes forming a JetStream cluster (every stream at three replicas,
// TLS, the same users and permissions as dev mode), one Postgres, and
// Replicas processes of every service from its own binary, each logged in
// to the bus as its service's principal and to Postgres as its service's
// role. The replicas of a service share its durable consumers; the ingress
// and web replicas share their ports (SO_REUSEPORT).
//
// It reuses package platform's pieces (settings, data directory, bus
// credentials, encryption key, Postgres, roles, the services' dev
// configuration), so what `clawctl dev` runs in one process, this runs as
// separate processes.
package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/pgcluster"
	"clawdbot.cloud/pkg/service"
)

// SyncAlways is the JetStream sync setting the cluster runs with: every
// write is fsynced before it is acknowledged. Jepsen's analysis of NATS
// 2.12.1 lost acknowledged writes with the default (fsync every 2 minutes)
// when nodes crashed together (a power loss, a kernel crash): a write
// acknowledged by a quorum that had it only in the page cache was gone
// from all of them. The cost is measured by BenchmarkPublishAck.
const SyncAlways = "always"

// Options configures a cluster run.
type Options struct {
	// DataDir holds the NATS nodes' stores, Postgres, the bus credentials,
	// the encryption key, each service's directory and the logs (logs/).
	DataDir string
	// Env is the configuration source (platform.LoadSettings reads it; its
	// non-empty values win over the services' dev defaults).
	Env func(string) (string, bool)
	// Environ is the base environment of every child process; nil: this
	// process's. Each child gets its own bus principal, database role, ops
	// address and the cluster's settings on top.
	Environ []string
	Log     *slog.Logger
	// BinDir holds nats-server and every service's binary (make build);
	// empty: the directory of the clawctl executable.
	BinDir string
	// Replicas is the number of processes of every service; 0 means 2.
	Replicas int
	// Sync is the nodes' JetStream sync_interval; empty means SyncAlways.
	Sync string
	// Ports are the listening ports; zero fields take DefaultPorts'.
	Ports Ports
	// StartTimeout bounds how long Start waits for every process to be
	// ready; 0 means 2 minutes.
	StartTimeout time.Duration
	// NoRestart leaves a crashed service replica down (its partner
	// carries on); by default it is started again after a backoff.
	NoRestart bool
	// RestartNATS starts a NATS node that exits again after a backoff; by
	// default it stays down until Process.Restart (the chaos run decides
	// when the node comes back).
	RestartNATS bool
}

// Ports are the cluster's loopback ports.
type Ports struct {
	// Client, Route and Monitor are the NATS nodes' client, cluster-route
	// and monitoring (/varz, /jsz, /healthz) ports.
	Client, Route, Monitor [Nodes]int
	// Ops is the ops port of replica r (from 1) of the i-th service of
	// platform.Services.
	Ops func(i, r int) int
}

// DefaultPorts are 4222-4224 (clients), 6222-6224 (routes), 8222-8224
// (monitoring) and, for the services' ops endpoints, 9101 upwards: two
// consecutive ports per service in platform.Services order.
func DefaultPorts(replicas int) Ports {
	return Ports{
		Client:  [Nodes]int{4222, 4223, 4224},
		Route:   [Nodes]int{6222, 6223, 6224},
		Monitor: [Nodes]int{8222, 8223, 8224},
		Ops:     func(i, r int) int { return 9101 + i*replicas + r - 1 },
	}
}

// Cluster is a running cluster.
type Cluster struct {
	// IngressURL and WebURL are the public edge and the web app.
	IngressURL, WebURL string
	// WebhookSecret is the Stripe webhook secret the ingress verifies.
	WebhookSecret string
	// NATSURLs lists every node (comma-separated, as the NATS CLI's
	// --server takes it); NATSCA is the CA file clients verify them with.
	NATSURLs, NATSCA string
	// Sync is the nodes' JetStream sync_interval.
	Sync string
	// DatabaseURL is the control-plane database (as its admin).
	DatabaseURL string
	// AuthDir holds the principals' password files.
	AuthDir string

	log      *slog.Logger
	creds    busauth.Credentials
	nodes    []*Process
	services []*Process
	stopPG   func()
	pgDir    string // the private Postgres cluster's directory; empty with DATABASE_URL
}

// Start brings up the NATS cluster, Postgres and every replica of every
// service, and returns once each replica answers /readyz and the ingress
// and web app accept connections. On failure it stops what it started.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	s, err := platform.LoadSettings(platform.Options{DataDir: o.DataDir, Env: o.Env})
	if err != nil {
		return nil, err
	}
	o.defaults()
	if !s.BusAuth || s.NATSURL != "" {
		return nil, errors.New("the cluster runs its own authenticated NATS: unset NATS_URL and CLAW_BUS_AUTH")
	}
	c := &Cluster{log: o.Log, WebhookSecret: s.WebhookSecret, Sync: o.Sync,
		IngressURL: "http://" + s.IngressAddr, WebURL: "http://" + s.WebAddr,
		AuthDir: filepath.Join(s.DataDir, platform.NATSAuthDir)}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := portsFree(o.Ports, s); err != nil {
		return nil, err
	}
	if err := platform.PrepareDataDir(s.DataDir); err != nil {
		return nil, err
	}
	if c.creds, err = platform.BusCredentials(s); err != nil {
		return nil, err
	}
	if err := c.startNATS(ctx, s, o); err != nil {
		return nil, err
	}
	if err := c.setupStreams(ctx, o); err != nil {
		return nil, err
	}
	c.DatabaseURL = s.DatabaseURL
	if c.DatabaseURL == "" {
		if c.DatabaseURL, c.stopPG, err = platform.StartPostgres(ctx, s.DataDir, o.Log); err != nil {
			return nil, err
		}
		c.pgDir = filepath.Join(s.DataDir, "postgres")
	}
	if err := c.startServices(ctx, s, o); err != nil {
		return nil, err
	}
	return c, nil
}

func (o *Options) defaults() {
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	if o.Sync == "" {
		o.Sync = SyncAlways
	}
	if o.BinDir == "" {
		o.BinDir = filepath.Dir(platform.DefaultBinary("clawctl"))
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	def := DefaultPorts(o.Replicas)
	for _, p := range []struct{ got, def *[Nodes]int }{{&o.Ports.Client, &def.Client}, {&o.Ports.Route, &def.Route}, {&o.Ports.Monitor, &def.Monitor}} {
		if *p.got == [Nodes]int{} {
			*p.got = *p.def
		}
	}
	if o.Ports.Ops == nil {
		o.Ports.Ops = def.Ops
	}
}

// startNATS starts the three nodes in the data directory's nats-cluster/.
func (c *Cluster) startNATS(ctx context.Context, s platform.Settings, o Options) error {
	n, err := StartNATS(ctx, NATSOptions{Dir: filepath.Join(s.DataDir, natsDir), BinDir: o.BinDir, Creds: c.creds,
		Ports: o.Ports, Sync: o.Sync, Environ: o.Environ, Log: c.log, LogDir: filepath.Join(s.DataDir, "logs"),
		Restart: o.RestartNATS})
	if n != nil {
		c.nodes, c.NATSURLs, c.NATSCA = n.Nodes, n.URLs, n.CA
	}
	return err
}

// setupStreams creates (or, after a restart, checks) the streams at three
// replicas as the operator before any service starts (only the saga and the operator may create
// them; the other services wait for them).
func (c *Cluster) setupStreams(ctx context.Context, o Options) error {
	cfg := config.New(o.Env)
	opts := service.StreamOptions(cfg, Nodes)
	if err := cfg.Err(); err != nil {
		return err
	}
	b, err := bus.Connect(ctx, c.NATSURLs, "clawctl", c.log, nil, c.BusOptions(busauth.Operator)...)
	if err != nil {
		return err
	}
	defer b.Close()
	// After a restart each stream's nodes elect its leader again; until
	// then stream requests time out.
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := b.Setup(ctx, opts)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		c.log.Info("streams not ready yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// BusOptions connect to the cluster as principal (busauth.Operator for
// tools and tests).
func (c *Cluster) BusOptions(principal string) []bus.Option {
	return []bus.Option{bus.WithCredentials(principal, c.creds[principal]), bus.WithTLSCA(c.NATSCA)}
}

// Processes returns the service's replicas (the NATS nodes for "nats"),
// in replica order.
func (c *Cluster) Processes(svc string) []*Process {
	if svc == "nats" {
		return c.nodes
	}
	var out []*Process
	for _, p := range c.services {
		if p.Service == svc {
			out = append(out, p)
		}
	}
	return out
}

// RestartPostgres restarts the cluster's own Postgres on its port, with an
// immediate shutdown when crash is set (every session cut, no checkpoint,
// WAL recovery at start: what a crash of the server does). It fails when
// the cluster runs against DATABASE_URL.
func (c *Cluster) RestartPostgres(ctx context.Context, crash bool) error {
	if c.pgDir == "" {
		return errors.New("the cluster does not run its own Postgres (DATABASE_URL is set)")
	}
	return pgcluster.RestartDir(ctx, c.pgDir, crash, c.log)
}

// Restarts counts, by process name, the times each process was started
// again after it exited (only those started again at least once).
func (c *Cluster) Restarts() map[string]int {
	out := map[string]int{}
	for _, p := range append(append([]*Process{}, c.nodes...), c.services...) {
		if n := p.Restarts(); n > 0 {
			out[p.Name] = n
		}
	}
	return out
}

// Stop stops every service replica (in parallel, each given time to drain;
// the compute service stops its customers' runtimes), then the NATS nodes,
// then Postgres.
func (c *Cluster) Stop() {
	stopAll(c.services, 45*time.Second)
	c.services = nil
	stopAll(c.nodes, 30*time.Second)
	c.nodes = nil
	if c.stopPG != nil {
		c.stopPG()
		c.stopPG = nil
	}
}

func stopAll(ps []*Process, grace time.Duration) {
	done := make(chan struct{}, len(ps))
	for _, p := range ps {
		go func() {
			p.stop(grace)
			done <- struct{}{}
		}()
	}
	for range ps {
		<-done
	}
}

// portsFree fails, naming the first, when a port the cluster listens on is
// taken: another nats-server would answer on it (clawctl dev's, say) and
// the cluster would wait for a JetStream it cannot reach.
func portsFree(p Ports, s platform.Settings) error {
	addrs := []string{s.IngressAddr, s.WebAddr}
	for i := range Nodes {
		addrs = append(addrs, loopback(p.Client[i]), loopback(p.Route[i]), loopback(p.Monitor[i]))
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("%s is taken (is clawctl dev or another cluster running?): %w", a, err)
		}
		ln.Close()
	}
	return nil
}

// keyText is the encryption key as CLAW_ENCRYPTION_KEY takes it.
func keyText(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
