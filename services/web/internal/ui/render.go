package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"

	"clawdbot.cloud/pkg/plans"
)

// parseTemplates parses each page with the shared layout.
func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"price": func(cents int64) string { return fmt.Sprintf("$%d", cents/100) },
		"thousands": func(n int64) string {
			s := fmt.Sprint(n)
			var b strings.Builder
			for i, c := range s {
				if i > 0 && (len(s)-i)%3 == 0 {
					b.WriteByte(',')
				}
				b.WriteRune(c)
			}
			return b.String()
		},
		"skillName": skillName,
		"links":     linksIn,
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// skillName is a skill's display name.
func skillName(id string) string {
	switch id {
	case plans.SkillWebSearch:
		return "Web search"
	case plans.SkillGitHub:
		return "GitHub"
	case plans.SkillGmail:
		return "Gmail"
	}
	return strings.ToUpper(id[:1]) + id[1:]
}

// page is what every template gets.
type page struct {
	Title string
	// Dev labels every page of a dev-mode app.
	Dev bool
	// SignedIn shows the sign-out button, whose form carries SessionCSRF;
	// CSRF is the token the page's own forms carry (the session's, or the
	// anonymous double-submit token on public pages).
	SignedIn    bool
	SessionCSRF string
	CSRF        string
	Data        any
}

// render writes a page; a template error is logged and answered 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Dev = s.o.Dev
	if ss, _, ok := s.session(r); ok {
		p.SignedIn, p.SessionCSRF = true, ss.CSRF
		if p.CSRF == "" {
			p.CSRF = ss.CSRF
		}
	}
	t, ok := s.pages[name]
	var buf bytes.Buffer
	if ok {
		if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
			s.o.Log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
			ok = false
		}
	}
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers an error: a page for browsers, JSON for the API.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/app/api/") || strings.HasPrefix(r.URL.Path, "/welcome/") ||
		strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	s.render(w, r, status, "message", page{Title: http.StatusText(status), Data: msg})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, http.StatusNotFound, "There is nothing here.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// linkPattern finds the links in a plain-text mail.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// linksIn returns the links in a plain-text mail (the dev mailbox makes
// them clickable).
func linksIn(body string) []string { return linkPattern.FindAllString(body, 10) }
