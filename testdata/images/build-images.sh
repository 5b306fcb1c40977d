#!/usr/bin/env bash
# Builds small OCI image layouts from Debian's busybox-static, one layout
# directory per image under OUTDIR (see README.md for what each is for).
#
#   build-images.sh OUTDIR                 # busybox, busybox-user, busybox-uid,
#                                          # whiteout, multiarch, busybox-zstd
#   build-images.sh --big SIZE_MB OUTDIR   # only OUTDIR/big
#
# Output is byte-for-byte reproducible on a given machine: fixed mtimes and
# "created" times, name-sorted tar entries, numeric owners, `gzip -n`, and
# JSON written by jq with a fixed key order. Needs: busybox-static, tar, gzip,
# jq, sha256sum; zstd (optional, for busybox-zstd); openssl (for --big).
set -Eeuo pipefail

export LC_ALL=C TZ=UTC
umask 022

readonly EPOCH=1704067200 # 2024-01-01T00:00:00Z
readonly CREATED=2024-01-01T00:00:00Z
readonly BUSYBOX=/bin/busybox
readonly MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
readonly MT_INDEX=application/vnd.oci.image.index.v1+json
readonly MT_CONFIG=application/vnd.oci.image.config.v1+json
readonly MT_TAR=application/vnd.oci.image.layer.v1.tar
readonly PATH_ENV=PATH=/usr/sbin:/usr/bin:/sbin:/bin

usage() {
  echo "usage: $0 OUTDIR | $0 --big SIZE_MB OUTDIR" >&2
  exit 2
}

