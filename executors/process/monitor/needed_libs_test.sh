#!/bin/bash
# Fails if the binary ($1) has a NEEDED shared library outside the allowlist:
# the monitor runs once per pod and must stay small (absl is linked statically).
set -euo pipefail
binary="$1"
allowed='^(libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libseccomp\.so\.2|ld-linux-x86-64\.so\.2)$'
needed=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
if [ -z "$needed" ]; then
  echo "FAIL: readelf found no NEEDED entries in $binary (not a dynamic ELF?)" >&2
  exit 1
fi
bad=0
for lib in $needed; do
  if [[ "$lib" =~ $allowed ]]; then
    echo "ok   $lib"
  else
    echo "FAIL $lib is not allowed" >&2
    bad=1
  fi
done
exit $bad
