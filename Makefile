# tokenkeep developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# Cargo profile of the Node addon the Node suite tests (dist for shipped artifacts).
NODE_PROFILE ?= release
WASM_SELFCHECK := target/wasm32-unknown-unknown/release/examples/wasm_selfcheck.wasm
# Cargo profile of the Python wheel (tests and benchmark); `dist` for shipped artifacts.
PY_PROFILE ?= release
# Cargo profile of the edge module (the shipped build may use another, e.g. dist).
EDGE_PROFILE ?= edge
# The CLI every host's tests start (dev issuer, OpenBao and PostgreSQL
# launchers); when unset, each suite builds it. `make test` names the one its
# workspace test build made.
ifdef TOKENKEEP_BIN
export TOKENKEEP_BIN
endif

.PHONY: help setup demo vectors-demo test fmt-check build-all test-rust test-ring test-wasm test-python bench-python vectors vectors-check codes lint bench fuzz test-node bench-node edge-build test-edge bench-edge test-jvm kotlin-lib kotlin-bindings kotlin-bindings-check bench-jvm

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install what the build and tests need (clang, wasm32 target, node, OpenBao in .venv)
	@scripts/setup.sh

demo: setup ## The main job: the end-to-end story on the embedded dev issuer (tokenkeep demo)
	$(CARGO) run -q -p tokenkeep-cli -- demo

vectors-demo: ## Verify every shared vector token and print claims or codes
	$(CARGO) run -q --release -p tokenkeep-core --example verify_vectors

# Clippy (warnings are errors) on the workspace's own crates, as part of their
# real build: clippy-driver compiles them, dependencies go to rustc as ever.
# `make lint`'s `cargo clippy` gives the same verdict but checks every
# dependency once more (about 8 minutes here); `make test` builds them once.
CLIPPY_BUILD := RUSTC_WORKSPACE_WRAPPER="$$(rustup which clippy-driver)" CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

# The generated files (vectors, codes.json, the options schema) are checked by
# unit tests of their generators, in test-rust: no separate generator builds.
test: setup fmt-check build-all ## Every test suite of every host (what CI runs): builds once, then runs the suites concurrently
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -j7 --output-sync=target NODE_PREBUILT=1 EDGE_PREBUILT=1 \
	  TOKENKEEP_BIN=$(CURDIR)/target/debug/tokenkeep KOTLIN_LIB_DIR=$(WORKSPACE_KOTLIN_LIB_DIR) \
	  test-rust test-ring test-wasm test-python test-node test-edge test-jvm; \
	status=$$?; echo "make test: suites took $$(( $$(date +%s) - start )) s"; exit $$status
	@echo "make test: all suites passed"

# The CLI the suites start (dev issuer, OpenBao and PostgreSQL launchers) is
# the one the workspace test build makes for its own tests: a separate
# `cargo build -p tokenkeep-cli` resolves other features and builds the
# runtime again (about 3 minutes).
# Every artifact the suites use, built one after another (two cores: cargo
# builds side by side only fight over them); the suites' own build steps then
# find them fresh.
build-all: setup
	$(CLIPPY_BUILD) $(CARGO) test -q --workspace --all-targets --no-run
	test -x target/debug/tokenkeep && test -x $(UNIFFI_BINDGEN) && test -f $(WORKSPACE_KOTLIN_LIB_DIR)/libtokenkeep_kotlin.so
	$(CARGO) test -q -p tokenkeep-core --features ring-backend --test vectors --no-run
	$(CARGO) build -q -p tokenkeep-core --release --target wasm32-unknown-unknown --example wasm_selfcheck
	cd bindings-node && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && node scripts/build-native.mjs --profile $(NODE_PROFILE) --check
	scripts/edge-tools.sh
	scripts/build-edge.sh $(EDGE_PROFILE)
	scripts/python-deps.sh
	target/python-tools/bin/maturin build --quiet --profile $(PY_PROFILE) -m bindings-python/Cargo.toml --out target/wheels/$(PY_PROFILE)

