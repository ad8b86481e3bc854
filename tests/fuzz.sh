#!/bin/sh
# fuzz.sh SOURCE BUILD RUNS — builds the libFuzzer target with clang
# (address + undefined sanitizers) and runs it RUNS times; TAP out.
#   A long run: tests/fuzz.sh . build 100000000
set -u
src=$1
build=$2
runs=${3:-1000000}
out="$build/fuzz_barrier"
mkdir -p "$build/fuzz-corpus"
echo "1..1"
if ! clang -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -D_GNU_SOURCE \
	-I"$src/include" -I"$src/lib" "$src"/lib/*.c "$src/tests/fuzz_barrier.c" \
	-pthread -o "$out" 2>"$build/fuzz-build.log"; then
	echo "not ok 1 - fuzz target builds"
	sed 's/^/# /' "$build/fuzz-build.log"
	exit 1
fi
log="$build/fuzz.log"
if "$out" -runs="$runs" -max_len=512 -seed=1 "$build/fuzz-corpus" >"$log" 2>&1; then
	done=$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1)
	echo "ok 1 - libFuzzer against the reference model: ${done:-$runs runs}"
	echo "# 1 passed, 0 failed"
else
	echo "not ok 1 - libFuzzer found a difference or a crash"
	tail -n 30 "$log" | sed 's/^/# /'
	exit 1
fi
