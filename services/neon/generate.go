package neon

// The Neon API v2 client (internal/neonapi) is generated from Neon's OpenAPI
// definition, read in place from the shared reference folder beside the
// repository and never copied into it. The generated code is committed;
// regenerate after changing internal/neonapi/oapi-codegen.yaml or the
// definition.
//go:generate go tool oapi-codegen -config internal/neonapi/oapi-codegen.yaml ../../../shared/reference/neon/openapi.json
