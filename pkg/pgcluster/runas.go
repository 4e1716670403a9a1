package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// identity is the operating-system user the PostgreSQL programs run as.
// PostgreSQL refuses to run as root, so a root process hands the cluster to
// the unprivileged user "postgres"; anyone else runs it as themselves.
type identity struct {
	name string
	uid  int
	gid  int
	home string
	// cred is nil when the programs run as the current user.
	cred *syscall.Credential
}

// serverUser is the account that owns clusters started by root. The
// postgresql-common Debian package creates it.
const serverUser = "postgres"

func currentIdentity() (identity, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return identity{}, fmt.Errorf("look up current user: %w", err)
		}
		return identity{name: u.Username, uid: os.Geteuid(), gid: os.Getegid(), home: u.HomeDir}, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return identity{}, fmt.Errorf("running as root, PostgreSQL must run as the unprivileged user %q, "+
			"which the postgresql-common package creates: %w", serverUser, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return identity{}, fmt.Errorf("user %s uid %q: %w", serverUser, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return identity{}, fmt.Errorf("user %s gid %q: %w", serverUser, u.Gid, err)
	}
	return identity{
		name: u.Username, uid: uid, gid: gid, home: u.HomeDir,
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
	}, nil
}

// switching reports whether the programs run as another user than this process.
func (id identity) switching() bool { return id.cred != nil }

// chown gives path to the server user when the programs run as another user.
func (id identity) chown(path string) error {
	if !id.switching() {
		return nil
	}
	if err := os.Lchown(path, id.uid, id.gid); err != nil {
		return fmt.Errorf("chown %s to %s: %w", path, id.name, err)
	}
	return nil
}

// prepareDir creates dir (mode 0700, owned by the server user) and every
// missing parent. Parents it creates get mode 0711 so that the server user can
// traverse them without listing them. Parents that already exist are left
// alone; if the server user cannot traverse one, prepareDir fails naming it
// rather than loosening permissions it did not set.
func prepareDir(dir string, id identity) error {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		missing = append(missing, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		mode := os.FileMode(0o711)
		if p == dir {
			mode = 0o700
		}
		if err := os.Mkdir(p, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", p, err)
		}
		// Mkdir honours the umask; set the mode we mean.
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	if err := id.chown(dir); err != nil {
		return err
	}
	if !id.switching() {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if err := traversable(p, id); err != nil {
			return err
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// traversable checks that id may search directory p, using the owner, group
// and other execute bits (supplementary groups and ACLs are not consulted).
func traversable(p string, id identity) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == id.uid && perm&0o100 != 0,
		int(st.Gid) == id.gid && perm&0o010 != 0,
		perm&0o001 != 0:
		return nil
	}
	return fmt.Errorf("directory %s (mode %#o) cannot be traversed by user %s, who runs PostgreSQL: "+
		"`chmod o+x %s`, or use a directory whose parents are traversable "+
		"(a directory from os.MkdirTemp itself is; a subdirectory of it or of testing.T.TempDir is not)",
		p, perm, id.name, p)
}
