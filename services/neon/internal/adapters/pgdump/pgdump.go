// Package pgdump runs pg_dump and pg_restore against a database named by
// a postgres:// URI, for drivers whose customer databases are reached
// through their own connection strings (the neon driver). The credentials
// go in the child's PG* environment (readable by its owner and root only),
// never on its command line, and never into an error.
package pgdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
)

// env maps a postgres:// URI to libpq's environment. The query parameters
// libpq knows as variables (sslmode, channel_binding, options, …) go with
// it; PGPASSFILE is /dev/null so no file on the machine adds a password.
func env(uri, prog string) ([]string, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil || u.Host == "" {
		return nil, errors.New("not a postgres:// URI with a host and credentials")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	vars := []string{
		"PGHOST=" + u.Hostname(),
		"PGPORT=" + port,
		"PGUSER=" + u.User.Username(),
		"PGDATABASE=" + strings.TrimPrefix(u.Path, "/"),
		"PGAPPNAME=claw-neon-" + prog,
		"PGCONNECT_TIMEOUT=10",
		"PGPASSFILE=/dev/null",
	}
	if pw, ok := u.User.Password(); ok {
		vars = append(vars, "PGPASSWORD="+pw)
	}
	for param, name := range map[string]string{
		"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "channel_binding": "PGCHANNELBINDING",
		"options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS",
	} {
		if v := u.Query().Get(param); v != "" {
			vars = append(vars, name+"="+v)
		}
	}
	return vars, nil
}

// command prepares prog of binDir against the database of uri.
func command(ctx context.Context, binDir, prog, uri string, args ...string) (*exec.Cmd, error) {
	if binDir == "" {
		return nil, fmt.Errorf("%s: no PostgreSQL client programs found", prog)
	}
	vars, err := env(uri, prog)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prog, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, prog), args...)
	cmd.Env = vars
	return cmd, nil
}

// Dump streams pg_dump (custom format, without owners and privileges) of
// the database of uri to put. An archive that put stored is good only if
// pg_dump exited 0: its exit status ends the stream, so a dump that fails
// half way is put's read error, never a short archive.
func Dump[T any](ctx context.Context, binDir, uri string, put func(io.Reader) (T, error)) (T, error) {
	cmd, err := command(ctx, binDir, "pg_dump", uri, "--format=custom", "--no-owner", "--no-privileges")
	if err != nil {
		var zero T
		return zero, err
	}
	return Stream(cmd, put)
}

// Stream starts cmd (a pg_dump) and gives its output to put. The exit
// status ends the stream: a dump that fails half way is put's read error,
// never a short archive; a put that fails kills the dump.
func Stream[T any](cmd *exec.Cmd, put func(io.Reader) (T, error)) (T, error) {
	var zero T
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return zero, err
	}
	if err := cmd.Start(); err != nil {
		return zero, fmt.Errorf("start pg_dump: %w", err)
	}
	v, err := put(&untilExit{r: out, cmd: cmd, stderr: &stderr})
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return zero, fmt.Errorf("pg_dump: %w", err)
	}
	return v, nil
}

// Run runs cmd (a PostgreSQL client program), adding the start of its
// standard error to a failure.
func Run(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// Restore runs pg_restore of what r yields into the database of uri, as
// the URI's role (never an administrator: an archive is customer data),
// in one transaction, stopping at the first error. Objects of the archive
// that exist already (a branch made from the migrated parent) are dropped
// first (--clean --if-exists).
func Restore(ctx context.Context, binDir, uri string, r io.Reader) error {
	cmd, err := command(ctx, binDir, "pg_restore", uri, "--no-owner", "--no-privileges", "--clean", "--if-exists",
		"--exit-on-error", "--single-transaction", "--dbname="+dbname(uri))
	if err != nil {
		return err
	}
	cmd.Stdin = r
	if err := Run(cmd); err != nil {
		return fmt.Errorf("pg_restore: %w", err)
	}
	return nil
}

// dbname is the URI's database (pg_restore needs --dbname to restore into
// a database rather than print SQL; the name alone carries no credential).
func dbname(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// untilExit reads a child's output and turns its end into the child's
// exit status.
type untilExit struct {
	r      io.Reader
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   bool
}

func (u *untilExit) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if errors.Is(err, io.EOF) && !u.done {
		u.done = true
		if werr := u.cmd.Wait(); werr != nil {
			return n, fmt.Errorf("%w: %s", werr, bytes.TrimSpace(u.stderr.Bytes()))
		}
	}
	return n, err
}

// limited keeps the first n bytes written to it.
type limited struct {
	w *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
