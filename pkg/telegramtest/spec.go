package telegramtest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// specFile is the Bot API definition, relative to the folder that holds the
// repository (the shared reference folder sits beside it).
const specFile = "shared/reference/telegram/api.json"

// SpecEnv names an environment variable that, when set, is the path of the
// definition instead of the one found above the working directory.
const SpecEnv = "TELEGRAM_API_SPEC"

// Spec is the machine-readable Bot API definition: methods and types with
// their fields.
type Spec struct {
	Version string                `json:"version"`
	Methods map[string]specMethod `json:"methods"`
	Types   map[string]specType   `json:"types"`
}

type specMethod struct {
	Fields  []specField `json:"fields"`
	Returns []string    `json:"returns"`
}

type specType struct {
	Fields   []specField `json:"fields"`
	Subtypes []string    `json:"subtypes"`
}

type specField struct {
	Name     string   `json:"name"`
	Types    []string `json:"types"`
	Required bool     `json:"required"`
}

var loaded struct {
	once sync.Once
	spec *Spec
	err  error
}

// SpecPath finds the definition: $TELEGRAM_API_SPEC, or
// shared/reference/telegram/api.json in the nearest folder above the
// working directory that has it.
func SpecPath() (string, error) {
	if p := os.Getenv(SpecEnv); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, specFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s above the working directory (or set %s): the Telegram test server needs the shared reference folder beside the repository", specFile, SpecEnv)
		}
		dir = parent
	}
}

// LoadSpec reads and parses the definition once per test binary.
func LoadSpec() (*Spec, error) {
	loaded.once.Do(func() {
		path, err := SpecPath()
		if err != nil {
			loaded.err = err
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			loaded.err = err
			return
		}
		var s Spec
		if err := json.Unmarshal(b, &s); err != nil {
			loaded.err = fmt.Errorf("parse %s: %w", path, err)
			return
		}
		if len(s.Methods) == 0 || len(s.Types) == 0 {
			loaded.err = fmt.Errorf("%s: no methods or types", path)
			return
		}
		loaded.spec = &s
	})
	return loaded.spec, loaded.err
}

// CheckCall validates the parameters of one method call: the method exists,
// every required field is present, no unknown field is sent, and every
// field has one of its types. The error text is what Telegram's
// description would say, in spirit.
func (s *Spec) CheckCall(method string, params map[string]any) error {
	m, ok := s.Methods[method]
	if !ok {
		return fmt.Errorf("method %q is not in Bot API %s", method, s.Version)
	}
	known := make(map[string]specField, len(m.Fields))
	for _, f := range m.Fields {
		known[f.Name] = f
		if _, ok := params[f.Name]; f.Required && !ok {
			return fmt.Errorf("%s: required field %q is missing", method, f.Name)
		}
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		f, ok := known[k]
		if !ok {
			return fmt.Errorf("%s: unknown field %q", method, k)
		}
		if err := s.checkValue(f.Types, params[k], 0); err != nil {
			return fmt.Errorf("%s: field %q: %w", method, k, err)
		}
	}
	return nil
}

// CheckObject validates v as an object of the named type (the objects the
// server returns and the updates a test scripts).
func (s *Spec) CheckObject(typeName string, v any) error {
	return s.checkValue([]string{typeName}, v, 0)
}

// checkValue reports whether v has one of types.
func (s *Spec) checkValue(types []string, v any, depth int) error {
	if depth > 32 {
		return nil
	}
	var errs []string
	for _, t := range types {
		err := s.checkOne(t, v, depth)
		if err == nil {
			return nil
		}
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("want %s: %s", strings.Join(types, " or "), strings.Join(errs, "; "))
}

func (s *Spec) checkOne(t string, v any, depth int) error {
	if elem, ok := strings.CutPrefix(t, "Array of "); ok {
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("not an array")
		}
		for i, e := range arr {
			if err := s.checkValue([]string{elem}, e, depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	switch t {
	case "Integer":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) {
			return fmt.Errorf("not an integer")
		}
		return nil
	case "Float":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("not a number")
		}
		return nil
	case "String":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("not a string")
		}
		return nil
	case "Boolean", "True":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("not a boolean")
		}
		return nil
	case "InputFile":
		// A file_id or URL as a string; uploads are multipart, which this
		// server does not take.
		if _, ok := v.(string); !ok {
			return fmt.Errorf("not a file id or URL")
		}
		return nil
	}
	typ, ok := s.Types[t]
	if !ok {
		return fmt.Errorf("unknown type %s", t)
	}
	if len(typ.Subtypes) > 0 {
		return s.checkValue(typ.Subtypes, v, depth+1)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("not an object")
	}
	known := make(map[string]bool, len(typ.Fields))
	for _, f := range typ.Fields {
		known[f.Name] = true
		fv, present := obj[f.Name]
		if !present {
			if f.Required {
				return fmt.Errorf("%s: required field %q is missing", t, f.Name)
			}
			continue
		}
		if err := s.checkValue(f.Types, fv, depth+1); err != nil {
			return fmt.Errorf("%s.%s: %w", t, f.Name, err)
		}
	}
	for k := range obj {
		if !known[k] {
			return fmt.Errorf("%s: unknown field %q", t, k)
		}
	}
	return nil
}