test-rust: ## Workspace tests on the native backend: unit, vectors, simulations, real HTTP, OpenBao, PostgreSQL (binaries run concurrently)
	$(CLIPPY_BUILD) scripts/run-tests.py

test-ring: ## Shared vectors on the ring backend (the one wasm32 uses)
	$(CARGO) test -p tokenkeep-core --features ring-backend --test vectors

test-wasm: ## Core built for wasm32: imports nothing from env, every vector passes inside the engine
	$(CARGO) build -q -p tokenkeep-core --release --target wasm32-unknown-unknown --example wasm_selfcheck
	node scripts/check-wasm.mjs $(WASM_SELFCHECK)

test-python: ## Python binding: wheel built once (maturin, PY_PROFILE), installed in a fresh venv, pytest (+ abi3 on CPython 3.9)
	PY_PROFILE=$(PY_PROFILE) scripts/test-python.sh

bench-python: ## Python package (CPython 3.12) against ryjwt, oxyjwt, pyjwt-rs, webtoken, PyJWT, joserfc and raw cryptography; 2 threads vs 1
	PY_PROFILE=$(PY_PROFILE) scripts/bench-python.sh

test-node: ## Node binding: builds the addon (NODE_PROFILE, default release), packs the npm package, runs its suite from a scratch install
	NODE_PROFILE=$(NODE_PROFILE) scripts/test-node.sh

edge-build: ## The edge modules: tokenkeep-wasm for wasm32 with and without in-module signature checks, wasm-bindgen and npm's wasm-opt into bindings-node/edge/wasm{,-full} (prints their sizes)
	scripts/edge-tools.sh
	scripts/build-edge.sh $(EDGE_PROFILE)

test-edge: setup $(if $(EDGE_PREBUILT),,edge-build) ## Edge: every vector under Node (WebCrypto and wasm paths), workerd (miniflare, wrangler's bundle), edge-runtime, a Next.js app
	[ -n "$(TOKENKEEP_BIN)" ] || $(CARGO) build -q -p tokenkeep-cli
	# The Next.js app's Node route uses the native addon (make test builds it beforehand: NODE_PREBUILT=1).
	[ "$(NODE_PREBUILT)" = 1 ] || { cd bindings-node && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && node scripts/build-native.mjs --profile $(NODE_PROFILE) --check; }
	cd tests/edge && WRANGLER_SEND_METRICS=false NEXT_TELEMETRY_DISABLED=1 npm test

bench-edge: setup edge-build ## Edge benchmark: tokenkeep vs jose and @cfworker/jwt inside workerd and edge-runtime, cold isolates
	$(CARGO) build -q -p tokenkeep-cli
	node benches/edge/run.js

# The JVM binding: the cdylib (cargo profile JVM_PROFILE: release now, dist for
# shipped jars), its generated Kotlin (committed, diff-checked) and the Maven build.
JVM_PROFILE ?= release
JVM_PROFILE_DIR := $(if $(filter dev,$(JVM_PROFILE)),debug,$(JVM_PROFILE))
# Where the suite finds the cdylib. `make test` names the one its workspace
# test build made (the crate's integration test has cargo build the library,
# cdylib included, with the workspace's features): a `cargo build -p
# tokenkeep-kotlin` resolves features for that package alone and compiled the
# runtime and its dependencies once more (4.5 minutes of CI).
KOTLIN_LIB_DIR ?= target/$(JVM_PROFILE_DIR)
WORKSPACE_KOTLIN_LIB_DIR := target/debug/deps
KOTLIN_LIB := $(KOTLIN_LIB_DIR)/libtokenkeep_kotlin.so
KOTLIN_GENERATED := bindings-kotlin/jvm/tokenkeep/src/generated/kotlin

