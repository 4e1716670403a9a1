// Package gql is the Railway public GraphQL API client that genqlient
// generates (generated.go, never edited by hand) from the operations in
// operations.graphql and Railway's schema, read in place from
// ../shared/reference/railway/schema.graphql (see services/railway/genqlient.yaml).
// Regenerate with `go tool genqlient` in services/railway.
package gql
