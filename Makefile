# hazardgw's front door.
#
#   make build   bin/hazardgw and bin/sitesim, stamped with `git describe`
#   make test    what CI runs (.ci/run): installs and finds the test services
#                (scripts/setup.sh), go vet, gofmt, every test with the race
#                detector against real Mosquitto and InfluxDB, then every fuzz
#                target for FUZZTIME each
#   make bench   benchmarks
#   make bench-compare  hazardgw vs Telegraf 1.37.2 vs the bare paho ceiling, same workloads,
#                one run (scripts/bench-compare.sh; BENCH_N=50000 for a quicker one)
#   make lint    go vet, gofmt, staticcheck (when it can be installed)
#   make tidy    go mod tidy; fails if go.mod or go.sum changed
#   make demo    a whole simulated site: InfluxDB, sitesim (Modbus, MQTT, duty desk) and hazardgw
#   make clean   removes bin/; `make distclean` also the .cache (influxd, module proxy)
#
# Every target that runs the go command first evaluates scripts/modbus-module.sh,
# which sets GOPROXY to include a local module proxy for github.com/goburrow/modbus
# when the usual proxy refuses it. GOFLAGS and the rest of the environment are
# left as they are.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := build

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# An execution count, not a duration: see scripts/fuzz.sh (golang/go#75804).
FUZZTIME ?= 20000x
TESTTIMEOUT ?= 15m

# Shell prefixes: the module proxy fallback only, or everything the tests need.
MODENV := eval "$$(scripts/modbus-module.sh)"
SETUP  := eval "$$(scripts/setup.sh)"

.PHONY: build test bench bench-compare lint tidy demo clean distclean setup

build:
	@$(MODENV)
	mkdir -p bin
	echo "==> go build ./cmd/... (version $(VERSION))"
	$(GO) build -ldflags '-X main.version=$(VERSION) -X main.commit=$(COMMIT)' -o bin/ ./cmd/...
	ls -1 bin/

test:
	@$(SETUP)
	echo "==> go vet ./..."
	$(GO) vet ./...
	echo "==> gofmt -l"
	scripts/gofmt-check.sh
	echo "==> go test -race -count=1 -timeout $(TESTTIMEOUT) ./..."
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) ./...
	echo "==> fuzz targets, $(FUZZTIME) each"
	scripts/fuzz.sh $(FUZZTIME)

bench:
	@$(SETUP)
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-compare:
	@scripts/bench-compare.sh

lint:
	@$(MODENV)
	echo "==> go vet ./..."
	$(GO) vet ./...
	echo "==> gofmt -l"
	scripts/gofmt-check.sh
	echo "==> staticcheck"
	# Installed into the cache when it can be; a machine that cannot fetch it
	# still lints with vet and gofmt.
	bin=$${HAZARDGW_CACHE:-$$PWD/.cache}/bin
	mkdir -p "$$bin"
	if GOBIN=$$bin GOWORK=off $(GO) install honnef.co/go/tools/cmd/staticcheck@latest 2>/dev/null || [ -x "$$bin/staticcheck" ]; then
	  "$$bin/staticcheck" ./...
	else
	  echo "staticcheck could not be installed; skipped" >&2
	fi

tidy:
	@$(MODENV)
	$(GO) mod tidy
	git diff --exit-code -- go.mod go.sum || { echo "go.mod/go.sum were not tidy; commit the changes above" >&2; exit 1; }

demo:
	@scripts/demo.sh

setup:
	@scripts/setup.sh >/dev/null
	echo "environment written to $${HAZARDGW_CACHE:-.cache}/env"

clean:
	rm -rf bin/

distclean: clean
	chmod -R u+w .cache 2>/dev/null || true
	rm -rf .cache
