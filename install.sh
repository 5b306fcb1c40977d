#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), builds converge and runs the
# demo: converged with its built-in defaults and one pod sandbox through CRI.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
# A node needs a pod network; like containerd's packages, install a simple
# single-node bridge network when the node has no CNI config yet.
if ! ls /etc/cni/net.d/*.conflist /etc/cni/net.d/*.conf /etc/cni/net.d/*.json >/dev/null 2>&1; then
  install -D -m 0644 deploy/10-converge.conflist /etc/cni/net.d/10-converge.conflist
  echo "install: installed /etc/cni/net.d/10-converge.conflist (bridge cni0, 10.88.0.0/16)"
fi
bazel build //cmd/converged //cmd/convergectl
scripts/demo.sh
