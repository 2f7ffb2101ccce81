package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no sources", "sources: []\n", "no sources"},
		{"unknown key", "sources:\n  - provider: truv\n    secret_env: [X]\n    secrets: [inline]\n", "secrets"},
		{"no provider", "sources:\n  - secret_env: [X]\n", "provider is required"},
		{"no secrets and not explicit", "sources:\n  - provider: swyft\n", "allow_unauthenticated"},
		{"secrets and unauthenticated", "sources:\n  - provider: swyft\n    secret_env: [X]\n    allow_unauthenticated: true\n", "mutually exclusive"},
		{"duplicate source", "sources:\n  - provider: truv\n    secret_env: [X]\n  - provider: truv\n    name: default\n    secret_env: [Y]\n", "defined twice"},
		{"bad name", "sources:\n  - provider: truv\n    name: Prod/1\n    secret_env: [X]\n", "must match"},
		{"not YAML", "sources: [", "parse config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseDefaultsAndSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Parse([]byte("sources:\n  - provider: ' Truv '\n    secret_env: [A, B]\n    secret_files: [" + file + "]\n  - provider: finicity\n    name: reports\n    allow_unauthenticated: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Sources[0]
	if s.Provider != "truv" || s.Name != DefaultSourceName {
		t.Errorf("source = %+v, want provider truv, name default", s)
	}
	env := map[string]string{"A": "one", "B": "two"}
	secrets, err := s.Secrets(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 3 || string(secrets[0]) != "one" || string(secrets[1]) != "two" || string(secrets[2]) != "from-file" {
		t.Errorf("secrets = %q", secrets)
	}
	if _, err := s.Secrets(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "A is unset") {
		t.Errorf("unset variable: err = %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Source{Provider: "truv", Name: "x", SecretFiles: []string{empty}}).Secrets(nil); err == nil {
		t.Error("empty secret file accepted")
	}
}
