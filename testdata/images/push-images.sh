#!/usr/bin/env bash
# Pushes every layout that build-images.sh wrote under OUTDIR, with all its
# tags, to a plain-HTTP registry:
#
#   push-images.sh 127.0.0.1:5000 OUTDIR [--creds user:pass]
#
# OCI images keep their digests (--preserve-digests), so a manifest digest in
# the registry equals the one in the layout's index.json. busybox is pushed a
# second time as library/busybox-docker in Docker schema 2 form.
set -euo pipefail

usage() {
  echo "usage: $0 HOST:PORT OUTDIR [--creds user:pass]" >&2
  exit 2
}

[[ $# -eq 2 || ($# -eq 4 && $3 == --creds) ]] || usage
registry=$1
out=$2
creds=()
if [[ $# -eq 4 ]]; then creds=(--dest-creds "$4"); fi

# Repository of each layout; a layout not listed here is an error.
declare -A repos=(
  [busybox]=library/busybox
  [busybox-user]=library/busybox-user
  [busybox-uid]=library/busybox-uid
  [whiteout]=test/whiteout
  [multiarch]=test/multiarch
  [busybox-zstd]=test/busybox-zstd
  [big]=test/big
)

# skopeo otherwise reads the host's policy.json, registries.d and auth files;
# these pushes depend on none of them.
config=$(mktemp -d)
trap 'rm -rf "$config"' EXIT
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$config/policy.json"
mkdir "$config/registries.d" "$config/tmp"

skopeo_copy() {
  skopeo --policy "$config/policy.json" --registries.d "$config/registries.d" \
    --tmpdir "$config/tmp" copy --quiet --dest-tls-verify=false "${creds[@]}" "$@"
}

# push_layout NAME: pushes every tag of OUTDIR/NAME, one tag after another
# (the first uploads the blobs; the others find them there).
push_layout() {
  local name=$1 repo=${repos[$1]} tag media_type all
  while read -r media_type tag; do
    all=()
    if [[ $media_type == application/vnd.oci.image.index.v1+json ]]; then all=(--all); fi
    skopeo_copy "${all[@]}" --preserve-digests "oci:$out/$name:$tag" \
      "docker://$registry/$repo:$tag"
  done < <(jq -r '.manifests[] |
    "\(.mediaType) \(.annotations["org.opencontainers.image.ref.name"])"' "$out/$name/index.json")
  if [[ $name == busybox ]]; then
    skopeo_copy --format v2s2 "oci:$out/busybox:latest" \
      "docker://$registry/library/busybox-docker:latest"
  fi
}

layouts=()
for dir in "$out"/*/; do
  name=$(basename "$dir")
  [[ -f $dir/index.json ]] || continue
  [[ -n ${repos[$name]:-} ]] || {
    echo "$0: no repository for layout $dir" >&2
    exit 1
  }
  layouts+=("$name")
done
[[ ${#layouts[@]} -gt 0 ]] || {
  echo "$0: no image layouts in $out" >&2
  exit 1
}

# Layouts go in parallel: each is a separate repository.
pids=()
for name in "${layouts[@]}"; do
  push_layout "$name" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit "$status"
