package googletest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DiscoveryModule is the module, at a pinned version, whose discovery
// documents define the APIs the server answers: the documents Google's own
// generated Go clients are built from.
const DiscoveryModule = "google.golang.org/api@v0.290.0"

// Discovery documents inside DiscoveryModule.
const (
	gmailDoc    = "gmail/v1/gmail-api.json"
	calendarDoc = "calendar/v3/calendar-api.json"
)

// doc is the part of a discovery document the validator reads.
type doc struct {
	Name        string               `json:"name"`
	ServicePath string               `json:"servicePath"`
	Parameters  map[string]param     `json:"parameters"`
	Resources   map[string]*resource `json:"resources"`
	Methods     map[string]*method   `json:"methods"`
	Schemas     map[string]*schema   `json:"schemas"`
}

type resource struct {
	Methods   map[string]*method   `json:"methods"`
	Resources map[string]*resource `json:"resources"`
}

type method struct {
	ID         string           `json:"id"`
	Path       string           `json:"path"`
	HTTPMethod string           `json:"httpMethod"`
	Parameters map[string]param `json:"parameters"`
	Request    *struct {
		Ref string `json:"$ref"`
	} `json:"request"`
	Scopes []string `json:"scopes"`

	// Filled in by load: the full path as a pattern and its parameters' names.
	re     *regexp.Regexp
	params []string
	doc    *doc
}

type param struct {
	Type     string   `json:"type"`
	Format   string   `json:"format"`
	Location string   `json:"location"`
	Required bool     `json:"required"`
	Repeated bool     `json:"repeated"`
	Enum     []string `json:"enum"`
}

type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties *schema            `json:"additionalProperties"`
}

// apis is the methods of both documents, loaded once per test binary.
type apis struct {
	methods []*method
}

var (
	loadOnce sync.Once
	loaded   *apis
	loadErr  error
)

// loadAPIs reads the discovery documents from the module cache (go mod
// download fetches the pinned module when the cache lacks it).
func loadAPIs() (*apis, error) {
	loadOnce.Do(func() { loaded, loadErr = readAPIs() })
	return loaded, loadErr
}

func readAPIs() (*apis, error) {
	out, err := exec.Command("go", "mod", "download", "-json", DiscoveryModule).Output()
	if err != nil {
		return nil, fmt.Errorf("locate %s (go mod download): %w", DiscoveryModule, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("locate %s: no module directory (%s)", DiscoveryModule, mod.Error)
	}
	a := &apis{}
	for _, name := range []string{gmailDoc, calendarDoc} {
		b, err := os.ReadFile(filepath.Join(mod.Dir, name))
		if err != nil {
			return nil, fmt.Errorf("read discovery document: %w", err)
		}
		d := &doc{}
		if err := json.Unmarshal(b, d); err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		var walk func(r *resource)
		add := func(ms map[string]*method) {
			for _, m := range ms {
				m.doc = d
				compile(m, d.ServicePath)
				a.methods = append(a.methods, m)
			}
		}
		walk = func(r *resource) {
			add(r.Methods)
			for _, c := range r.Resources {
				walk(c)
			}
		}
		add(d.Methods)
		for _, r := range d.Resources {
			walk(r)
		}
	}
	// Literal segments before parameters: "drafts/send" must win over
	// "drafts/{id}".
	sort.Slice(a.methods, func(i, j int) bool { return len(a.methods[i].params) < len(a.methods[j].params) })
	if len(a.methods) < 50 {
		return nil, errors.New("discovery documents hold too few methods: wrong files?")
	}
	return a, nil
}

var pathParam = regexp.MustCompile(`\{\+?([A-Za-z0-9_]+)\}`)

// compile turns "calendars/{calendarId}/events" under servicePath into an
// anchored pattern of the request path.
func compile(m *method, servicePath string) {
	full := "/" + servicePath + m.Path
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, loc := range pathParam.FindAllStringSubmatchIndex(full, -1) {
		b.WriteString(regexp.QuoteMeta(full[last:loc[0]]))
		if strings.HasPrefix(full[loc[0]:], "{+") {
			b.WriteString("(.+)")
		} else {
			b.WriteString("([^/]+)")
		}
		m.params = append(m.params, full[loc[2]:loc[3]])
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(full[last:]))
	b.WriteString("$")
	m.re = regexp.MustCompile(b.String())
}

// Request is a validated API call: its method id and parameters.
type Request struct {
	// ID is the discovery method id, e.g. "gmail.users.messages.list".
	ID string
	// Path holds the path parameters, Query the query parameters.
	Path  map[string]string
	Query url.Values
}

// validationError is a request the discovery document refuses; it becomes
// a 400 (404 for an unknown path, 405 for a known path's other method).
type validationError struct {
	status int
	msg    string
}

func (e *validationError) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &validationError{status: 400, msg: fmt.Sprintf(format, args...)}
}

