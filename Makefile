# One Makefile; CI (.ci/run) calls these targets verbatim.
GO ?= go

.PHONY: build test test-race lint fuzz bench demo bundle cfnspec

# sluice --version prints VERSION and the commit the binary was built from.
VERSION ?= 0.1.0-dev
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X github.com/sluicehq/sluice/cli.Version=$(VERSION) -X github.com/sluicehq/sluice/cli.Commit=$(COMMIT)" -o bin/sluice ./cmd/sluice

# The test command the README gives.
test:
	$(GO) test ./...

test-race:
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

# Each fuzz target for a short while; FUZZTIME=10m for a longer hunt.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./spec
	$(GO) test -run '^$$' -fuzz '^FuzzBlobReader$$' -fuzztime $(FUZZTIME) ./artifact
	$(GO) test -run '^$$' -fuzz '^FuzzRequestFraming$$' -fuzztime $(FUZZTIME) ./router/internal/http1
	$(GO) test -run '^$$' -fuzz '^FuzzResponseFraming$$' -fuzztime $(FUZZTIME) ./router/internal/http1
	$(GO) test -run '^$$' -fuzz '^FuzzCopyChunked$$' -fuzztime $(FUZZTIME) ./router/internal/http1
	$(GO) test -run '^$$' -fuzz '^FuzzPoolLies$$' -fuzztime $(FUZZTIME) ./router
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./lint/template
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) ./lint

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run ./cmd/sluice demo --approve --break-prod

# Rebuild the demo's copies of examples/hello-api and examples/serverless-api (sluice demo
# --aws) after changing either example.
bundle:
	$(GO) generate ./cli/demo

# Refresh the CloudFormation resource specification `sluice lint` embeds: fetch the npm package
# @aws-cdk/aws-service-spec and keep what the checks need (lint/cfnspec/spec.json.gz + LICENSE).
CFNSPEC_VERSION ?= 0.1.216
cfnspec:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent @aws-cdk/aws-service-spec@$(CFNSPEC_VERSION) >/dev/null && tar xzf aws-cdk-aws-service-spec-$(CFNSPEC_VERSION).tgz) && \
	cp "$$tmp/package/LICENSE" lint/cfnspec/LICENSE && \
	$(GO) run ./lint/internal/gen -db "$$tmp/package/db.json.gz" -source "@aws-cdk/aws-service-spec@$(CFNSPEC_VERSION)" -out lint/cfnspec/spec.json.gz
