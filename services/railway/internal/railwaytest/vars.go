package railwaytest

import (
	"fmt"
	"math"

	"github.com/vektah/gqlparser/v2/ast"
)

// checkVariables checks what gqlparser's coercion lets through but Railway
// would not: enum values in another case, fractional Ints, and the custom
// scalar EnvironmentVariables, which is an object of strings.
func checkVariables(schema *ast.Schema, op *ast.OperationDefinition, vars map[string]any) error {
	for _, vd := range op.VariableDefinitions {
		v, ok := vars[vd.Variable]
		if !ok {
			continue
		}
		if err := checkValue(schema, vd.Type, v, "$"+vd.Variable); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(schema *ast.Schema, typ *ast.Type, v any, path string) error {
	if v == nil {
		return nil // nullability is gqlparser's check
	}
	if typ.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return checkValue(schema, typ.Elem, v, path)
		}
		for i, e := range list {
			if err := checkValue(schema, typ.Elem, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	def := schema.Types[typ.NamedType]
	switch {
	case def.Kind == ast.Enum:
		if s, ok := v.(string); !ok || def.EnumValues.ForName(s) == nil {
			return fmt.Errorf("%s: %v is not a value of %s", path, v, def.Name)
		}
	case def.Name == "Int":
		if f, ok := number(v); !ok || f != math.Trunc(f) {
			return fmt.Errorf("%s: %v is not an Int", path, v)
		}
	case def.Name == "EnvironmentVariables":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: EnvironmentVariables must be an object", path)
		}
		for k, e := range m {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("%s.%s: variable values are strings", path, k)
			}
		}
	case def.Kind == ast.InputObject:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be a %s", path, def.Name)
		}
		for k, e := range m {
			if fd := def.Fields.ForName(k); fd != nil {
				if err := checkValue(schema, fd.Type, e, path+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
