package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Railway image of the openclaw engine (deploy/openclaw/Dockerfile)
// starts from the official OpenClaw image pinned by digest, at the same
// version as the process driver's install (deploy/openclaw/package.json),
// builds the runtime with make build-one, runs it unprivileged with the
// gateway in bubblewrap, and keeps the local install out of its context.
func TestOpenClawImage(t *testing.T) {
	data, err := os.ReadFile("openclaw/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	raw, err := os.ReadFile("openclaw/package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	version := pkg.Dependencies["openclaw"]
	arg := regexp.MustCompile(`(?m)^ARG OPENCLAW_IMAGE=ghcr\.io/openclaw/openclaw:([^@\s]+)@sha256:[0-9a-f]{64}$`).FindStringSubmatch(df)
	if arg == nil {
		t.Fatal("deploy/openclaw/Dockerfile: no ARG OPENCLAW_IMAGE=ghcr.io/openclaw/openclaw:<version>@sha256:<64 hex>")
	}
	if arg[1] != version {
		t.Errorf("the Railway image is OpenClaw %s, the process driver's install %s: pin both to one version", arg[1], version)
	}
	for _, want := range []string{
		"FROM ${OPENCLAW_IMAGE}", "make build-one SERVICE=runtime", "CGO_ENABLED=0", "bubblewrap",
		"OPENCLAW_DIR=/opt/openclaw", "OPENCLAW_SANDBOX=bwrap", "PORT=8080",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/openclaw/Dockerfile lacks %q", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)$`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || users[len(users)-1][1] == "root" {
		t.Errorf("deploy/openclaw/Dockerfile runs as %v: want an unprivileged user last", users)
	}
	ignore, err := os.ReadFile("openclaw/Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{".data", "deploy/openclaw/node_modules", "deploy/nats/secrets"} {
		if !slices.Contains(lines, want) {
			t.Errorf("openclaw/Dockerfile.dockerignore does not keep %s out of the build context", want)
		}
	}
}
