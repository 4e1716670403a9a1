// Package config reads typed settings from the environment and collects every
// problem, so a misconfigured service stops at start with one message that
// lists them all.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Loader reads settings from a lookup function and remembers every problem.
type Loader struct {
	lookup   func(string) (string, bool)
	problems []string
}

// FromEnv reads from the process environment.
func FromEnv() *Loader { return New(os.LookupEnv) }

// New reads from lookup (a map in tests).
func New(lookup func(string) (string, bool)) *Loader { return &Loader{lookup: lookup} }

// FromMap reads from m.
func FromMap(m map[string]string) *Loader {
	return New(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
}

// Lookup returns the raw value of key and whether it is set and non-empty.
func (l *Loader) Lookup(key string) (string, bool) {
	v, ok := l.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// Problem records a problem found by the caller's own validation.
func (l *Loader) Problem(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// String returns key or def.
func (l *Loader) String(key, def string) string {
	if v, ok := l.Lookup(key); ok {
		return v
	}
	return def
}

// Required returns key, recording a problem when it is unset.
func (l *Loader) Required(key, why string) string {
	v, ok := l.Lookup(key)
	if !ok {
		l.Problem("%s is required: %s", key, why)
	}
	return v
}

// Int returns key as an integer, or def.
func (l *Loader) Int(key string, def int) int {
	v, ok := l.Lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.Problem("%s=%q is not an integer", key, v)
		return def
	}
	return n
}

// Duration returns key as a Go duration (for example 30s), or def.
func (l *Loader) Duration(key string, def time.Duration) time.Duration {
	v, ok := l.Lookup(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		l.Problem("%s=%q is not a duration like 30s or 5m", key, v)
		return def
	}
	return d
}

// Bool returns key as a boolean, or def.
func (l *Loader) Bool(key string, def bool) bool {
	v, ok := l.Lookup(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.Problem("%s=%q is not true or false", key, v)
		return def
	}
	return b
}

// Addr returns key as a host:port listen address, or def.
func (l *Loader) Addr(key, def string) string {
	v := l.String(key, def)
	if _, _, err := net.SplitHostPort(v); err != nil {
		l.Problem("%s=%q is not a host:port address", key, v)
	}
	return v
}

// URL returns key as an absolute URL with one of schemes, or def ("" = optional).
func (l *Loader) URL(key, def string, schemes ...string) string {
	v := l.String(key, def)
	if v == "" {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		l.Problem("%s is not an absolute URL", key)
		return v
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	l.Problem("%s must use one of the schemes %s", key, strings.Join(schemes, ", "))
	return v
}

// OneOf returns key, which must be one of allowed, or def.
func (l *Loader) OneOf(key, def string, allowed ...string) string {
	v := l.String(key, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.Problem("%s=%q must be one of %s", key, v, strings.Join(allowed, ", "))
	return v
}

// Err returns every recorded problem as one error, or nil.
func (l *Loader) Err() error {
	if len(l.problems) == 0 {
		return nil
	}
	return errors.New("configuration: " + strings.Join(l.problems, "; "))
}
