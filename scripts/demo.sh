#!/usr/bin/env bash
# The demo behind ./install.sh: runs converged with its built-in defaults,
# imports a busybox image built from Debian's busybox-static (as on an
# air-gapped node: no registry), makes a pod sandbox through the CRI socket,
# runs a container in it (ps, exec, logs), prints the dump, then removes them. A daemon already serving the default socket is used
# as it is and left running; otherwise the one started here is stopped again.
set -euo pipefail
cd "$(dirname "$0")/.."

converged=bazel-bin/cmd/converged/converged
convergectl=bazel-bin/cmd/convergectl/convergectl
socket=/run/converge/converge.sock
log=/var/log/converged-demo.log

started=""
if ! "$convergectl" --timeout=2s version >/dev/null 2>&1; then
  echo "== starting converged (defaults: socket $socket, root /var/lib/converge, state /run/converge; log $log)"
  "$converged" >"$log" 2>&1 &
  started=$!
  for _ in $(seq 100); do
    "$convergectl" --timeout=1s version >/dev/null 2>&1 && break
    kill -0 "$started" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
fi
stop_daemon() {
  if [[ -n "$started" ]]; then
    kill -TERM "$started" && wait "$started" || true
  fi
}
images=$(mktemp -d)
cleanup() {
  rm -rf "$images"
  stop_daemon
}
trap cleanup EXIT

echo "== convergectl version"
"$convergectl" version
echo "== convergectl image import (an OCI layout of busybox-static, built by testdata/images)"
bash testdata/images/build-images.sh "$images" >/dev/null
tar -C "$images/busybox" -cf "$images/busybox.tar" .
"$convergectl" --image_name=converge.local/demo/busybox image import "$images/busybox.tar"
"$convergectl" images
echo "== convergectl runp testdata/pods/sandbox.json"
id=$("$convergectl" runp testdata/pods/sandbox.json)
echo "$id"
echo "== convergectl pods"
"$convergectl" pods
echo "== pod IP"
"$convergectl" inspectp "$id" | grep -A1 '"network"' || true
echo "== convergectl create / start testdata/pods/container.json"
cid=$("$convergectl" create "$id" testdata/pods/container.json testdata/pods/sandbox.json)
"$convergectl" start "$cid"
"$convergectl" ps
echo "== convergectl exec $cid id"
"$convergectl" exec "$cid" id
echo "== convergectl logs $cid"
sleep 0.2
"$convergectl" logs "$cid"
echo "== convergectl dump"
"$convergectl" dump
echo "== convergectl stop / rm / stopp / rmp / rmi"
"$convergectl" stop "$cid"
"$convergectl" rm "$cid"
"$convergectl" stopp "$id"
"$convergectl" rmp "$id"
"$convergectl" rmi converge.local/demo/busybox:latest
echo "== convergectl dump (after removal)"
"$convergectl" dump

# The demo plays kubelet, which owns the pod's log directory and its cgroup
# parent.
rm -rf "$(sed -n 's/.*"log_directory": *"\([^"]*\)".*/\1/p' testdata/pods/sandbox.json)"
# kubelet owns the pod's cgroup parent (converged only
# removes the converge-<id> cgroup it made under it): remove what is left of
# the parent tree, empty directories only.
parent=$(sed -n 's/.*"cgroup_parent": *"\([^"]*\)".*/\1/p' testdata/pods/sandbox.json)
top=${parent#/}
top=${top%%/*}
if [[ -n "$top" ]]; then
  for hierarchy in /sys/fs/cgroup /sys/fs/cgroup/*; do
    [[ -d "$hierarchy/$top" ]] && find "$hierarchy/$top" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
fi
