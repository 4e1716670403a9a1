// Package neontest makes the Neon test server (internal/neontest: Neon API
// v2, every request and answer validated against the OpenAPI definition,
// branches that are real databases) usable outside the database service,
// for end-to-end tests of the platform with DATABASE_DRIVER=neon. Start it
// with Options.AutoTick: the platform's driver waits on the real clock.
// Server.Settings is the database service's configuration against it.
package neontest

import (
	"testing"

	"clawdbot.cloud/services/neon/internal/neontest"
)

// Server is a running Neon test server; see internal/neontest.
type Server = neontest.Server

// Options configures a test server.
type Options = neontest.Options

// Call is one request the server answered.
type Call = neontest.Call

// Fault is an answer the server gives instead of carrying a request out.
type Fault = neontest.Fault

// BranchInfo is a branch as the server holds it.
type BranchInfo = neontest.BranchInfo

// New starts a server; everything it made is removed when the test ends.
func New(t testing.TB, o Options) *Server { return neontest.New(t, o) }
