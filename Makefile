# SagaMart: `make run` starts the system, `make test` runs every test. Both install what is missing first.
SWIFT ?= swift
export PATH := $(PATH):/opt/swift/usr/bin
FORMAT_PATHS := Package.swift Shared Services Tests Benchmarks/EchoServer Benchmarks/CheckoutBench Benchmarks/HummingbirdEcho/Package.swift Benchmarks/HummingbirdEcho/Sources

.PHONY: deps build run run-pg test bench bench-http bench-checkout format lint clean

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

bench: bench-http bench-checkout

bench-checkout: deps
	@scripts/bench-checkout.sh

bench-http:
	@scripts/deps.sh --bench
	@scripts/bench-http.sh

clean:
	rm -rf .build Benchmarks/HummingbirdEcho/.build
