package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"clawdbot.cloud/services/railway/internal/railwaytest"
)

// The stored introspection answer, converted, is the same schema as the
// stored SDL (which graphql-core printed from it): same types, fields,
// arguments, defaults, enum values and deprecations.
func TestConvertsTheStoredIntrospection(t *testing.T) {
	dir := filepath.Dir(railwaytest.SchemaPath())
	raw, err := os.ReadFile(filepath.Join(dir, "schema.introspection.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseIntrospection(raw)
	if err != nil {
		t.Fatal(err)
	}
	sdl, err := toSDL(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gqlparser.LoadSchema(&ast.Source{Name: "converted", Input: sdl})
	if err != nil {
		t.Fatalf("converted schema: %v", err)
	}
	want, err := railwaytest.Schema()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fingerprint(want), fingerprint(got)); diff != "" {
		t.Errorf("converted schema differs from schema.graphql (-want +got):\n%s", diff)
	}
}

// fingerprint lists a schema's members, one canonical line each.
func fingerprint(s *ast.Schema) []string {
	var out []string
	for name, def := range s.Types {
		if strings.HasPrefix(name, "__") {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s implements %v union %v", def.Kind, name, def.Interfaces, def.Types))
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			line := fmt.Sprintf("%s.%s: %s", name, f.Name, f.Type)
			if f.DefaultValue != nil {
				line += " = " + f.DefaultValue.String()
			}
			for _, a := range f.Arguments {
				line += fmt.Sprintf(" (%s: %s", a.Name, a.Type)
				if a.DefaultValue != nil {
					line += " = " + a.DefaultValue.String()
				}
				line += ")"
			}
			if d := f.Directives.ForName("deprecated"); d != nil {
				line += " deprecated"
				if r := d.Arguments.ForName("reason"); r != nil {
					line += " " + r.Value.Raw
				}
			}
			out = append(out, line)
		}
		for _, v := range def.EnumValues {
			line := name + "." + v.Name
			if v.Directives.ForName("deprecated") != nil {
				line += " deprecated"
			}
			out = append(out, line)
		}
	}
	for name := range s.Directives {
		out = append(out, "directive "+name)
	}
	for _, root := range []*ast.Definition{s.Query, s.Mutation, s.Subscription} {
		if root != nil {
			out = append(out, "root "+root.Name)
		}
	}
	slices.Sort(out)
	return out
}
