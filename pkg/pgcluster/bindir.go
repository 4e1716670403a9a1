package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// serverBinaries are the programs a cluster needs; a directory lacking any of
// them (libpq-dev ships pg_config alone) is not a server installation.
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// ErrNoBinaries is returned by FindBinDir and Start when no PostgreSQL server
// installation is found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; " +
	"install them with `apt-get install postgresql-15` (Debian package postgresql-15)")

// FindBinDir returns the directory holding initdb, pg_ctl and postgres: the
// one `pg_config --bindir` reports if it has them, else the newest
// /usr/lib/postgresql/<version>/bin that does.
func FindBinDir() (string, error) {
	return findBinDir(pgConfigBinDir(), "/usr/lib/postgresql/*/bin")
}

// pgConfigBinDir asks pg_config, bounded in time, and returns "" when it is
// missing or fails.
func pgConfigBinDir() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func findBinDir(preferred, pattern string) (string, error) {
	if preferred != "" && hasServerBinaries(preferred) {
		return preferred, nil
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("glob %s: %w", pattern, err)
	}
	// Newest version first: compare the version directory numerically so
	// that 9.6 sorts below 15.
	sort.Slice(matches, func(i, j int) bool {
		return versionOf(matches[i]) > versionOf(matches[j])
	})
	for _, dir := range matches {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w (looked in pg_config --bindir %q and %s)", ErrNoBinaries, preferred, pattern)
}

// versionOf turns /usr/lib/postgresql/15/bin into 15 (and 9.6 into 9.6).
func versionOf(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return -1
	}
	return v
}

func hasServerBinaries(dir string) bool {
	for _, name := range serverBinaries {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}