// match finds the method of an HTTP request and checks its parameters and
// body against the document.
func (a *apis) match(httpMethod, path string, query url.Values, body []byte) (Request, error) {
	pathKnown := false
	for _, m := range a.methods {
		sub := m.re.FindStringSubmatch(path)
		if sub == nil {
			continue
		}
		pathKnown = true
		if m.HTTPMethod != httpMethod {
			continue
		}
		req := Request{ID: m.ID, Path: map[string]string{}, Query: query}
		for i, name := range m.params {
			v, err := url.PathUnescape(sub[i+1])
			if err != nil {
				return req, bad("path parameter %s: %v", name, err)
			}
			req.Path[name] = v
		}
		return req, m.check(req, body)
	}
	if pathKnown {
		return Request{}, &validationError{status: 405, msg: fmt.Sprintf("method %s not allowed on %s", httpMethod, path)}
	}
	return Request{}, &validationError{status: 404, msg: "no API method has the path " + path}
}

func (m *method) check(req Request, body []byte) error {
	for name, p := range m.Parameters {
		switch p.Location {
		case "path":
			if req.Path[name] == "" && p.Required {
				return bad("%s: required path parameter %s is empty", m.ID, name)
			}
		case "query":
			vs, ok := req.Query[name]
			if !ok {
				if p.Required {
					return bad("%s: required parameter %s is missing", m.ID, name)
				}
				continue
			}
			if len(vs) > 1 && !p.Repeated {
				return bad("%s: parameter %s is not repeated", m.ID, name)
			}
			for _, v := range vs {
				if err := checkValue(p, v); err != nil {
					return bad("%s: parameter %s: %v", m.ID, name, err)
				}
			}
		}
	}
	for name, vs := range req.Query {
		if _, ok := m.Parameters[name]; ok {
			continue
		}
		p, ok := m.doc.Parameters[name]
		if !ok {
			return bad("%s: unknown parameter %s", m.ID, name)
		}
		for _, v := range vs {
			if err := checkValue(p, v); err != nil {
				return bad("%s: parameter %s: %v", m.ID, name, err)
			}
		}
	}
	if m.Request == nil {
		if len(strings.TrimSpace(string(body))) > 0 {
			return bad("%s takes no request body", m.ID)
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return bad("%s: request body is not JSON: %v", m.ID, err)
	}
	return m.doc.checkSchema(m.Request.Ref, v, "body")
}

func checkValue(p param, v string) error {
	switch p.Type {
	case "integer":
		bits := 64
		if p.Format == "int32" || p.Format == "uint32" {
			bits = 32
		}
		var err error
		if strings.HasPrefix(p.Format, "u") {
			_, err = strconv.ParseUint(v, 10, bits)
		} else {
			_, err = strconv.ParseInt(v, 10, bits)
		}
		if err != nil {
			return fmt.Errorf("%q is not a %s", v, p.Format)
		}
	case "boolean":
		if v != "true" && v != "false" {
			return fmt.Errorf("%q is not a boolean", v)
		}
	case "string":
		if p.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("%q is not an RFC 3339 date-time with offset", v)
			}
		}
	}
	if len(p.Enum) > 0 {
		for _, e := range p.Enum {
			if e == v {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %v", v, p.Enum)
	}
	return nil
}

// checkSchema checks v against the schema named ref: known properties only,
// each of its declared JSON type, recursively.
func (d *doc) checkSchema(ref string, v any, at string) error {
	s, ok := d.Schemas[ref]
	if !ok {
		return bad("%s: unknown schema %s", at, ref)
	}
	return d.checkType(s, v, at)
}

func (d *doc) checkType(s *schema, v any, at string) error {
	if s.Ref != "" {
		return d.checkSchema(s.Ref, v, at)
	}
	if v == nil {
		return nil
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("%s: want an object", at)
		}
		for k, val := range obj {
			ps, ok := s.Properties[k]
			if !ok {
				if s.AdditionalProperties != nil {
					ps = s.AdditionalProperties
				} else {
					return bad("%s: unknown field %q", at, k)
				}
			}
			if err := d.checkType(ps, val, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return bad("%s: want an array", at)
		}
		for i, e := range arr {
			if err := d.checkType(s.Items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return bad("%s: want a string", at)
		}
		switch s.Format {
		case "int64", "uint64":
			if _, err := strconv.ParseInt(str, 10, 64); err != nil {
				return bad("%s: want an %s as a string", at, s.Format)
			}
		case "date-time":
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				return bad("%s: %q is not an RFC 3339 date-time", at, str)
			}
		case "date":
			if _, err := time.Parse(time.DateOnly, str); err != nil {
				return bad("%s: %q is not a date", at, str)
			}
		}
	case "integer", "number":
		if _, ok := v.(float64); !ok {
			return bad("%s: want a number", at)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("%s: want a boolean", at)
		}
	}
	return nil
}
