// Package dbroles is the control-plane database's least-privilege roles:
// one LOGIN role per service (clawsvc_<service>), owning only its own
// schema, reading and writing in the shared secret store only the secrets
// under the reference prefixes it needs (row-level security), and nothing
// else: the database, schema public and every other schema are closed to
// PUBLIC. The neon service's administrator of the customer-database server
// is a separate role with CREATEROLE and CREATEDB, never a superuser.
//
// Passwords are derived, not stored: HMAC-SHA256 of a platform secret and
// the role's name. The dev platform derives them from its encryption key
// at every start; production derives them from CLAW_DB_ROLE_SECRET, which
// only the operator and `clawctl db bootstrap` hold (never a service, which
// could otherwise derive its neighbours' passwords).
package dbroles

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
)

// DefaultPrefix starts every service role's name: clawsvc_<service>.
const DefaultPrefix = "clawsvc_"

// Set is the roles of one installation of the platform: their names'
// prefix and the secret their passwords derive from. Installations sharing
// a Postgres server (tests do) need different prefixes, as roles belong to
// the server, not to a database.
type Set struct {
	// Prefix starts every role's name; empty means DefaultPrefix.
	Prefix string
	// Secret is the platform secret passwords derive from (at least
	// MinSecretSize bytes).
	Secret []byte
}

func (s Set) prefix() string {
	if s.Prefix == "" {
		return DefaultPrefix
	}
	return s.Prefix
}

// Role is the role name of a service.
func (s Set) Role(service string) string { return s.prefix() + service }

// CustomerAdmin is the role the neon service administers the
// customer-database server with: CREATEROLE and CREATEDB, not superuser.
func (s Set) CustomerAdmin() string { return s.prefix() + "customer_admin" }

// URL returns base (a postgres:// URL of the same server and database)
// with role and its derived password as the login.
func (s Set) URL(base, role string) (string, error) { return URL(base, s.Secret, role) }

// Access is what a role may do with the secrets under one reference prefix.
type Access struct {
	// Prefix is the start of the references (as pkg/names builds them).
	Prefix string
	// Commands are the SQL commands allowed on those rows: SELECT, INSERT,
	// UPDATE, DELETE. Put needs INSERT, UPDATE and SELECT (its upsert reads
	// the conflicting row).
	Commands []string
}

// Service is one service's place in the control-plane database.
type Service struct {
	// Name is the service's name (service.Env.Name).
	Name string
	// Schemas are the schemas the service owns (its store's and journal's
	// migrations create their tables there).
	Schemas []string
	// Secrets is the service's access to the shared secret store.
	Secrets []Access
}

var (
	readOnly  = []string{"SELECT"}
	readWrite = []string{"SELECT", "INSERT", "UPDATE", "DELETE"}
)

// Services is every platform service and what it may reach. The secret
// prefixes follow pkg/names: db/ (customer database URLs), apikey/ (one-time
// key reveals), instance-token/ (the platform's token for an instance),
// archive-key/ (the key of each database archive in object storage).
var Services = []Service{
	// The edge: provisioning read model; reveals keys (UPDATE marks the
	// start of a reveal's grace window), deletes them after it and expires
	// the unrevealed.
	{Name: "ingress", Schemas: []string{"ingress"}, Secrets: []Access{{"apikey/", []string{"SELECT", "UPDATE", "DELETE"}}}},
	// The coordinator: sagas only; events carry references, it reads no secret.
	{Name: "saga", Schemas: []string{"saga"}},
	// Customer databases: writes their URLs and the keys of their archives
	// in object storage; its journal lives in "neon".
	{Name: "neon", Schemas: []string{"neon"}, Secrets: []Access{{"db/", readWrite}, {"archive-key/", readWrite}}},
	// Compute: hands the database URL to a runtime; owns instance tokens.
	{Name: "railway", Schemas: []string{"railway"}, Secrets: []Access{{"db/", readOnly}, {"instance-token/", readWrite}}},
	// Workspaces: writes key reveals; connects to the customer's database;
	// hands a signup's workspace to its instance with the instance's token
	// (and opens the Google grant sealed with it, to revoke it).
	{Name: "workspace", Schemas: []string{"workspace"}, Secrets: []Access{{"apikey/", readWrite}, {"db/", readOnly}, {"instance-token/", readOnly}}},
	// Probes read an instance's usage with its token.
	{Name: "health", Schemas: []string{"health"}, Secrets: []Access{{"instance-token/", readOnly}}},
	// The dashboard reaches the customer's instance with its token.
	{Name: "web", Schemas: []string{"web"}, Secrets: []Access{{"instance-token/", readOnly}}},
}

// Lookup returns the service named name.
func Lookup(name string) (Service, error) {
	i := slices.IndexFunc(Services, func(s Service) bool { return s.Name == name })
	if i < 0 {
		return Service{}, fmt.Errorf("dbroles: no service %q", name)
	}
	return Services[i], nil
}

// MinSecretSize is the least platform secret Password accepts.
const MinSecretSize = 32

// ErrShortSecret reports a platform secret under MinSecretSize bytes.
var ErrShortSecret = errors.New("dbroles: the role secret must be at least 32 bytes")

// Password derives role's password from the platform secret:
// base64url(HMAC-SHA256(secret, "clawdbot db role " + role)). The same
// secret and role always give the same password, so bootstrap and each
// service's URL agree without a password store.
func Password(secret []byte, role string) (string, error) {
	if len(secret) < MinSecretSize {
		return "", ErrShortSecret
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("clawdbot db role " + role))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// URL returns base (a postgres:// URL of the same server and database)
// with role and its derived password as the login.
func URL(base string, secret []byte, role string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// The parse error would quote the URL, password included.
		return "", errors.New("dbroles: base is not a postgres://host/database URL")
	}
	pw, err := Password(secret, role)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(role, pw)
	return u.String(), nil
}
