# Makefile - a thin convenience wrapper around CMake and the local stack (see README.md).
BUILD   ?= build
STACK   := deploy/local/stack
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DRECOBRO_WERROR=ON

.PHONY: all deps build test unit soak sanitize-it fuzz demo bench image container-test stack-up stack-down stack-status format format-check sanitize clean

all: build

deps:
	@$(STACK) deps

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Unit and vector tests only: no servers needed.
unit: build
	@cd $(BUILD) && ctest --output-on-failure -LE 'stack|container' -j $(JOBS)

# Everything: unit tests, then the integration suites against the real local stack.
test: build
	@tests/run-all $(BUILD)

# The chaos soak: a million events through replicas of every service on a three-broker cluster
# of its own while replicas, a broker, PostgreSQL and Redis are killed (tests/soak/soak.py).
# SOAK_EVENTS and SOAK_SEED replay another size or schedule; `make test` runs 100,000 events.
SOAK_EVENTS ?= 1000000
SOAK_SEED ?= 20261130
soak: build
	@tests/soak/run --events $(SOAK_EVENTS) --seed $(SOAK_SEED)

# The libFuzzer harnesses of tests/fuzz, built with clang, FUZZ_SECONDS each (make test: 10).
FUZZ_SECONDS ?= 60
fuzz: deps
	@tests/fuzz/run --seconds $(FUZZ_SECONDS)

sanitize:
	@$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DRECOBRO_WERROR=ON -DRECOBRO_SANITIZE=ON" unit

# The case workers' integration suites (it.overdue, it.payments, it.interactions) with every
# binary built under ASan/UBSan: a worker that leaks (LeakSanitizer, at its SIGTERM exit), reads
# out of bounds or hits undefined behaviour fails the suite (tests/integration/conftest.py).
# Needs the local stack (make stack-up).
SANITIZE_SUITES ?= it\.(overdue|payments|interactions)$$
sanitize-it:
	@cmake -S . -B build-asan -DRECOBRO_WERROR=ON -DRECOBRO_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && RECOBRO_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -L stack -R '$(SANITIZE_SUITES)'

# The container images, built here with podman from Debian (no registry needed): the project's
# image (deploy/docker/Dockerfile) and Kafka, PostgreSQL and Redis for running it all in containers.
image:
	@deploy/container/build

# The whole system in containers (ctest label "container"; `make test` runs it too).
container-test: build
	@cd $(BUILD) && ctest --output-on-failure -L container

demo: build
	@deploy/local/demo $(BUILD)

bench: build
	@tests/bench/run $(BUILD)

stack-up:
	@$(STACK) up

stack-down:
	@$(STACK) down

stack-status:
	@$(STACK) status

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf $(BUILD) build-asan build-fuzz
