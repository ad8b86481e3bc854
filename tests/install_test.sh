#!/bin/sh
# install_test.sh SOURCE BUILD — `meson install` gives a header, libraries
# and rally.pc that a program builds against, and the Python package when
# it was built (RALLY_PYTHON: its interpreter); rally also builds as a Meson
# subproject found with dependency('rally').
set -eu
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { # name command...
	name=$1
	shift
	if "$@" >"$tmp/log" 2>&1; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		echo "not ok - $name"
		sed 's/^/# /' "$tmp/log"
	fi
}

cat >"$tmp/consumer.c" <<'C'
#include <rally.h>
#include <stdio.h>
int main(void)
{
	rally_barrier_t b;
	if (rally_barrier_init(&b, 1, NULL) || rally_barrier_wait(&b) != 0)
		return 1;
	puts(rally_strerror(RALLY_BROKEN));
	return rally_barrier_destroy(&b);
}
C

py=${RALLY_PYTHON:-}
[ -n "$py" ] && echo "1..5" || echo "1..4"
check "meson install" meson install -C "$build" --no-rebuild --quiet \
	--destdir "$tmp/root"

pc=$(find "$tmp/root" -name rally.pc | head -n 1)
check "installed files" sh -c "test -n '$pc' &&
	find '$tmp/root' -name rally.h | grep -q . &&
	find '$tmp/root' -name 'librally.so.0' | grep -q . &&
	find '$tmp/root' -name 'librally.a' | grep -q ."

check "build against rally.pc" sh -c "
	export PKG_CONFIG_PATH=\$(dirname '$pc') PKG_CONFIG_SYSROOT_DIR='$tmp/root'
	cc '$tmp/consumer.c' -o '$tmp/consumer' \$(pkg-config --cflags --libs rally)
	LD_LIBRARY_PATH=\$(dirname \$(find '$tmp/root' -name librally.so.0)) '$tmp/consumer'"

if [ -n "$py" ]; then
	check "the installed Python package imports and works" sh -c "
		init=\$(find '$tmp/root' -path '*/rally/__init__.py' | head -n 1)
		test -n \"\$init\" && find \$(dirname \"\$init\") -name '_rally*.so' | grep -q . &&
		cd '$tmp' && PYTHONPATH=\$(dirname \$(dirname \"\$init\")) '$py' -c '
import rally
b = rally.Barrier(1)
assert b.wait() == 0 and rally.Event().wait(0) is False
print(rally.__file__)'"
fi

mkdir -p "$tmp/sub/subprojects"
ln -s "$(cd "$src" && pwd)" "$tmp/sub/subprojects/rally"
cp "$tmp/consumer.c" "$tmp/sub/"
cat >"$tmp/sub/meson.build" <<'M'
project('consumer', 'c')
executable('consumer', 'consumer.c', dependencies: dependency('rally'))
M
check "meson subproject via dependency('rally')" sh -c "
	cd '$tmp/sub' &&
	meson setup b --force-fallback-for=rally -Drally:tests=false \
		-Drally:benchmarks=disabled &&
	ninja -C b && ./b/consumer"

echo "# $passed passed, $failed failed"
test "$failed" -eq 0
