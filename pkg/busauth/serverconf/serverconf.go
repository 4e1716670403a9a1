// Package serverconf is the server's side of pkg/busauth: the NATS users
// (bcrypt hashes and permissions) the embedded server is started with, and
// the same users as a configuration file for deploy/.
package serverconf

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"clawdbot.cloud/pkg/busauth"
)

// Cost is the bcrypt cost of the hashes the platform writes. The passwords
// are 256 random bits, so the cost guards nothing a guess could reach; it
// is the library's default, and the server pays it once per connection.
const Cost = bcrypt.DefaultCost

// responseWindow is how long a principal that Responds may answer a
// request it received.
const responseWindow = time.Minute

// Users returns the server's users for c: each principal's bcrypt password
// hash and permissions. cost is the bcrypt cost (Cost; tests may pass
// bcrypt.MinCost to spare the CPU).
func Users(c busauth.Credentials, cost int) ([]*server.User, error) {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	users := make([]*server.User, 0, len(names))
	for _, n := range names {
		p, ok := busauth.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("busauth: no principal %q", n)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(c[n]), cost)
		if err != nil {
			return nil, fmt.Errorf("busauth: hash %s: %w", n, err)
		}
		perms := &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: p.PublishAllow()},
			Subscribe: &server.SubjectPermission{Allow: p.SubscribeAllow()},
		}
		if p.Responds {
			perms.Response = &server.ResponsePermission{MaxMsgs: 1, Expires: responseWindow}
		}
		users = append(users, &server.User{Username: n, Password: string(hash), Permissions: perms})
	}
	return users, nil
}

// WriteConfig writes a NATS server configuration block (an
// `authorization { users = [...] }` to include from the server's file)
// with users' hashes and permissions. It carries no password.
func WriteConfig(w io.Writer, users []*server.User) error {
	var b strings.Builder
	b.WriteString("# NATS users of Clawdbot Cloud, written by `clawctl nats-auth`: one per service and the\n")
	b.WriteString("# operator, bcrypt password hashes and least-privilege subject permissions (pkg/busauth).\n")
	b.WriteString("authorization {\n  users = [\n")
	for _, u := range users {
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: %s\n      permissions: {\n", strconv.Quote(u.Username), strconv.Quote(u.Password))
		if p := u.Permissions; p != nil {
			if p.Publish != nil {
				fmt.Fprintf(&b, "        publish: { allow: %s }\n", list(p.Publish.Allow))
			}
			if p.Subscribe != nil {
				fmt.Fprintf(&b, "        subscribe: { allow: %s }\n", list(p.Subscribe.Allow))
			}
			if p.Response != nil {
				fmt.Fprintf(&b, "        allow_responses: { max: %d, expires: %q }\n", p.Response.MaxMsgs, p.Response.Expires.String())
			}
		}
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func list(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