big_mb=""
if [[ ${1:-} == --big ]]; then
  [[ $# -eq 3 && $2 =~ ^[1-9][0-9]*$ ]] || usage
  big_mb=$2
  shift 2
fi
[[ $# -eq 1 ]] || usage
mkdir -p "$1"
out=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "$0: line $LINENO: exit status $?" >&2' ERR

arch=$(dpkg --print-architecture)
# sed reads all of busybox's output: `head` would make busybox die of SIGPIPE.
bb_version=$("$BUSYBOX" | sed -n '1s/^BusyBox v\([0-9.]*\).*/\1/p')

# --- blobs and layouts -------------------------------------------------------

# new_layout NAME: an empty layout directory OUTDIR/NAME (replacing any old one).
new_layout() {
  rm -rf "${out:?}/$1"
  mkdir -p "$out/$1/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$out/$1/oci-layout"
}

# put_blob LAYOUT FILE: moves FILE into LAYOUT's blob store; prints
# "DIGEST SIZE".
put_blob() {
  local hex size
  hex=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  mv "$2" "$out/$1/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# put_json LAYOUT JSON: stores JSON (no trailing newline) as a blob; prints
# "DIGEST SIZE".
put_json() {
  printf '%s' "$2" >"$work/json"
  put_blob "$1" "$work/json"
}

# tar_dir DIR TAR: an uncompressed layer of DIR's contents. Entries are sorted
# by name except that bin/busybox comes first in bin/, so it is the regular
# file and the applets are hard links to it.
tar_dir() {
  (cd "$1" && find . -mindepth 1 -printf '%P\n' | sort) |
    awk '$0 == "bin/busybox" { next } { print } $0 == "bin" { print "bin/busybox" }' \
      >"$work/list"
  if [[ ! -e $1/bin/busybox ]]; then sed -i '\|^bin/busybox$|d' "$work/list"; fi
  tar --create --file="$2" --directory="$1" --format=gnu --no-recursion \
    --numeric-owner --mtime="@$EPOCH" --files-from="$work/list"
}

# layer LAYOUT TAR COMPRESSION(gzip|zstd|none) [GZIP_LEVEL]: stores TAR as a
# layer blob; prints "MEDIATYPE DIGEST SIZE DIFF_ID". A compressed TAR is
# kept beside it, as several images share the busybox layer.
layer() {
  local diff_id blob media_type compressed=$2.$3${4:-}
  diff_id=sha256:$(sha256sum "$2" | cut -d' ' -f1)
  case $3 in
    gzip)
      [[ -e $compressed ]] || gzip -n "-${4:-9}" -c "$2" >"$compressed"
      media_type=$MT_TAR+gzip
      ;;
    zstd)
      [[ -e $compressed ]] || zstd -q -T1 -10 -c "$2" >"$compressed"
      media_type=$MT_TAR+zstd
      ;;
    none)
      compressed=$2
      media_type=$MT_TAR
      ;;
  esac
  ln -f "$compressed" "$work/layer"
  blob=$(put_blob "$1" "$work/layer")
  echo "$media_type $blob $diff_id"
}

# image LAYOUT PLATFORM_JSON CONFIG_JSON HISTORY_JSON LAYER...: writes the
# image config and manifest; prints the manifest's "DIGEST SIZE".
# PLATFORM_JSON is e.g. {"architecture":"amd64","os":"linux"}; HISTORY_JSON
# is an array of created_by strings, one per layer.
image() {
  local layout=$1 platform=$2 config=$3 history=$4
  shift 4
  local layers_json
  layers_json=$(printf '%s\n' "$@" | jq -cR 'split(" ") |
    {mediaType: .[0], digest: .[1], size: (.[2] | tonumber), diff_id: .[3]}' | jq -cs .)
  local config_blob
  config_blob=$(put_json "$layout" "$(jq -cjn --arg created "$CREATED" \
    --argjson platform "$platform" --argjson config "$config" \
    --argjson history "$history" --argjson layers "$layers_json" '
    {created: $created} + $platform + {
      config: $config,
      rootfs: {type: "layers", diff_ids: [$layers[].diff_id]},
      history: [$history[] | {created: $created, created_by: .}]
    }')")
  put_json "$layout" "$(jq -cjn --arg mt "$MT_MANIFEST" --arg cmt "$MT_CONFIG" \
    --arg config "$config_blob" --argjson layers "$layers_json" '
    ($config | split(" ")) as [$digest, $size] | {
      schemaVersion: 2,
      mediaType: $mt,
      config: {mediaType: $cmt, digest: $digest, size: ($size | tonumber)},
      layers: [$layers[] | {mediaType, digest, size}]
    }')"
}

# tag LAYOUT MEDIATYPE "DIGEST SIZE" TAG...: writes LAYOUT/index.json with one
# descriptor per tag.
tag() {
  local layout=$1 media_type=$2 blob=$3
  shift 3
  printf '%s\n' "$@" | jq -cjRn --arg mt "$MT_INDEX" --arg dmt "$media_type" \
    --arg blob "$blob" '
    ($blob | split(" ")) as [$digest, $size] | {
      schemaVersion: 2,
      mediaType: $mt,
      manifests: [inputs | {
        mediaType: $dmt, digest: $digest, size: ($size | tonumber),
        annotations: {"org.opencontainers.image.ref.name": .}
      }]
    }' >"$out/$layout/index.json"
}

# labels NAME: the config labels of image NAME.
labels() {
  jq -cn --arg name "$1" --arg version "$bb_version" '{
    "org.opencontainers.image.title": $name,
    "org.opencontainers.image.version": $version,
    "org.opencontainers.image.source": "converge testdata/images/build-images.sh"
  }'
}

# --- root filesystems --------------------------------------------------------

# busybox_rootfs DIR: /bin/busybox with every applet as a hard link to it,
# users and groups, /tmp, /root and /home/app.
busybox_rootfs() {
  local dir=$1 applet
  mkdir -p "$dir"/{bin,etc,tmp,root,home/app}
  cp "$BUSYBOX" "$dir/bin/busybox"
  chmod 0755 "$dir/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [[ $applet == busybox ]] || ln "$dir/bin/busybox" "$dir/bin/$applet"
  done
  # www's primary group 33 deliberately has no /etc/group entry.
  cat >"$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www:x:33:33:www:/var/www:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$dir/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
EOF
  chmod 1777 "$dir/tmp"
  chmod 0700 "$dir/root"
  chown 1000:1000 "$dir/home/app"
}

# put_file DIR PATH CONTENT: writes CONTENT and a newline to DIR/PATH.
put_file() {
  mkdir -p "$(dirname "$1/$2")"
  printf '%s\n' "$3" >"$1/$2"
}

base_config() {
  jq -cn --argjson labels "$(labels "$1")" --arg path "$PATH_ENV" '{
    Env: [$path], Cmd: ["sh"], WorkingDir: "/", Labels: $labels
  }'
}

platform() {
  jq -cn --arg arch "$arch" '{architecture: $arch, os: "linux"}'
}

readonly BUSYBOX_HISTORY="busybox-static $bb_version: /bin/busybox, applets as hard links, users"

# --- images ------------------------------------------------------------------

build_default_images() {
  local rootfs=$work/rootfs m l1 l2 l3
  busybox_rootfs "$rootfs"
  tar_dir "$rootfs" "$work/busybox.tar"

  new_layout busybox
  l1=$(layer busybox "$work/busybox.tar" gzip)
  m=$(image busybox "$(platform)" "$(base_config busybox)" \
    "$(jq -cn --arg h "$BUSYBOX_HISTORY" '[$h]')" "$l1")
  tag busybox "$MT_MANIFEST" "$m" latest 1.35 stable

  new_layout busybox-user
  l1=$(layer busybox-user "$work/busybox.tar" gzip)
  m=$(image busybox-user "$(platform)" "$(jq -cn --argjson labels "$(labels busybox-user)" \
    --arg path "$PATH_ENV" '{
      User: "app",
      ExposedPorts: {"8080/tcp": {}},
      Env: [$path, "FOO=bar"],
      Entrypoint: ["/bin/sh", "-c"],
      Cmd: ["id"],
      Volumes: {"/data": {}},
      WorkingDir: "/home/app",
      Labels: $labels,
      StopSignal: "SIGUSR1"
    }')" "$(jq -cn --arg h "$BUSYBOX_HISTORY" '[$h]')" "$l1")
  tag busybox-user "$MT_MANIFEST" "$m" latest

  new_layout busybox-uid
  l1=$(layer busybox-uid "$work/busybox.tar" gzip)
  m=$(image busybox-uid "$(platform)" "$(base_config busybox-uid | jq -c '{User: "1000:50"} + .')" \
    "$(jq -cn --arg h "$BUSYBOX_HISTORY" '[$h]')" "$l1")
  tag busybox-uid "$MT_MANIFEST" "$m" latest

  # whiteout: L2 deletes a file and a directory of L1, makes /opq opaque and
  # adds /opq/c; L3 deletes /opq/c again, re-creates /data/gone and adds
  # /data/late. Result: /data = {gone ("again"), keep, late}, /opq empty.
  local w=$work/whiteout
  cp -a "$rootfs" "$w-1"
  put_file "$w-1" data/keep keep
  put_file "$w-1" data/gone gone
  put_file "$w-1" data/dir-gone/x x
  put_file "$w-1" opq/a a
  put_file "$w-1" opq/sub/b b
  mkdir -p "$w-2/data" "$w-2/opq" "$w-3/data" "$w-3/opq"
  : >"$w-2/data/.wh.gone"
  : >"$w-2/data/.wh.dir-gone"
  : >"$w-2/opq/.wh..wh..opq"
  put_file "$w-2" opq/c c
  : >"$w-3/opq/.wh.c"
  put_file "$w-3" data/gone again
  put_file "$w-3" data/late late
  new_layout whiteout
  tar_dir "$w-1" "$work/w1.tar"
  tar_dir "$w-2" "$work/w2.tar"
  tar_dir "$w-3" "$work/w3.tar"
  l1=$(layer whiteout "$work/w1.tar" gzip)
  l2=$(layer whiteout "$work/w2.tar" none)
  l3=$(layer whiteout "$work/w3.tar" none)
  m=$(image whiteout "$(platform)" "$(base_config whiteout)" "$(jq -cn \
    --arg h "$BUSYBOX_HISTORY" '[$h + "; /data/{keep,gone,dir-gone/x}, /opq/{a,sub/b}",
      "whiteouts /data/gone, /data/dir-gone; /opq opaque; /opq/c",
      "whiteout /opq/c; /data/gone again; /data/late"]')" "$l1" "$l2" "$l3")
  tag whiteout "$MT_MANIFEST" "$m" latest

  # multiarch: an index of a runnable linux/amd64 image and a linux/arm64 one
  # that only carries /etc/arch.
  new_layout multiarch
  local amd64 arm64 index
  mkdir -p "$work/amd64" "$work/arm64"
  put_file "$work/amd64" etc/arch amd64
  put_file "$work/arm64" etc/arch arm64
  tar_dir "$work/amd64" "$work/amd64.tar"
  tar_dir "$work/arm64" "$work/arm64.tar"
  l1=$(layer multiarch "$work/busybox.tar" gzip)
  l2=$(layer multiarch "$work/amd64.tar" gzip)
  amd64=$(image multiarch '{"architecture":"amd64","os":"linux"}' "$(base_config multiarch)" \
    "$(jq -cn --arg h "$BUSYBOX_HISTORY" '[$h, "/etc/arch: amd64"]')" "$l1" "$l2")
  l1=$(layer multiarch "$work/arm64.tar" gzip)
  arm64=$(image multiarch '{"architecture":"arm64","os":"linux","variant":"v8"}' \
    "$(base_config multiarch)" '["/etc/arch: arm64"]' "$l1")
  index=$(put_json multiarch "$(jq -cjn --arg mt "$MT_INDEX" --arg mmt "$MT_MANIFEST" \
    --arg amd64 "$amd64" --arg arm64 "$arm64" '
    def desc($blob; $platform): ($blob | split(" ")) as [$digest, $size] |
      {mediaType: $mmt, digest: $digest, size: ($size | tonumber), platform: $platform};
    {
      schemaVersion: 2,
      mediaType: $mt,
      manifests: [
        desc($amd64; {architecture: "amd64", os: "linux"}),
        desc($arm64; {architecture: "arm64", os: "linux", variant: "v8"})
      ]
    }')")
  tag multiarch "$MT_INDEX" "$index" latest

  if command -v zstd >/dev/null; then
    new_layout busybox-zstd
    l1=$(layer busybox-zstd "$work/busybox.tar" zstd)
    m=$(image busybox-zstd "$(platform)" "$(base_config busybox-zstd)" \
      "$(jq -cn --arg h "$BUSYBOX_HISTORY" '[$h]')" "$l1")
    tag busybox-zstd "$MT_MANIFEST" "$m" latest
  else
    echo "$0: zstd not installed; skipping busybox-zstd" >&2
  fi
}

# big: the busybox layer plus one gzip layer of SIZE_MB MiB of pseudo-random
# data in 64 MiB files under /big. AES-CTR over zeros with a fixed key makes
# the data reproducible yet incompressible.
build_big() {
  local rootfs=$work/rootfs l1 l2 m
  busybox_rootfs "$rootfs"
  tar_dir "$rootfs" "$work/busybox.tar"
  mkdir -p "$work/big/big"
  head -c "$((big_mb * 1024 * 1024))" /dev/zero |
    openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
      -iv 00000000000000000000000000000000 |
    split -b 64M -d -a 3 - "$work/big/big/part-"
  tar_dir "$work/big" "$work/big.tar"
  rm -rf "$work/big"
  new_layout big
  l1=$(layer big "$work/busybox.tar" gzip)
  # -1: level 9 gains nothing on random data and takes minutes per GiB.
  l2=$(layer big "$work/big.tar" gzip 1)
  rm "$work/big.tar"
  m=$(image big "$(platform)" "$(base_config big)" \
    "$(jq -cn --arg h "$BUSYBOX_HISTORY" --arg b "/big: $big_mb MiB of AES-CTR keystream" \
      '[$h, $b]')" "$l1" "$l2")
  tag big "$MT_MANIFEST" "$m" latest
}

if [[ -n $big_mb ]]; then
  build_big
else
  build_default_images
fi
