package railwaytest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// SchemaEnv names an environment variable that overrides where the Railway
// schema is read from.
const SchemaEnv = "RAILWAY_SCHEMA"

// SchemaPath is Railway's published schema, read in place from the shared
// reference beside the repository (never copied into it):
// ../shared/reference/railway/schema.graphql from the repository root.
func SchemaPath() string {
	if p := os.Getenv(SchemaEnv); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	// internal/railwaytest → services/railway → repository root → its parent.
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "shared", "reference", "railway", "schema.graphql")
}

var schemaOnce = sync.OnceValues(func() (*ast.Schema, error) {
	path := SchemaPath()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("railway schema: %w (set %s to its path)", err, SchemaEnv)
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: path, Input: string(b)})
	if err != nil {
		return nil, fmt.Errorf("railway schema %s: %w", path, err)
	}
	return s, nil
})

// Schema returns Railway's schema, parsed once per test binary.
func Schema() (*ast.Schema, error) { return schemaOnce() }
