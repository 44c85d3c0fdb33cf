# SagaMart: `make run` starts the system, `make test` runs every test. Both install what is missing first.
SWIFT ?= swift
export PATH := $(PATH):/opt/swift/usr/bin
FORMAT_PATHS := Package.swift Shared Services Tests Benchmarks/EchoServer Benchmarks/CheckoutBench Benchmarks/EventsBench Benchmarks/HummingbirdEcho/Package.swift Benchmarks/HummingbirdEcho/Sources

.PHONY: deps build run run-pg test bench bench-http bench-checkout bench-events format lint clean

deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build

run: deps
	@scripts/run.sh

run-pg: deps
	$(SWIFT) build
	@scripts/run_pg.py

lint:
	$(SWIFT) format lint -r --strict $(FORMAT_PATHS)

format:
	$(SWIFT) format format -i -r $(FORMAT_PATHS)

test: deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: bench-http bench-checkout bench-events

bench-events: deps
	$(SWIFT) build -c release --product events-bench
	$$($(SWIFT) build -c release --show-bin-path)/events-bench --rate $${RATE:-50} --duration $${DURATION:-10}

bench-checkout: deps
	@scripts/bench-checkout.sh

bench-http:
	@scripts/deps.sh --bench
	@scripts/bench-http.sh

clean:
	rm -rf .build Benchmarks/HummingbirdEcho/.build
