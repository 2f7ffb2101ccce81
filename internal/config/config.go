// Package config loads the gateway's source configuration: which providers
// and accounts (sources) accept webhooks, and where their secrets come from.
//
// Secrets are never written in the file: each source names environment
// variables and/or files that hold them (several at once, for rotation). A
// source without secrets must say `allow_unauthenticated: true`; otherwise
// loading fails with a message naming the source.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultSourceName is the source used by `POST /webhooks/{provider}`.
const DefaultSourceName = "default"

// File is the configuration file.
type File struct {
	// Sources lists the accepted sources.
	Sources []Source `yaml:"sources"`
}

// Source configures one provider account.
type Source struct {
	// Provider is the provider name (`truv`, `finicity`/`mastercard`, `swyft`).
	Provider string `yaml:"provider"`
	// Name is the source name in `/webhooks/{provider}/{name}`; default
	// "default", which also answers `/webhooks/{provider}`.
	Name string `yaml:"name"`
	// SecretEnv names environment variables that each hold one secret.
	SecretEnv []string `yaml:"secret_env"`
	// SecretFiles names files that each hold one secret (a trailing newline
	// is ignored).
	SecretFiles []string `yaml:"secret_files"`
	// AllowUnauthenticated accepts deliveries without authentication. Must be
	// explicit; it cannot be combined with secrets.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// Options are provider-specific settings (docs/configuration.md).
	Options map[string]string `yaml:"options"`
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Load reads and validates the configuration file at path.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(b)
}

// Parse parses and validates a configuration document. Unknown keys are
// errors, so a typo cannot silently drop a setting.
func Parse(b []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if len(f.Sources) == 0 {
		return nil, errors.New("config: no sources defined")
	}
	seen := map[string]bool{}
	for i := range f.Sources {
		s := &f.Sources[i]
		s.Provider = strings.ToLower(strings.TrimSpace(s.Provider))
		if s.Name == "" {
			s.Name = DefaultSourceName
		}
		if !validName.MatchString(s.Name) {
			return nil, fmt.Errorf("config: source %d: name %q must match %s", i, s.Name, validName)
		}
		if s.Provider == "" {
			return nil, fmt.Errorf("config: source %q: provider is required", s.Name)
		}
		hasSecrets := len(s.SecretEnv)+len(s.SecretFiles) > 0
		switch {
		case hasSecrets && s.AllowUnauthenticated:
			return nil, fmt.Errorf("config: source %s/%s: secrets and allow_unauthenticated are mutually exclusive", s.Provider, s.Name)
		case !hasSecrets && !s.AllowUnauthenticated:
			return nil, fmt.Errorf("config: source %s/%s has no secret_env or secret_files; "+
				"set allow_unauthenticated: true to accept unauthenticated deliveries on purpose", s.Provider, s.Name)
		}
		key := s.Provider + "/" + s.Name
		if seen[key] {
			return nil, fmt.Errorf("config: source %s is defined twice", key)
		}
		seen[key] = true
	}
	return &f, nil
}

// Secrets resolves the source's secrets from the environment (through
// getenv) and files. A named variable that is unset or empty, or an empty
// file, is an error: a missing secret must not quietly weaken a source.
func (s Source) Secrets(getenv func(string) string) ([][]byte, error) {
	var out [][]byte
	for _, name := range s.SecretEnv {
		v := getenv(name)
		if v == "" {
			return nil, fmt.Errorf("source %s/%s: environment variable %s is unset or empty", s.Provider, s.Name, name)
		}
		out = append(out, []byte(v))
	}
	for _, path := range s.SecretFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("source %s/%s: read secret file: %w", s.Provider, s.Name, err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("source %s/%s: secret file %s is empty", s.Provider, s.Name, path)
		}
		out = append(out, b)
	}
	return out, nil
}
