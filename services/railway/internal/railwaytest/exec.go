package railwaytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// lazy is a field value that depends on the field's arguments (a paginated
// connection, say); project calls it with them.
type lazy func(args map[string]any) (any, error)

// response is a GraphQL answer.
type response struct {
	Data   map[string]any `json:"data"`
	Errors gqlerror.List  `json:"errors,omitempty"`
}

// execute runs an operation against the state, its root fields in order,
// and builds the answer from the operation's selections. A root field that
// fails is null with an error; a non-null one makes data null, as GraphQL
// propagates nulls.
func (s *Server) execute(op *ast.OperationDefinition, vars map[string]any) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	root := s.schema.Query
	if op.Operation == ast.Mutation {
		root = s.schema.Mutation
	}
	resp := response{Data: map[string]any{}}
	nullData := false
	for _, sel := range op.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok {
			s.t.Errorf("railwaytest: fragments at the root are not modelled")
			continue
		}
		if f.Name == "__typename" {
			resp.Data[f.Alias] = root.Name
			continue
		}
		def := root.Fields.ForName(f.Name)
		v, err := s.st.resolve(f.Name, f.ArgumentMap(vars))
		if err == nil {
			v, err = s.complete(def.Type, f.SelectionSet, v, vars)
		}
		if err != nil {
			var ge *gqlerror.Error
			if !errors.As(err, &ge) {
				ge = &gqlerror.Error{Message: err.Error()}
			}
			ge.Path = ast.Path{ast.PathName(f.Alias)}
			resp.Errors = append(resp.Errors, ge)
			resp.Data[f.Alias] = nil
			nullData = nullData || def.Type.NonNull
			continue
		}
		resp.Data[f.Alias] = v
	}
	if nullData {
		resp.Data = nil
	}
	return resp
}

// modelError reports a fake that answers outside the schema: the test fails.
func (s *Server) modelError(format string, args ...any) error {
	err := fmt.Errorf("railwaytest answers outside the schema: "+format, args...)
	s.t.Error(err)
	return err
}

// complete turns a resolved value into the answer for a field of type typ.
func (s *Server) complete(typ *ast.Type, sel ast.SelectionSet, v any, vars map[string]any) (any, error) {
	if isNil(v) {
		if typ.NonNull {
			return nil, s.modelError("null for non-null %s", typ)
		}
		return nil, nil
	}
	if typ.Elem != nil {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice {
			return nil, s.modelError("%T for list %s", v, typ)
		}
		out := make([]any, rv.Len())
		for i := range out {
			var err error
			if out[i], err = s.complete(typ.Elem, sel, rv.Index(i).Interface(), vars); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	def := s.schema.Types[typ.NamedType]
	switch def.Kind {
	case ast.Scalar:
		return s.scalar(def.Name, v)
	case ast.Enum:
		str, ok := v.(string)
		if !ok || def.EnumValues.ForName(str) == nil {
			return nil, s.modelError("%v is not a %s", v, def.Name)
		}
		return str, nil
	case ast.Object:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, s.modelError("%T for object %s", v, def.Name)
		}
		return s.project(def, sel, obj, vars)
	case ast.Interface, ast.Union:
		obj, ok := v.(map[string]any)
		name, _ := obj["__typename"].(string)
		concrete := s.schema.Types[name]
		if !ok || concrete == nil || !slices.Contains(s.schema.GetPossibleTypes(def), concrete) {
			return nil, s.modelError("%v is no object of %s", obj["__typename"], def.Name)
		}
		return s.project(concrete, sel, obj, vars)
	}
	return nil, s.modelError("type %s", def.Name)
}

// project answers the selection sel on obj, an object of type def.
func (s *Server) project(def *ast.Definition, sel ast.SelectionSet, obj map[string]any, vars map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, item := range sel {
		switch item := item.(type) {
		case *ast.Field:
			if item.Name == "__typename" {
				out[item.Alias] = def.Name
				continue
			}
			fd := def.Fields.ForName(item.Name)
			if fd == nil {
				return nil, s.modelError("%s has no field %s", def.Name, item.Name)
			}
			v := obj[item.Name]
			if fn, ok := v.(lazy); ok {
				var err error
				if v, err = fn(item.ArgumentMap(vars)); err != nil {
					return nil, err
				}
			}
			cv, err := s.complete(fd.Type, item.SelectionSet, v, vars)
			if err != nil {
				return nil, err
			}
			out[item.Alias] = merge(out[item.Alias], cv)
		case *ast.InlineFragment:
			if err := s.spread(def, item.TypeCondition, item.SelectionSet, obj, vars, out); err != nil {
				return nil, err
			}
		case *ast.FragmentSpread:
			if err := s.spread(def, item.Definition.TypeCondition, item.Definition.SelectionSet, obj, vars, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// spread adds a fragment's fields to out when it applies to def.
func (s *Server) spread(def *ast.Definition, cond string, sel ast.SelectionSet, obj map[string]any, vars map[string]any, out map[string]any) error {
	if cond != "" && cond != def.Name {
		on := s.schema.Types[cond]
		if on == nil || !slices.Contains(s.schema.GetPossibleTypes(on), def) {
			return nil
		}
	}
	part, err := s.project(def, sel, obj, vars)
	if err != nil {
		return err
	}
	for k, v := range part {
		out[k] = merge(out[k], v)
	}
	return nil
}

// merge joins two answers for the same key (a field selected directly and
// through a fragment).
func merge(a, b any) any {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		return b
	}
	for k, v := range bm {
		am[k] = merge(am[k], v)
	}
	return am
}

// scalar checks a value of a scalar type as it will be written in JSON.
func (s *Server) scalar(name string, v any) (any, error) {
	ok := true
	switch name {
	case "String", "ID", "DateTime":
		_, ok = v.(string)
	case "Boolean":
		_, ok = v.(bool)
	case "Int":
		f, isNum := number(v)
		ok = isNum && f == math.Trunc(f) && math.Abs(f) <= math.MaxInt32
	case "Float":
		_, ok = number(v)
	}
	if !ok {
		return nil, s.modelError("%T %v is not a %s", v, v, name)
	}
	return v, nil
}

// number reads any Go number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Pointer, reflect.Slice, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
