// Command railway-schema refreshes the Railway schema the compute service's
// client is generated from, by introspecting Railway's live API with an
// operator's token. It writes schema.introspection.json (the answer, as the
// Railway CLI keeps it) and schema.graphql (the same as SDL, which genqlient
// reads) into -out, after checking that the SDL parses. Then run
// `go tool genqlient` (make generate) and the tests, which validate every
// operation against the new schema.
//
//	RAILWAY_TOKEN=... RAILWAY_TOKEN_KIND=account go run ./cmd/railway-schema -out ../../../shared/reference/railway
//
// RAILWAY_API_URL overrides the endpoint (default Railway's public API).
// With -from FILE it converts a saved introspection answer instead of
// asking the API.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

const defaultAPIURL = "https://backboard.railway.com/graphql/v2"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "railway-schema:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, argv []string) error {
	fs := flag.NewFlagSet("railway-schema", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write schema.introspection.json and schema.graphql into (required)")
	from := fs.String("from", "", "convert this saved introspection answer instead of asking the API")
	if err := fs.Parse(argv); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required (the shared reference: ../../../shared/reference/railway from services/railway)")
	}
	var raw []byte
	var err error
	if *from != "" {
		raw, err = os.ReadFile(*from)
	} else {
		raw, err = fetch(ctx)
	}
	if err != nil {
		return err
	}
	schema, err := parseIntrospection(raw)
	if err != nil {
		return err
	}
	sdl, err := toSDL(schema)
	if err != nil {
		return err
	}
	if _, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl}); err != nil {
		return fmt.Errorf("the printed schema does not parse: %w", err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	if err := writeFile(filepath.Join(*out, "schema.introspection.json"), pretty.Bytes()); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*out, "schema.graphql"), []byte(sdl)); err != nil {
		return err
	}
	fmt.Printf("wrote %d types to %s; record the date in SOURCE.md, then run make generate and make test\n",
		len(schema.Types), *out)
	return nil
}

// fetch asks Railway's API for its schema with the operator's token.
func fetch(ctx context.Context) ([]byte, error) {
	token := os.Getenv("RAILWAY_TOKEN")
	if token == "" {
		return nil, errors.New("RAILWAY_TOKEN is required (and RAILWAY_TOKEN_KIND: account, team or project)")
	}
	url := os.Getenv("RAILWAY_API_URL")
	if url == "" {
		url = defaultAPIURL
	}
	body, _ := json.Marshal(map[string]any{"query": introspectionQuery, "operationName": "IntrospectionQuery"})
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	switch kind := os.Getenv("RAILWAY_TOKEN_KIND"); kind {
	case "project":
		req.Header.Set("Project-Access-Token", token)
	case "", "account", "team":
		req.Header.Set("Authorization", "Bearer "+token)
	default:
		return nil, fmt.Errorf("RAILWAY_TOKEN_KIND=%q is not account, team or project", kind)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %.300s", url, resp.Status, b)
	}
	return b, nil
}

// writeFile replaces path atomically.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// introspectionQuery is the standard introspection query (graphql-js's,
// without the newer fields older servers refuse).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations isRepeatable args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`
