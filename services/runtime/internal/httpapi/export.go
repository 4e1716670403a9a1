package httpapi

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// Layout of the export: OpenClaw's state directory (~/.openclaw). The
// gateway reads openclaw.json there, and the rendered config points
// agents.defaults.workspace at ~/.openclaw/workspace, where every other
// file goes. Unpacked with `tar -xzf export.tar.gz -C ~/.openclaw`, it is
// a workspace a real gateway starts with.
const (
	// ExportWorkspaceDir is the workspace's folder inside the archive.
	ExportWorkspaceDir = "workspace"
	// ExportConfigPath is openclaw.json's place inside the archive.
	ExportConfigPath = "openclaw.json"
)

// ExportPath returns where a workspace file goes in the export.
func ExportPath(workspacePath string) string {
	if workspacePath == skills.ConfigPath {
		return ExportConfigPath
	}
	return ExportWorkspaceDir + "/" + workspacePath
}

// export answers GET /api/workspace/export with the workspace as a tar.gz
// (see ExportWorkspaceDir). openclaw.json carries the customer's current
// skill switches. Files whose stored path could escape the archive's
// folders (absolute, "..") are left out.
func export(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files, err := customerdb.ReadWorkspace(r.Context(), o.DB)
		if err != nil {
			internalError(w, o, "read workspace", err)
			return
		}
		plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
		if err != nil {
			internalError(w, o, "read plan", err)
			return
		}
		list, err := skills.List(r.Context(), o.DB, plan)
		if err != nil {
			internalError(w, o, "list skills", err)
			return
		}
		for i, f := range files {
			if f.Path != skills.ConfigPath {
				continue
			}
			patched, err := skills.PatchConfig(f.Content, list)
			if err != nil {
				o.Log.Warn("export: openclaw.json left as stored", "err", err)
				continue
			}
			files[i].Content = patched
		}
		now := o.Now().UTC()
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Disposition",
			fmt.Sprintf(`attachment; filename="clawdbot-workspace-%s.tar.gz"`, now.Format("2006-01-02")))
		if err := writeArchive(w, files, now, o); err != nil {
			// The status line is gone: break the connection so the client
			// sees a failed download, not a truncated archive.
			o.Log.Error("export: write archive", "err", err)
			panic(http.ErrAbortHandler)
		}
	})
}

// safePath reports whether a stored workspace path stays inside the
// workspace once unpacked.
func safePath(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && path.Clean(p) == p && p != "." &&
		!slices.Contains(strings.Split(p, "/"), "..") && !strings.ContainsAny(p, "\\\x00")
}

// writeArchive writes files as a gzip-compressed tar stream: directories
// first as they are needed, files 0644, directories 0755.
func writeArchive(w io.Writer, files []customerdb.File, mtime time.Time, o Options) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	dir := func(name string) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX})
	}
	if err := dir(ExportWorkspaceDir); err != nil {
		return err
	}
	for _, f := range files {
		if !safePath(f.Path) {
			o.Log.Warn("export: workspace file with an unsafe path left out", "path", f.Path)
			continue
		}
		name := ExportPath(f.Path)
		parts := strings.Split(name, "/")
		for i := 1; i < len(parts); i++ {
			if err := dir(strings.Join(parts[:i], "/")); err != nil {
				return err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(f.Content)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, f.Content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
