package cluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/nats-io/nats.go"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"golang.org/x/crypto/bcrypt"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/busauth/serverconf"
)

// Nodes is the size of the JetStream cluster, and the streams' replicas.
const Nodes = 3

// natsDir is where, under the data directory, the cluster keeps its nodes'
// configuration, TLS files and JetStream stores.
const natsDir = "nats-cluster"

// nodeConf is one node's configuration: deploy/nats/cluster.conf on
// loopback ports, with the same users (include ./auth.conf), client TLS and
// mutual TLS on the routes, and the JetStream sync setting the cluster
// runs with (see SyncAlways).
var nodeConf = template.Must(template.New("node").Parse(`# Written by clawctl cluster at every start; edits are lost.
server_name: {{.Name}}
listen: {{.Client}}
http: {{.Monitor}}
tls {
  cert_file: "{{.TLS}}/server.pem"
  key_file: "{{.TLS}}/server-key.pem"
  ca_file: "{{.TLS}}/ca.pem"
  timeout: 2
}
include ./auth.conf
max_payload: 2MB
jetstream {
  store_dir: "{{.Store}}"
  sync_interval: {{.Sync}}
  max_memory_store: 256MB
  max_file_store: 10GB
}
cluster {
  name: clawdbot-local
  listen: {{.Route}}
  tls {
    cert_file: "{{.TLS}}/server.pem"
    key_file: "{{.TLS}}/server-key.pem"
    ca_file: "{{.TLS}}/ca.pem"
    verify: true
    timeout: 2
  }
  routes: [{{range .Routes}}
    nats-route://{{.}}{{end}}
  ]
  connect_retries: 120
}
`))

// natsFiles writes the nodes' configuration under dir: a fresh CA and
// server certificate for 127.0.0.1 (the CA's key is not kept, so each start
// makes new ones and clients take the new ca.pem), auth.conf with every
// principal's hash and permissions, and one n<i>.conf per node. It returns
// the configuration files and the CA file.
func natsFiles(dir string, creds busauth.Credentials, ports Ports, sync string) (confs []string, ca string, err error) {
	tlsDir := filepath.Join(dir, "tls")
	if err := serverconf.WriteTLS(tlsDir, []string{"127.0.0.1", "localhost"}, 365*24*time.Hour); err != nil {
		return nil, "", fmt.Errorf("NATS TLS: %w", err)
	}
	// The hashes use the least bcrypt cost, as dev mode's do: the
	// passwords are 256 random bits, which no cost makes harder to guess,
	// and every node checks a hash on each of the services' connections.
	users, err := serverconf.Users(creds, bcrypt.MinCost)
	if err != nil {
		return nil, "", err
	}
	var auth bytes.Buffer
	if err := serverconf.WriteConfig(&auth, users); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), auth.Bytes(), 0o600); err != nil {
		return nil, "", err
	}
	routes := make([]string, Nodes)
	for i := range Nodes {
		routes[i] = loopback(ports.Route[i])
	}
	for i := range Nodes {
		name := "n" + strconv.Itoa(i+1)
		var b bytes.Buffer
		err := nodeConf.Execute(&b, map[string]any{
			"Name": name, "Client": loopback(ports.Client[i]), "Monitor": loopback(ports.Monitor[i]),
			"Route": loopback(ports.Route[i]), "Routes": routes, "TLS": tlsDir,
			"Store": filepath.Join(dir, name), "Sync": sync,
		})
		if err != nil {
			return nil, "", err
		}
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			return nil, "", err
		}
		confs = append(confs, path)
	}
	return confs, filepath.Join(tlsDir, serverconf.CAFile), nil
}

// NATSOptions configures StartNATS.
type NATSOptions struct {
	// Dir holds the nodes' configuration, TLS files and stores.
	Dir string
	// BinDir holds nats-server.
	BinDir string
	// Creds are the principals the nodes accept (the operator's is used to
	// wait for JetStream).
	Creds busauth.Credentials
	// Ports: Client, Route and Monitor are used.
	Ports Ports
	// Sync is the JetStream sync_interval ("always" or a duration).
	Sync string
	// Environ is the nodes' environment.
	Environ []string
	Log     *slog.Logger
	// LogDir receives nats-<n>.log.
	LogDir string
	// Restart starts a node that exits again (after a backoff); without
	// it a node stays down until Process.Restart.
	Restart bool
}

// NATS is a running three-node JetStream cluster.
type NATS struct {
	// Nodes are the nats-server processes.
	Nodes []*Process
	// URLs lists the nodes' client URLs, comma-separated; CA verifies them.
	URLs, CA string
}

// StartNATS writes the nodes' files and starts the three nodes, returning
// once the cluster answers JetStream requests. On error the nodes started
// are returned, for the caller to stop.
func StartNATS(ctx context.Context, o NATSOptions) (*NATS, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	confs, ca, err := natsFiles(o.Dir, o.Creds, o.Ports, o.Sync)
	if err != nil {
		return nil, err
	}
	n := &NATS{CA: ca, URLs: joinURLs(o.Ports.Client)}
	bin := filepath.Join(o.BinDir, "nats-server")
	if _, err := os.Stat(bin); err != nil {
		return n, fmt.Errorf("nats-server: %w (run `make build`)", err)
	}
	for i, conf := range confs {
		name := "nats-" + strconv.Itoa(i+1)
		p := newProcess(name, "nats", i+1, loopback(o.Ports.Monitor[i]), filepath.Join(o.LogDir, name+".log"), o.Log, o.Restart)
		if err := p.start(bin, []string{"-c", conf}, o.Environ); err != nil {
			return n, err
		}
		n.Nodes = append(n.Nodes, p)
	}
	for i, p := range o.Ports.Client {
		if err := platform.WaitTCP(ctx, loopback(p), 30*time.Second); err != nil {
			return n, fmt.Errorf("NATS node %d (log %s): %w", i+1, n.Nodes[i].LogPath, err)
		}
	}
	return n, awaitJetStream(ctx, natsURL(o.Ports.Client[0]), ca, busauth.Operator, o.Creds[busauth.Operator], 60*time.Second)
}

// Stop stops the nodes.
func (n *NATS) Stop() { stopAll(n.Nodes, 30*time.Second) }

// awaitJetStream waits until the cluster answers JetStream requests (a
// meta leader is elected), asking through url as user.
func awaitJetStream(ctx context.Context, url, ca, user, password string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.RootCAs(ca), nats.CustomInboxPrefix(bus.InboxPrefix(user)), nats.Timeout(2*time.Second))
		if err == nil {
			js, jerr := nc.JetStream()
			if jerr == nil {
				_, jerr = js.AccountInfo(nats.MaxWait(2 * time.Second))
			}
			nc.Close()
			if jerr == nil {
				return nil
			}
			err = jerr
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the NATS cluster did not answer JetStream requests within %v: %w", timeout, last)
}

// loopback is 127.0.0.1:port.
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// natsURL is the client URL of a node.
func natsURL(port int) string { return "tls://" + loopback(port) }

// joinURLs is the comma-separated list of the nodes' URLs (what the NATS
// CLI's --server takes).
func joinURLs(ports [Nodes]int) string {
	u := make([]string, len(ports))
	for i, p := range ports {
		u[i] = natsURL(p)
	}
	return strings.Join(u, ",")
}
