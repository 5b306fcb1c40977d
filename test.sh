#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and root integration tests on real
# namespaces, mounts and cgroups (they clean up after themselves). Needs root.
set -uo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh || exit 1

bazel test //... "$@"
status=$?

# One closing line for humans and CI, counted from the JUnit files of the
# test targets (test cases, not targets).
passed=0 failed=0
for xml in $(find -L bazel-testlogs/ -name test.xml 2>/dev/null); do
  # gtest writes totals on <testsuites>; Bazel's own files (crash, timeout) on <testsuite>.
  header=$(grep -m1 -oE '<testsuites? [^>]*tests=[^>]*>' "$xml" || true)
  tests=$(grep -o ' tests="[0-9]*"' <<<"$header" | grep -o '[0-9]*' || echo 0)
  failures=$(grep -o ' failures="[0-9]*"' <<<"$header" | grep -o '[0-9]*' || echo 0)
  errors=$(grep -o ' errors="[0-9]*"' <<<"$header" | grep -o '[0-9]*' || echo 0)
  bad=$((${failures:-0} + ${errors:-0}))
  passed=$((passed + ${tests:-0} - bad))
  failed=$((failed + bad))
done
echo "${passed} passed, ${failed} failed"
exit $status
