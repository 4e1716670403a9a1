package service

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/pgtest"
)

// TestWaitDBWaitsForAServerThatComesBack: a service started while its
// database is unreachable waits for it instead of exiting, and fails at
// once on a wrong password, which waiting does not fix.
func TestWaitDBWaitsForAServerThatComesBack(t *testing.T) {
	direct, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	// A port nobody listens on yet: connections are refused until the
	// "server" (a proxy to the real one) comes up on it.
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := hold.Addr().String()
	hold.Close()
	via := *direct
	via.Host = addr
	pool, err := pgxpool.New(t.Context(), via.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const down = 500 * time.Millisecond
	go func() {
		time.Sleep(down)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { ln.Close() })
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", direct.Host)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	log := slog.New(slog.DiscardHandler)
	start := time.Now()
	if err := waitDB(t.Context(), pool, time.Minute, log); err != nil {
		t.Fatalf("waitDB: %v", err)
	}
	if waited := time.Since(start); waited < down {
		t.Errorf("waitDB returned after %v, before the server was up (%v)", waited, down)
	}

	// A wrong password is an answer, not an outage.
	wrong := *direct
	wrong.User = url.UserPassword(direct.User.Username(), "not-the-password")
	bad, err := pgxpool.New(t.Context(), wrong.String())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = waitDB(ctx, bad, time.Minute, log)
	if err == nil || !strings.Contains(err.Error(), "28P01") {
		t.Errorf("waitDB with a wrong password = %v, want the authentication failure at once", err)
	}
}

func TestMain(m *testing.M) { pgtest.Main(m) }
