# tlsgen: `make example` renders the example, `make test` runs every test.
GO ?= go

.PHONY: build test golden bench example fmt clean

build:
	$(GO) build -o bin/tlsgen ./cmd/tlsgen

# Every test, the real-server ones included; gofmt and vet first.
test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Rewrite the golden files; review `git diff golden/` before committing.
golden:
	$(GO) test ./pkg/render ./cmd/tlsgen -run 'Golden|Script' -update

bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...

# Render the example end to end: CA and certificates in examples/tls,
# the overlay in out/, then build it with the machine's kustomize.
example:
	$(GO) run ./cmd/tlsgen render -f examples/inventory.yaml -o out
	kubectl kustomize out > /dev/null && echo "kubectl kustomize out: ok"

clean:
	rm -rf bin out
