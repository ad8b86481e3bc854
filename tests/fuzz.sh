#!/bin/sh
# fuzz.sh SOURCE BUILD RUNS [TARGET] — builds a libFuzzer target with clang
# (address + undefined sanitizers) and runs it RUNS times; TAP out.
#   TARGET fuzz_barrier (default): one thread plays every party, checked
#     step by step against a reference model.
#   TARGET fuzz_schedule: schedules of 2-4 threads replayed at the delay
#     points (the library built with them), checked against the model's
#     invariants.
# A long run: tests/fuzz.sh . build 100000000 [TARGET]
set -u
src=$1
build=$2
runs=${3:-1000000}
target=${4:-fuzz_barrier}
out="$build/$target"
defines=""
[ "$target" = fuzz_schedule ] && defines="-DRALLY_DELAY_POINTS"
mkdir -p "$build/$target-corpus"
echo "1..1"
# shellcheck disable=SC2086
if ! clang -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -D_GNU_SOURCE $defines \
	-I"$src/include" -I"$src/lib" "$src"/lib/*.c "$src/tests/$target.c" \
	-pthread -o "$out" 2>"$build/$target-build.log"; then
	echo "not ok 1 - $target builds"
	sed 's/^/# /' "$build/$target-build.log"
	exit 1
fi
log="$build/$target.log"
if "$out" -runs="$runs" -max_len=512 -seed=1 -timeout=30 \
	"$build/$target-corpus" >"$log" 2>&1; then
	done=$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1)
	echo "ok 1 - $target: ${done:-$runs runs}"
	echo "# 1 passed, 0 failed"
else
	echo "not ok 1 - $target found a difference, a hang or a crash"
	tail -n 30 "$log" | sed 's/^/# /'
	exit 1
fi
