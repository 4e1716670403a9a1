package pgcluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Names of the files Start keeps in the cluster directory.
const (
	passwordFile = "superuser.password" // the superuser's password, 0600
	portFile     = "port"               // the last TCP port, reused when free
	logFile      = "postgres.log"       // the server's log (pg_ctl -l)
	dataSubdir   = "data"               // PGDATA
	confFile     = "pgcluster.conf"     // settings rewritten on every start, inside PGDATA
)

// readOrCreatePassword returns the superuser password stored in path,
// creating a random one on first use.
func readOrCreatePassword(path string, id identity) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("password file %s is empty", path)
		}
		return pw, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read password: %w", err)
	}
	// Hex keeps the password safe in URLs and in initdb's --pwfile.
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	pw := hex.EncodeToString(raw)
	if err := writeFile(path, pw+"\n", id); err != nil {
		return "", err
	}
	return pw, nil
}

// choosePort returns the port stored in dir if it is still free, else a free
// port picked by the kernel, and stores the result.
func choosePort(dir string, id identity, avoid int) (int, error) {
	path := filepath.Join(dir, portFile)
	if b, err := os.ReadFile(path); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p != avoid && portFree(p) {
			return p, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	if err := writeFile(path, strconv.Itoa(p)+"\n", id); err != nil {
		return 0, err
	}
	return p, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// writeConf writes the settings that may change between starts (the port
// above all) to the file that postgresql.conf includes.
func writeConf(dataDir string, port int, o options, id identity) error {
	var b strings.Builder
	b.WriteString("# Written by clawdbot.cloud/pkg/pgcluster on every start; edits are lost.\n")
	fmt.Fprintf(&b, "listen_addresses = '127.0.0.1'\nport = %d\n", port)
	// TCP only: socket paths are limited to ~100 bytes and the peer
	// authentication they imply is of no use to the programs connecting.
	b.WriteString("unix_socket_directories = ''\n")
	// One server hosts every customer database in dev mode, and each
	// customer runtime keeps a connection or two: the default of 100 caps
	// the platform at a few dozen customers.
	b.WriteString("max_connections = 1000\n")
	// The autovacuum launcher visits every database once per naptime
	// (default 1 min), starting a worker each time (a backend: 20-40 ms of
	// CPU here): with a database per customer that is 33 workers a second at
	// 2,000 customers, most of them finding nothing to do in a database
	// nobody wrote to. At 5 minutes, 1,000 live customers still cost 3.3
	// workers a second; 20 minutes makes it 1.7 a second at 2,000. Customer
	// databases are small: a table past its autovacuum threshold waiting up
	// to 20 minutes is harmless, and wraparound protection does not wait for
	// the naptime.
	b.WriteString("autovacuum_naptime = '20min'\n")
	if o.noSync {
		b.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	}
	return writeFile(filepath.Join(dataDir, confFile), b.String(), id)
}

// includeConf makes postgresql.conf read confFile; Start calls it once,
// right after initdb.
func includeConf(dataDir string) error {
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open postgresql.conf: %w", err)
	}
	_, err = fmt.Fprintf(f, "\ninclude_if_exists = '%s'\n", confFile)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to postgresql.conf: %w", err)
	}
	return nil
}

// writeFile writes a small file with mode 0600 owned by the server user.
func writeFile(path, content string, id identity) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return id.chown(path)
}
