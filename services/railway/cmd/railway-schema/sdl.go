package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// introspection is the answer to introspectionQuery: {"data": {"__schema": ...}}.
type introspection struct {
	Data struct {
		Schema introSchema `json:"__schema"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

type introSchema struct {
	QueryType        *named       `json:"queryType"`
	MutationType     *named       `json:"mutationType"`
	SubscriptionType *named       `json:"subscriptionType"`
	Types            []introType  `json:"types"`
	Directives       []introDirec `json:"directives"`
}

type named struct {
	Name string `json:"name"`
}

type introType struct {
	Kind          string       `json:"kind"`
	Name          string       `json:"name"`
	Description   *string      `json:"description"`
	Fields        []introField `json:"fields"`
	InputFields   []introInput `json:"inputFields"`
	Interfaces    []named      `json:"interfaces"`
	EnumValues    []introEnum  `json:"enumValues"`
	PossibleTypes []named      `json:"possibleTypes"`
}

type introField struct {
	Name              string       `json:"name"`
	Description       *string      `json:"description"`
	Args              []introInput `json:"args"`
	Type              typeRef      `json:"type"`
	IsDeprecated      bool         `json:"isDeprecated"`
	DeprecationReason *string      `json:"deprecationReason"`
}

type introInput struct {
	Name         string  `json:"name"`
	Description  *string `json:"description"`
	Type         typeRef `json:"type"`
	DefaultValue *string `json:"defaultValue"`
}

type introEnum struct {
	Name              string  `json:"name"`
	Description       *string `json:"description"`
	IsDeprecated      bool    `json:"isDeprecated"`
	DeprecationReason *string `json:"deprecationReason"`
}

type introDirec struct {
	Name         string       `json:"name"`
	Description  *string      `json:"description"`
	Locations    []string     `json:"locations"`
	Args         []introInput `json:"args"`
	IsRepeatable bool         `json:"isRepeatable"`
}

type typeRef struct {
	Kind   string   `json:"kind"`
	Name   *string  `json:"name"`
	OfType *typeRef `json:"ofType"`
}

// builtins are printed by no schema: the spec's scalars and directives.
var builtins = map[string]bool{
	"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true,
	"include": true, "skip": true, "deprecated": true, "specifiedBy": true, "oneOf": true,
}

// parseIntrospection reads an introspection answer.
func parseIntrospection(b []byte) (introSchema, error) {
	var in introspection
	if err := json.Unmarshal(b, &in); err != nil {
		return introSchema{}, fmt.Errorf("decode introspection: %w", err)
	}
	if len(in.Errors) > 0 {
		return introSchema{}, fmt.Errorf("introspection answered errors: %s", in.Errors[0].Message)
	}
	if len(in.Data.Schema.Types) == 0 {
		return introSchema{}, fmt.Errorf("introspection holds no types")
	}
	return in.Data.Schema, nil
}

// toSDL prints an introspected schema as SDL, the form genqlient reads.
func toSDL(s introSchema) (string, error) {
	doc := &ast.SchemaDocument{}
	if root := rootOps(s); root != nil {
		doc.Schema = ast.SchemaDefinitionList{root}
	}
	for _, d := range s.Directives {
		if builtins[d.Name] {
			continue
		}
		dd := &ast.DirectiveDefinition{Name: d.Name, Description: text(d.Description), IsRepeatable: d.IsRepeatable,
			Arguments: args(d.Args)}
		for _, l := range d.Locations {
			dd.Locations = append(dd.Locations, ast.DirectiveLocation(l))
		}
		doc.Directives = append(doc.Directives, dd)
	}
	for _, t := range s.Types {
		if strings.HasPrefix(t.Name, "__") || builtins[t.Name] {
			continue
		}
		def, err := definition(t)
		if err != nil {
			return "", err
		}
		doc.Definitions = append(doc.Definitions, def)
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchemaDocument(doc)
	// A blank line between definitions, as graphql-js prints them.
	return strings.ReplaceAll(buf.String(), "\n}\n", "\n}\n\n"), nil
}

// rootOps is the schema definition, needed only when a root type is not
// named Query, Mutation or Subscription.
func rootOps(s introSchema) *ast.SchemaDefinition {
	def := &ast.SchemaDefinition{}
	custom := false
	for op, t := range map[ast.Operation]*named{ast.Query: s.QueryType, ast.Mutation: s.MutationType, ast.Subscription: s.SubscriptionType} {
		if t == nil {
			continue
		}
		def.OperationTypes = append(def.OperationTypes, &ast.OperationTypeDefinition{Operation: op, Type: t.Name})
		custom = custom || !strings.EqualFold(t.Name, string(op))
	}
	if !custom {
		return nil
	}
	return def
}

// definition converts one introspected type.
func definition(t introType) (*ast.Definition, error) {
	def := &ast.Definition{Name: t.Name, Description: text(t.Description)}
	switch t.Kind {
	case "SCALAR":
		def.Kind = ast.Scalar
	case "OBJECT", "INTERFACE":
		def.Kind = ast.Object
		if t.Kind == "INTERFACE" {
			def.Kind = ast.Interface
		}
		for _, i := range t.Interfaces {
			def.Interfaces = append(def.Interfaces, i.Name)
		}
		for _, f := range t.Fields {
			def.Fields = append(def.Fields, &ast.FieldDefinition{Name: f.Name, Description: text(f.Description),
				Arguments: args(f.Args), Type: astType(f.Type), Directives: deprecated(f.IsDeprecated, f.DeprecationReason)})
		}
	case "INPUT_OBJECT":
		def.Kind = ast.InputObject
		for _, f := range t.InputFields {
			def.Fields = append(def.Fields, &ast.FieldDefinition{Name: f.Name, Description: text(f.Description),
				Type: astType(f.Type), DefaultValue: literal(f.DefaultValue)})
		}
	case "ENUM":
		def.Kind = ast.Enum
		for _, v := range t.EnumValues {
			def.EnumValues = append(def.EnumValues, &ast.EnumValueDefinition{Name: v.Name, Description: text(v.Description),
				Directives: deprecated(v.IsDeprecated, v.DeprecationReason)})
		}
	case "UNION":
		def.Kind = ast.Union
		for _, p := range t.PossibleTypes {
			def.Types = append(def.Types, p.Name)
		}
	default:
		return nil, fmt.Errorf("type %s: unknown kind %s", t.Name, t.Kind)
	}
	return def, nil
}

func args(in []introInput) ast.ArgumentDefinitionList {
	var out ast.ArgumentDefinitionList
	for _, a := range in {
		out = append(out, &ast.ArgumentDefinition{Name: a.Name, Description: text(a.Description),
			Type: astType(a.Type), DefaultValue: literal(a.DefaultValue)})
	}
	return out
}

func astType(r typeRef) *ast.Type {
	switch r.Kind {
	case "NON_NULL":
		t := astType(*r.OfType)
		t.NonNull = true
		return t
	case "LIST":
		return ast.ListType(astType(*r.OfType), nil)
	}
	return ast.NamedType(*r.Name, nil)
}

// literal is a default value, which introspection gives as GraphQL source
// text. It is kept verbatim: a value of kind IntValue prints its Raw as is.
func literal(s *string) *ast.Value {
	if s == nil {
		return nil
	}
	return &ast.Value{Kind: ast.IntValue, Raw: *s}
}

func deprecated(is bool, reason *string) ast.DirectiveList {
	if !is {
		return nil
	}
	d := &ast.Directive{Name: "deprecated"}
	if reason != nil && *reason != "" {
		d.Arguments = ast.ArgumentList{{Name: "reason", Value: &ast.Value{Kind: ast.StringValue, Raw: *reason}}}
	}
	return ast.DirectiveList{d}
}

func text(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
