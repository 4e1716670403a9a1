package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// EnvVar is the environment variable holding the JSON config when standard
// input does not (see the package comment).
const EnvVar = "RUNTIME_CONFIG_JSON"

// maxConfigBytes bounds what is read from stdin or the environment.
const maxConfigBytes = 64 << 10

// ErrNoConfig reports that neither stdin nor EnvVar held a configuration.
var ErrNoConfig = errors.New("no runtime config: write the JSON document to stdin or set " + EnvVar)

// Load reads the configuration and validates it. stdin is the main path: when
// stdin is a pipe or file it must hold one JSON document (the rest of the
// stream is not read, so the supervisor may keep the pipe open). When stdin is
// a terminal or /dev/null (a character device), or is empty, the document is
// taken from the environment variable EnvVar instead. The model-provider
// settings (Config.Env) always come from the environment. getenv is
// os.Getenv outside tests. A warm document (see LoadStaged) is an error.
func Load(stdin *os.File, getenv func(string) string) (Config, error) {
	s, err := LoadStaged(stdin, getenv)
	if err != nil {
		return Config{}, err
	}
	if s.Warm != nil {
		return Config{}, errors.New("a warm runtime document, and no configuration")
	}
	return s.Config, nil
}

// fromEnv is the configuration in EnvVar.
func fromEnv(getenv func(string) string) (Config, error) {
	v := getenv(EnvVar)
	if v == "" {
		return Config{}, ErrNoConfig
	}
	c, err := Decode(bytes.NewReader([]byte(v)))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvVar, err)
	}
	return c.withEnv(getenv)
}

// withEnv adds the provider settings of the environment to c and
// validates it.
func (c Config) withEnv(getenv func(string) string) (Config, error) {
	c.Env = EnvFrom(getenv)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Decode reads one JSON config document from r and validates it. An empty r
// yields ErrNoConfig.
func Decode(r io.Reader) (Config, error) {
	c, err := unmarshal(json.NewDecoder(io.LimitReader(r, maxConfigBytes)))
	switch {
	case errors.Is(err, io.EOF):
		return Config{}, ErrNoConfig
	case err != nil:
		// encoding/json errors name the offending field or offset, not values.
		return Config{}, fmt.Errorf("decode runtime config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// isCharDevice reports whether f is a terminal or a device such as /dev/null,
// from which no supervisor is writing a config.
func isCharDevice(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
