#!/bin/sh
# check_rules.sh - deploy/observability/rules.yml with promtool (ctest "deploy.promtool"):
# `promtool check rules` (syntax, templates) and `promtool test rules` (the unit tests of
# deploy/observability/tests/). promtool comes from Debian's `prometheus` package, which
# `make deps` (deploy/local/stack deps) installs; without it the test is skipped (exit 77) with
# this reason, never passed.
set -eu
ROOT=${RECOBRO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd -P)}
if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIP promtool is not installed: apt-get install prometheus (or run: make deps)"
  exit 77
fi
promtool check rules "$ROOT/deploy/observability/rules.yml"
cd "$ROOT/deploy/observability/tests"
promtool test rules ./*.yml
