// Package natstest gives tests a real NATS server with JetStream, embedded in
// the test binary and stored in the test's temporary directory.
//
// Authentication is on, as in the platform: the server knows every
// principal of pkg/busauth with its permissions, and nothing else connects.
// The passwords are generated once per test binary (Credentials); services
// under test connect as their own principal (servicetest does), assertions
// and simulated services as busauth.Test.
package natstest

import (
	"net/url"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/busauth/serverconf"
	"clawdbot.cloud/pkg/natsembed"
)

var auth = sync.OnceValues(func() (busauth.Credentials, []*server.User) {
	creds, err := busauth.Generate(append(busauth.Platform(), busauth.Test))
	if err != nil {
		panic(err)
	}
	// The least bcrypt cost: the passwords are random, and tests connect often.
	users, err := serverconf.Users(creds, bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return creds, users
})

// Credentials are the passwords of every principal on the test servers.
func Credentials() busauth.Credentials {
	c, _ := auth()
	return c
}

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
	_, users := auth()
	s, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: dir, Users: users})
	if err != nil {
		t.Fatalf("natstest: cannot start embedded NATS: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// URL starts a server and returns its client URL with the test principal's
// credentials in it, for a test that connects with nats.Connect.
func URL(t testing.TB) string {
	t.Helper()
	return WithTestUser(Server(t).ClientURL())
}

// WithTestUser returns the client URL u carrying the test principal's
// credentials.
func WithTestUser(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	p.User = url.UserPassword(busauth.Test, Credentials()[busauth.Test])
	return p.String()
}
