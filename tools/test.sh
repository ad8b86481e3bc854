#!/bin/sh
# tools/test.sh — every test of rally, as CI runs it.
#
# On Debian 12 as root it first installs what is missing. Then it builds
# rally three ways and runs Meson's suites:
#   plain        every suite (unit, stress, races, fuzz, model, python,
#                cli, install)
#   asan-ubsan   every suite under AddressSanitizer + UBSan (the Python
#                suites with the sanitizers preloaded)
#   tsan         the stress program under ThreadSanitizer (Criterion cannot
#                run under TSan)
# It ends with one line "N passed, N failed" counted from Meson's test logs
# and exits non-zero if any test failed.
#
# Environment: STRESS_SECONDS (default 20) for each stress run.
set -eu
cd "$(dirname "$0")/.."

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "usage: tools/test.sh [--help]" >&2
	exit 1
	;;
esac

# shellcheck source=tools/deps.sh
. tools/deps.sh
# Debian's interpreter, where Debian's python3-* packages are (another
# python3 may come first in PATH).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
deps_install meson ninja-build pkg-config gcc g++ python3 libcriterion-dev \
	clang libclang-rt-14-dev spin python3-dev
# CPython's own test.lock_tests, for the Python package's suite.
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
deps_install "libpython$pyver-testsuite"

stress=${STRESS_SECONDS:-20}
run_build() { # dir meson-options...
	dir=$1
	shift
	echo "== $dir: meson setup $*"
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" -Dstress_seconds="$stress" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; return 1; }
	else
		mkdir -p "$(dirname "$dir")"
		meson setup "$dir" "$@" -Dstress_seconds="$stress" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >/dev/null
	echo "== $dir: meson test"
	meson test -C "$dir" --print-errorlogs || true
}

status=0
run_build build-ci/plain -Dbenchmarks=disabled -Dpython="$py" || status=1
run_build build-ci/asan-ubsan -Dbenchmarks=disabled -Dpython="$py" \
	-Db_sanitize=address,undefined -Db_lundef=false || status=1
run_build build-ci/tsan -Dbenchmarks=disabled \
	-Db_sanitize=thread -Db_lundef=false || status=1

"$py" - build-ci/plain build-ci/asan-ubsan build-ci/tsan <<'PY' || status=1
import json, sys
passed = failed = 0
for d in sys.argv[1:]:
    try:
        lines = open(d + "/meson-logs/testlog.json").read().splitlines()
    except OSError:
        print(f"{d}: no test log", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        if t["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif t["result"] != "SKIP":
            failed += 1
            print(f"FAILED: {d}: {t['name']} ({t['result']})")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
exit $status
