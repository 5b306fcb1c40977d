#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), builds converge and runs the
# demo: converged with its built-in defaults and one pod sandbox through CRI.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
bazel build //cmd/converged //cmd/convergectl
scripts/demo.sh
