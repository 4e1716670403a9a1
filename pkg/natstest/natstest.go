// Package natstest gives tests a real NATS server with JetStream, embedded in
// the test binary and stored in the test's temporary directory.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"clawdbot.cloud/pkg/natsembed"
)

// Server starts an embedded JetStream server on a free loopback port and
// shuts it down when the test ends.
func Server(t testing.TB) *server.Server {
	t.Helper()
	return ServerAt(t, t.TempDir())
}

// ServerAt starts a server storing JetStream in dir, so a test can restart a
// server on the same data.
func ServerAt(t testing.TB, dir string) *server.Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatalf("natstest: cannot start embedded NATS: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// URL starts a server and returns its client URL.
func URL(t testing.TB) string {
	t.Helper()
	return Server(t).ClientURL()
}
