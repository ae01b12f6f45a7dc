#!/usr/bin/env bash
# Builds examples/hello.c against an installed libtracewire using only
# pkg-config, runs it against the shared library, and checks that it prints
# the checkout trace as OTLP JSON. Usage: check_installed.sh PREFIX
set -euo pipefail
prefix="$1"
src="$(cd "$(dirname "$0")/../.." && pwd)/examples/hello.c"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
libdir=$(dirname "$(find "$prefix" -name tracewire.pc | head -1)")/..
export PKG_CONFIG_PATH="$libdir/pkgconfig"
for f in "$prefix"/include/tracewire/tracewire.h "$libdir"/libtracewire.so "$libdir"/libtracewire.a; do
  [ -e "$f" ] || { echo "install check: missing $f"; exit 1; }
done
cc -Wall -Wextra -Werror -std=c11 "$src" -o "$work/hello" $(pkg-config --cflags --libs tracewire)
LD_LIBRARY_PATH="$libdir" OTEL_TRACES_EXPORTER=console "$work/hello" > "$work/out.json" 2>"$work/err.txt"
for want in '"name":"GET /checkout"' '"name":"POST inventory.Reserve"' '"stringValue":"checkout"' '"name":"exception"'; do
  grep -qF "$want" "$work/out.json" || { echo "install check: output lacks $want"; cat "$work/out.json"; exit 1; }
done
grep -qF '"msg":"inventory reserve failed"' "$work/err.txt" || { echo "install check: no log line"; cat "$work/err.txt"; exit 1; }
echo "install: 1 passed, 0 failed"
