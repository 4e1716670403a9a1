# Clawdbot Cloud — one Makefile for every module of go.work.
#
#   make run     run the whole platform on embedded defaults (clawctl dev)
#   make test    every module's tests, with the race detector
#   make lint    gofmt + go vet on every module
#   make proto   regenerate proto/gen from proto/clawdbot (committed)
#   make generate  every generated file (proto, Railway and Neon clients)
#   make bench   Go benchmarks + signup latency (clawctl bench)

GO       ?= go
BIN      := $(CURDIR)/bin
# Every module of the workspace, as import-path patterns.
MODULES  := $(shell $(GO) list -m -f '{{.Path}}/...')
SERVICES := ingress saga railway neon workspace health runtime
PROTOC   ?= protoc

.PHONY: all build run test lint proto proto-check generate generate-check railway-schema bench clean

all: lint test

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/clawctl ./cmd/clawctl
	@for s in $(SERVICES); do $(GO) build -o $(BIN)/$$s ./services/$$s/cmd/$$s || exit 1; done

run: build
	$(BIN)/clawctl dev

test:
	$(GO) test -race -count=1 -timeout 20m $(MODULES)

lint:
	@out=$$(gofmt -l $$($(GO) list -m -f '{{.Dir}}')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(MODULES)

proto:
	cd proto && $(PROTOC) -I . --plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
		--go_out=gen --go_opt=paths=source_relative clawdbot/v1/*.proto

# proto-check fails when the committed generated code differs from what make proto writes.
proto-check: proto
	git diff --exit-code -- proto/gen

# generate regenerates every committed generated file: protobuf, the Railway
# GraphQL client (genqlient, from ../shared/reference/railway/schema.graphql)
# and the Neon API client (oapi-codegen, from ../shared/reference/neon/openapi.json).
generate: proto
	cd services/railway && $(GO) tool genqlient
	cd services/neon && $(GO) generate ./...

# generate-check fails when committed generated code is stale.
generate-check: generate
	git diff --exit-code -- proto/gen services/railway/internal/adapters/railway/gql services/neon/internal/neonapi

# railway-schema refreshes ../shared/reference/railway from the live API by
# introspection (needs RAILWAY_TOKEN and RAILWAY_TOKEN_KIND).
railway-schema:
	$(GO) run ./services/railway/cmd/railway-schema -out ../shared/reference/railway

bench: build
	$(GO) test -run '^$$' -bench . -benchmem $(MODULES)
	$(BIN)/clawctl bench -n 50

clean:
	rm -rf $(BIN)
