package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildCommit, buildCommitTime and buildModified are set by `make build`
// with -ldflags -X, from git. Go stamps the same facts itself (vcs.revision,
// vcs.time, vcs.modified) when it builds in a git checkout, but not in a
// linked worktree (golang/go#58218) nor with -buildvcs=false; the linker
// values cover those and win when both are present. They are written only
// by the linker.
var buildCommit, buildCommitTime, buildModified string

const versionUsage = `
Usage:
  hookline version [--json]
  hookline --version

Prints the module version, the commit (and whether the tree had uncommitted
changes), the commit time and the Go version this binary was built with,
from runtime/debug.ReadBuildInfo. A binary built from a git checkout (make
build) knows its commit; go run and go test binaries do not.

Examples:
  hookline version
  hookline version --json | jq -r .commit`

// versionInfo is what `hookline version` prints.
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

// readVersion gathers the version from the build info and the linker
// values.
func readVersion(bi *debug.BuildInfo, ok bool, commit, commitTime, modified string) versionInfo {
	v := versionInfo{Version: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if ok && bi != nil {
		v.Version, v.Go = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "unknown"
	}
	if commit != "" {
		v.Commit, v.CommitTime, v.Modified = commit, commitTime, modified == "true"
	}
	return v
}

// runVersion is `hookline version` (and `hookline --version`).
func runVersion(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", versionUsage, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("version takes no arguments")
	}
	bi, ok := debug.ReadBuildInfo()
	v := readVersion(bi, ok, buildCommit, buildCommitTime, buildModified)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(v)
	}
	_, err = io.WriteString(stdout, v.String())
	return err
}

// String is the human form of v.
func (v versionInfo) String() string {
	commit := "unknown (not built from a git checkout: use make build)"
	if v.Commit != "" {
		commit = v.Commit
		if v.Modified {
			commit += " (with uncommitted changes)"
		}
	}
	s := fmt.Sprintf("hookline %s\ncommit  %s\n", v.Version, commit)
	if v.CommitTime != "" {
		s += fmt.Sprintf("time    %s\n", v.CommitTime)
	}
	return s + fmt.Sprintf("go      %s %s\n", v.Go, v.Platform)
}