kotlin-lib: ## Build the JVM binding's native library (JVM_PROFILE, default release; not when KOTLIN_LIB_DIR names another build's)
	[ "$(KOTLIN_LIB_DIR)" != target/$(JVM_PROFILE_DIR) ] || $(CARGO) build -q --profile $(JVM_PROFILE) -p tokenkeep-kotlin --lib

# uniffi's generator, made by the workspace test build (its crate has an
# integration test, so cargo builds the binary with the workspace's features
# and shares every dependency); built alone when missing or the lock changed.
UNIFFI_BINDGEN := target/debug/uniffi-bindgen
$(UNIFFI_BINDGEN): Cargo.lock
	$(CARGO) build -q -p tokenkeep-uniffi-bindgen

kotlin-bindings: kotlin-lib $(UNIFFI_BINDGEN) ## Regenerate the committed Kotlin declarations with uniffi-bindgen from the built library
	rm -rf $(KOTLIN_GENERATED) && mkdir -p $(KOTLIN_GENERATED)
	$(UNIFFI_BINDGEN) generate --library $(KOTLIN_LIB) \
	  --language kotlin --no-format --out-dir $(KOTLIN_GENERATED)

kotlin-bindings-check: kotlin-lib $(UNIFFI_BINDGEN) ## Fail when the committed Kotlin declarations differ from uniffi-bindgen's output
	rm -rf target/kotlin-generated-check && mkdir -p target/kotlin-generated-check
	$(UNIFFI_BINDGEN) generate --library $(KOTLIN_LIB) \
	  --language kotlin --no-format --out-dir target/kotlin-generated-check
	diff -r $(KOTLIN_GENERATED) target/kotlin-generated-check || { echo "run make kotlin-bindings and commit"; exit 1; }

test-jvm: kotlin-bindings-check ## JVM binding: mvn verify (vectors, dev issuer, Ktor over HTTP, Java caller, thread exit)
	[ -n "$(TOKENKEEP_BIN)" ] || $(CARGO) build -q -p tokenkeep-cli
	scripts/mvn.sh bindings-kotlin/jvm verify -Dtokenkeep.native.dir=$(CURDIR)/$(KOTLIN_LIB_DIR)

bench-jvm: kotlin-lib ## JMH: tokenkeep verifyBlocking vs nimbus-jose-jwt, jjwt, auth0 java-jwt (per algorithm)
	scripts/mvn.sh bindings-kotlin/jvm install -DskipTests -Dtokenkeep.native.dir=$(CURDIR)/$(KOTLIN_LIB_DIR)
	scripts/mvn.sh benches/jvm package
	java -jar benches/jvm/target/benchmarks.jar $${JMH_ARGS:-}

vectors: ## Regenerate tests/vectors/*.json from the checked-in generator
	$(CARGO) run -q --release -p tokenkeep-vectorgen -- --out tests/vectors

vectors-check: ## Fail when the checked-in vectors, codes.json or options.schema.json differ from their generators' output
	$(CARGO) run -q --release -p tokenkeep-vectorgen -- --check tests/vectors
	$(CARGO) run -q -p tokenkeep-codegen -- --check .

codes: ## Regenerate tests/vectors/codes.json and schema/options.schema.json from the code
	$(CARGO) run -q -p tokenkeep-codegen -- --out .

fmt-check: ## Formatting (rustfmt), differences are errors
	$(CARGO) fmt --all --check

lint: fmt-check ## Formatting and clippy, warnings are errors
	$(CARGO) clippy --workspace --all-targets -q -- -D warnings

bench: ## Benchmarks against the peer libraries (prints per-op times and ratios)
	$(CARGO) bench -p tokenkeep-benches

bench-node: ## Node package against fast-jwt, jose, jsonwebtoken, @node-rs/jsonwebtoken and raw node:crypto
	NODE_PROFILE=$(NODE_PROFILE) scripts/bench-node.sh

fuzz: ## Run each fuzz target for FUZZ_SECONDS (default 300) on nightly
	scripts/fuzz.sh $${FUZZ_SECONDS:-300}
