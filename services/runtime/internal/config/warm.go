package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5"
)

// Warm is the first document of a runtime started ahead of its customer
// (a warm pool entry): only its database, so it can open its connection
// and check the schema while no customer is known, then wait on standard
// input for the customer's Config. Its "warm" member, always true, tells
// it from a Config; unknown members are an error, as in a Config.
type Warm struct {
	Warm bool `json:"warm"`
	// DatabaseURL is the database the customer's Config will name (the
	// password may differ: a claim sets a new one). It is a secret.
	DatabaseURL string `json:"database_url"`
	// InstanceID names this process in logs until the Config names it.
	InstanceID string `json:"instance_id"`
}

// Validate reports every problem with w in one error; messages never
// contain the database URL.
func (w Warm) Validate() error {
	var errs []error
	if !w.Warm {
		errs = append(errs, errors.New(`warm must be true`))
	}
	if w.DatabaseURL == "" {
		errs = append(errs, errors.New("database_url is required"))
	} else if _, err := pgx.ParseConfig(w.DatabaseURL); err != nil {
		errs = append(errs, errors.New("database_url is not a valid PostgreSQL connection string"))
	}
	if w.InstanceID == "" {
		errs = append(errs, errors.New("instance_id is required"))
	} else if !isID(w.InstanceID) {
		errs = append(errs, fmt.Errorf("instance_id %q: want 1-255 letters, digits, '_' or '-'", w.InstanceID))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid warm runtime document: %w", errors.Join(errs...))
}

// Staged is what a runtime reads first: its Config, or a Warm document
// and Next, which waits for the Config that follows it on standard input.
type Staged struct {
	Config Config
	Warm   *Warm
	dec    *json.Decoder
	getenv func(string) string
}

// LoadStaged reads what a runtime starts with, as Load does, for a
// supervisor that may start it ahead of its customer: the first document on
// standard input may then be a Warm one, and Next waits for the Config that
// follows it. (The environment variable EnvVar holds a Config only: where
// the document comes from there, no one writes a second.)
func LoadStaged(stdin *os.File, getenv func(string) string) (Staged, error) {
	if stdin == nil || isCharDevice(stdin) {
		c, err := fromEnv(getenv)
		return Staged{Config: c}, err
	}
	// Two documents at most, each bounded like one.
	dec := json.NewDecoder(io.LimitReader(stdin, 2*maxConfigBytes))
	var raw json.RawMessage
	switch err := dec.Decode(&raw); {
	case errors.Is(err, io.EOF):
		c, err := fromEnv(getenv) // nothing on stdin
		return Staged{Config: c}, err
	case err != nil:
		return Staged{}, fmt.Errorf("decode runtime config: %w", err)
	}
	var probe struct {
		Warm *bool `json:"warm"`
	}
	_ = json.Unmarshal(raw, &probe) // a non-object fails the strict decode below
	if probe.Warm == nil {
		c, err := strictConfig(raw)
		if err != nil {
			return Staged{}, err
		}
		c, err = c.withEnv(getenv)
		return Staged{Config: c}, err
	}
	var w Warm
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return Staged{}, fmt.Errorf("decode warm runtime document: %w", err)
	}
	if err := w.Validate(); err != nil {
		return Staged{}, err
	}
	return Staged{Warm: &w, dec: dec, getenv: getenv}, nil
}

// Next reads the Config that follows a Warm document and validates it. It
// blocks until the supervisor writes it; a stream that ends first yields
// ErrNoConfig.
func (s Staged) Next() (Config, error) {
	if s.dec == nil {
		return Config{}, errors.New("no warm runtime document was read")
	}
	var raw json.RawMessage
	switch err := s.dec.Decode(&raw); {
	case errors.Is(err, io.EOF):
		return Config{}, ErrNoConfig
	case err != nil:
		return Config{}, fmt.Errorf("decode runtime config: %w", err)
	}
	c, err := strictConfig(raw)
	if err != nil {
		return Config{}, err
	}
	return c.withEnv(s.getenv)
}

func strictConfig(raw []byte) (Config, error) {
	c, err := unmarshal(json.NewDecoder(bytes.NewReader(raw)))
	if err != nil {
		return Config{}, fmt.Errorf("decode runtime config: %w", err)
	}
	return c, nil
}
