// Package railwaytest makes the Railway test server
// (internal/railwaytest: Railway's GraphQL API, every request validated
// against the published schema) usable outside the compute service, for
// end-to-end tests of the platform with COMPUTE_DRIVER=railway.
//
// With Options.RuntimeBinary set, the server also plays Railway's
// containers: a successful deployment runs the real runtime as a local
// process with the service's variables, and the service's domain is that
// process's 127.0.0.1:<port>, so the platform's health check reaches it
// (over http: Settings sets RAILWAY_DOMAIN_SCHEME=http).
package railwaytest

import (
	"testing"

	"clawdbot.cloud/services/railway/internal/railwaytest"
)

// Server is a running Railway test server; see internal/railwaytest.
type Server = railwaytest.Server

// Options describe the Railway account the server plays.
type Options = railwaytest.Options

// Call is one request the server received.
type Call = railwaytest.Call

// Fault is a failure the server injects.
type Fault = railwaytest.Fault

// ServiceView is a live service as the server holds it.
type ServiceView = railwaytest.ServiceView

// New starts a server, closed (and its runtime processes stopped) when the
// test ends.
func New(t testing.TB, o Options) *Server { return railwaytest.New(t, o) }

// Settings is the compute service's configuration for the railway driver
// against s, whose account is o (the Options s was started with), with
// image as the runtime image and pollInterval between looks at a
// deployment.
func Settings(s *Server, o Options, image, pollInterval string) map[string]string {
	kind := o.TokenKind
	if kind == "" {
		kind = "account"
	}
	env := map[string]string{
		"COMPUTE_DRIVER":         "railway",
		"RAILWAY_API_URL":        s.URL,
		"RAILWAY_TOKEN":          o.Token,
		"RAILWAY_TOKEN_KIND":     kind,
		"RAILWAY_PROJECT_ID":     o.ProjectID,
		"RAILWAY_ENVIRONMENT_ID": o.EnvironmentID,
		"RAILWAY_RUNTIME_IMAGE":  image,
		"RAILWAY_POLL_INTERVAL":  pollInterval,
	}
	if o.RuntimeBinary != "" {
		env["RAILWAY_DOMAIN_SCHEME"] = "http"
	}
	return env
}
