# One Makefile; CI (.ci/run) calls these targets verbatim.
GO ?= go

.PHONY: build test test-race lint fuzz bench demo bundle

build:
	CGO_ENABLED=0 $(GO) build -o bin/sluice ./cmd/sluice

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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run ./cmd/sluice demo --approve --break-prod

# Rebuild the demo's copy of examples/hello-api after changing the example.
bundle:
	$(GO) generate ./cli/demo
