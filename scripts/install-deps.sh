#!/usr/bin/env bash
# Installs the Debian 12 packages converge builds and tests with. Idempotent:
# asks apt only for what is missing, so a second run does no network work.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap g++ pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  librocksdb-dev libabsl-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcpp-httplib-dev
  # image pulls and unpacking: HTTP(S), sha256, gzip, zstd, tar parsing
  libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev libarchive-dev
  # seccomp filters for the container init
  libseccomp-dev
  # run and test: nsenter/setpriv/mount (util-linux, mount), ip (iproute2), curl, CNI
  # plugins and the iptables they drive, busybox for test workloads
  util-linux mount iproute2 procps containernetworking-plugins iptables busybox-static curl
  # promtool and a Prometheus server for the metrics tests
  prometheus
  # a real OCI registry on loopback, the tool that pushes test images into it,
  # htpasswd for its basic-auth tests, and what testdata/images/build-images.sh
  # builds the test images with
  docker-registry skopeo apache2-utils jq zstd openssl tar gzip
  # the container benchmark's reference runtimes
  crun runc
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
