# ICN hub — build, test and tooling targets. `make help` lists them.
GO        ?= go
BIN       := $(CURDIR)/bin
PROTOC_GEN_GO_VERSION := $(shell $(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)
STATICCHECK_VERSION   := v0.8.2
PROTOC_GEN_GRPC_VERSION := v1.6.2
FUZZTIME  ?= 10s
BENCHTIME ?= 10s

.PHONY: tzdb help build test test-short chaos lint proto proto-check fuzz bench bench-peers bench-peers-deps tools dev browser-deps image docker-test deploy-deps deploy-check

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/icn
	$(GO) build -o $(BIN)/icn ./cmd/icn

IMAGE     ?= icn:dev

image: ## build the container image $(IMAGE) (static icn on scratch; nothing is pulled)
	rm -rf $(BIN)/image && mkdir -p $(BIN)/image/data
	CGO_ENABLED=0 $(GO) build -trimpath -tags timetzdata -ldflags '-s -w' -o $(BIN)/image/icn ./cmd/icn
	docker build -q -f deploy/Dockerfile -t $(IMAGE) $(BIN)/image

docker-test: image ## the compose federation on the Docker Engine: payments through a leader kill and a partition (deploy/compose)
	ICN_DOCKER_TEST=1 ICN_IMAGE=$(IMAGE) $(GO) test -count=1 -timeout 20m -run TestCompose -v ./deploy/

deploy-deps: ## install Debian's promtool (prometheus) and systemd-analyze (systemd) for the deploy checks
	@if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus systemd

deploy-check: ## promtool rule tests and check metrics, systemd-analyze verify, Kubernetes manifests (deploy/)
	ICN_REQUIRE_DEPLOY_TOOLS=1 $(GO) test -count=1 -run 'TestPrometheus|TestSystemd|TestMetrics' -v ./deploy/
	cd deploy/k8s/check && $(GO) test -count=1 -v ./...

dev: ## run a local dev federation (same as go run ./cmd/icn dev)
	$(GO) run ./cmd/icn dev

test: ## the full test suite with the race detector (what CI runs)
	$(GO) test -race -count=1 -timeout 15m ./...

SEEDS     ?= 5
DURATION  ?= 30s

chaos: ## seeded fault campaign (system_test TestChaos): SEEDS seeds (default 5) of DURATION faults each (default 30s): SIGKILLs, restarts, netns partitions; needs root and iproute2; rerun one with ICN_CHAOS_SEED=S
	ICN_CHAOS_SEEDS=$(SEEDS) ICN_CHAOS_DURATION=$(DURATION) ICN_REQUIRE_NETNS=1 $(GO) test -race -count=1 -timeout 90m -run 'TestChaos$$' -v ./system_test/

test-short: ## quick tests without the race detector
	$(GO) test -short -count=1 ./...

browser-deps: ## install Debian's chromium for the browser tests (hub/ui, coopnode/wallet); they skip without it unless ICN_REQUIRE_BROWSER=1
	@if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

bench-peers-deps: ## install Debian's etcd-server and postgresql for icn bench peers (not needed by make test)
	@if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server postgresql

bench-peers: build ## icn bench peers: ICN beside etcd, PostgreSQL and the Ed25519 limit (BENCHTIME each workload; make bench-peers-deps first)
	$(BIN)/icn bench peers --duration $(BENCHTIME)

tzdb: ## refresh internal/tzdb/zoneinfo.zip from this Go's lib/time (a rule change every node applies: set tzdb.Version too)
	cp "$$($(GO) env GOROOT)/lib/time/zoneinfo.zip" internal/tzdb/zoneinfo.zip
	@grep -m1 '^DATA=' "$$($(GO) env GOROOT)/lib/time/update.bash"

tools: ## install protoc-gen-go, protoc-gen-go-grpc and staticcheck into bin/
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: ## gofmt, go vet, staticcheck, tidy modules
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); echo "gofmt: run gofmt -w on the files above"; exit 1; }
	$(GO) vet ./...
	@test -x $(BIN)/staticcheck || $(MAKE) tools
	$(BIN)/staticcheck ./...
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@cd deploy/k8s/check && $(GO) mod tidy -diff >/dev/null || { echo "deploy/k8s/check (its own module, which uses the main one): run cd deploy/k8s/check && go mod tidy"; exit 1; }

proto: ## regenerate Go code from proto/ (needs protoc: apt-get install protobuf-compiler)
	@test -x $(BIN)/protoc-gen-go-grpc || $(MAKE) tools
	cd proto && PATH=$(BIN):$$PATH protoc --proto_path=. --go_out=. --go_opt=module=github.com/icn-coop/icn/proto --go-grpc_out=. --go-grpc_opt=module=github.com/icn-coop/icn/proto $$(cd . && find icn -name '*.proto' | sort)

proto-check: proto ## fail if the committed generated code is stale
	@git diff --exit-code -- proto/ || { echo "proto: generated code is stale; run make proto and commit"; exit 1; }

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: build ## Go benchmarks of hot paths, then icn bench coop and hub (BENCHTIME each)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./coopnode/ledger/ ./money/ ./identity/ ./trust/ ./clearing/ ./hub/
	$(BIN)/icn bench coop --duration $(BENCHTIME)
	$(BIN)/icn bench hub --duration $(BENCHTIME)
