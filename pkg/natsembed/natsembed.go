// Package natsembed runs a NATS server with JetStream inside the current
// process: the embedded default of `clawctl dev` and of every test.
package natsembed

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures an embedded server.
type Options struct {
	// Host and Port to listen on; Port -1 picks a free port.
	Host string
	Port int
	// StoreDir holds JetStream's files; it survives restarts.
	StoreDir string
	// MonitorPort serves /varz, /jsz and /healthz when positive, on
	// MonitorHost (default: Host).
	MonitorPort int
	MonitorHost string
	// Users, when given, are the only clients the server accepts, each
	// with its permissions (pkg/busauth builds them); none: no
	// authentication at all.
	Users []*server.User
}

// Start runs a server and waits until it accepts connections.
func Start(opts Options) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("natsembed: StoreDir is required")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	so := &server.Options{
		ServerName: "clawdbot-embedded",
		Host:       opts.Host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		Users:      opts.Users,
	}
	if opts.MonitorPort > 0 {
		so.HTTPHost = opts.Host
		if opts.MonitorHost != "" {
			so.HTTPHost = opts.MonitorHost
		}
		so.HTTPPort = opts.MonitorPort
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("natsembed: server on %s:%d not ready after 10s (port in use?)", opts.Host, opts.Port)
	}
	return s, nil
}
