package platform_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/dbroles"
)

// TestServicesUseTheirOwnRoles: after a signup through the whole platform,
// every session on the control-plane database belongs to a service's own
// role, each service has one, and none of them is a superuser. With the
// services back on the admin's pool (the superuser here) this fails.
func TestServicesUseTheirOwnRoles(t *testing.T) {
	h := start(t, nil)
	h.signup(t, "starter")
	u, err := url.Parse(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	admin := h.adminConn(t)
	rows, err := admin.Query(context.Background(), `SELECT DISTINCT a.usename::text, r.rolsuper
		FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
		WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'`, db)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for rows.Next() {
		var user string
		var super bool
		if err := rows.Scan(&user, &super); err != nil {
			t.Fatal(err)
		}
		if super || !strings.HasPrefix(user, dbroles.DefaultPrefix) {
			t.Errorf("a session on the control-plane database as %s (superuser %v)", user, super)
		}
		seen[user[strings.LastIndex(user, "_")+1:]] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range dbroles.Services {
		if !seen[s.Name] {
			t.Errorf("no session of %s's role (sessions of %v)", s.Name, seen)
		}
	}
}
