# The toolchain that builds the shipped edge module, sourced by
# scripts/edge-tools.sh (installs it) and scripts/build-edge.sh (uses it).
# A dated nightly, because only nightly rebuilds the standard library
# (-Zbuild-std) with its `optimize_for_size` feature and lets a panic abort
# without formatting anything (-Cpanic=immediate-abort): 10% of the module's
# gzip size (README, "The module"). Every other artifact, and the core's own
# wasm32 check, builds on stable. Move the date forward deliberately, and
# rerun `make edge-build test-edge bench-edge` when you do.
EDGE_TOOLCHAIN=nightly-2026-05-19
