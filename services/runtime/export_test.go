package runtime_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
)

// untar reads a tar.gz into regular files by name, and the directories.
func untar(t *testing.T, data []byte) (files map[string]string, dirs []string) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	files = map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, dirs
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			dirs = append(dirs, hdr.Name)
			if hdr.Mode != 0o755 {
				t.Errorf("%s: mode %o", hdr.Name, hdr.Mode)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = string(b)
			if hdr.Mode != 0o644 {
				t.Errorf("%s: mode %o", hdr.Name, hdr.Mode)
			}
		default:
			t.Errorf("%s: unexpected type %c", hdr.Name, hdr.Typeflag)
		}
	}
}

func TestWorkspaceExportRoundTrip(t *testing.T) {
	in := startInstance(t, "cus_EXPORT", plans.Pro)
	key := in.addKey(t)
	pro, _ := plans.Lookup(plans.Pro)
	in.putFiles(t, workspace(t, time.Now(), "UTC", pro)...)
	in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": "Exported memory: ünïcödé 🙂"}, http.StatusCreated, nil)
	in.call(t, http.MethodPut, "/api/skills/browser", key, map[string]bool{"enabled": false}, http.StatusOK, nil)
	// A path no tar should carry: stored by something other than the
	// platform, it must not escape the archive's folders.
	in.putFiles(t, customerdb.File{Path: "../escape.md", Content: "no"})

	resp, raw := in.do(t, http.MethodGet, "/api/workspace/export", key, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="clawdbot-workspace-`) {
		t.Fatalf("GET /api/workspace/export = %d %v", resp.StatusCode, resp.Header)
	}
	got, dirs := untar(t, raw)

	stored, err := customerdb.ReadWorkspace(t.Context(), in.pool)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range stored {
		switch {
		case f.Path == "openclaw.json":
			want["openclaw.json"] = f.Content // in the state dir, beside the workspace
		case strings.Contains(f.Path, ".."):
		default:
			want["workspace/"+f.Path] = f.Content
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive differs from workspace_files (-want +got):\n%s", diff)
	}
	for _, d := range []string{"workspace/", "workspace/memory/", "workspace/skills/", "workspace/skills/gmail/"} {
		if !contains(dirs, d) {
			t.Errorf("archive lacks directory %s (has %v)", d, dirs)
		}
	}
	for name := range got {
		if strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
			t.Errorf("unsafe name %q in the archive", name)
		}
	}
	// A gateway started on the unpacked state dir finds its workspace.
	var cfg struct {
		Agents struct {
			Defaults struct {
				Workspace string `json:"workspace"`
			} `json:"defaults"`
		} `json:"agents"`
	}
	if err := jsonUnmarshal(got["openclaw.json"], &cfg); err != nil || cfg.Agents.Defaults.Workspace != "~/.openclaw/workspace" {
		t.Errorf("openclaw.json workspace = %q (%v)", cfg.Agents.Defaults.Workspace, err)
	}
	entries, _ := openclawSkills(t, got["openclaw.json"])
	if entries["browser"] || !entries["gmail"] {
		t.Errorf("exported skills = %v", entries)
	}
	if !strings.Contains(got["workspace/"+customerdb.NotePath(time.Now().UTC())], "Exported memory: ünïcödé 🙂") {
		t.Error("the memory is not in the exported daily note")
	}
	if _, ok := got["workspace/AGENTS.md"]; !ok {
		t.Error("AGENTS.md not at the workspace root")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
