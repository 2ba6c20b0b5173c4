#!/usr/bin/env bash
# Fuzzes one target for a while, starting from its committed seeds.
# Usage: tests/fuzz/run.sh BUILD_DIR TARGET [SECONDS [extra libFuzzer flags...]]
#   e.g. tests/fuzz/run.sh build-fuzz fuzz_mime 120
# New inputs go to a scratch corpus (FUZZ_WORK_DIR, default a fresh directory in $TMPDIR),
# never into tests/fuzz/corpus: a seed is committed only once it is worth keeping (a fixed
# crash's reproducer, an input that reaches code the seeds did not).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR TARGET [SECONDS [libFuzzer flags...]]}
target=${2:?usage: run.sh BUILD_DIR TARGET [SECONDS [libFuzzer flags...]]}
seconds=${3:-60}
shift $(( $# < 3 ? $# : 3 ))

binary="$build/tests/fuzz/$target"
[[ -x "$binary" ]] || { echo "no $binary; build it with --target $target" >&2; exit 2; }
work=${FUZZ_WORK_DIR:-$(mktemp -d -t "omnigate-$target-XXXXXX")}
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$here/corpus/$target"/* "$work/corpus/" 2>/dev/null || true

dict=()
[[ -f "$here/dict/$target.dict" ]] && dict=(-dict="$here/dict/$target.dict")
echo "corpus and crash artifacts in $work" >&2
exec "$binary" "$work/corpus" "${dict[@]}" -max_total_time="$seconds" \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" -max_len=8192 "$@"
