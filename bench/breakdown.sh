#!/bin/sh
# Takes libcloexec's costs apart: builds small probe preloads (bench/probes/)
# that each do one piece of what the library does, and measures them with the
# bench driver's tools against the empty preload and the library itself.
#
#   bench/breakdown.sh [startup|exec|hooks]...   (default: all three)
#
# Run from the repository root after `make all bench-build`. BENCH_SCALE
# works as for `make bench`. Each table row is "this preload against the
# first one".
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
lib=$root/target/release/libcloexec.so
empty=$root/target/harness/libempty.so
out=$root/target/bench/probes
bench=$root/target/bench/bench
[ -x "$bench" ] && [ -f "$lib" ] && [ -f "$empty" ] || { echo "run 'make all bench-build' first" >&2; exit 1; }
mkdir -p "$out"
for src in bench/probes/*.c; do
    name=$(basename "$src" .c)
    ${CC:-cc} -O2 -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE -fno-optimize-sibling-calls \
        -shared -fPIC -o "$out/$name.so" "$src"
done

for what in ${@:-startup exec hooks}; do
    case $what in
    startup)
        echo "### start-up pieces (against libempty.so)"
        "$bench" --startup "$empty" "$out/dlsym15.so" "$out/poll64.so" "$out/proc_stat.so" \
            "$out/proc_readlink.so" "$lib" ;;
    exec)
        for n in 10 10000; do
            echo "### fork+exec with $n leaked fds (against no preload)"
            "$bench" --exec "$n" none "$empty" "$out/close_range_execve.so" "$lib" "$lib,CLOEXEC_MODE=off"
        done ;;
    hooks)
        echo "### hook pass-through (against no preload; the probe wraps hooks 0 and 1 only)"
        "$bench" --hooks none "$out/fcntl_forward.so" "$lib" ;;
    *) echo "unknown: $what (startup, exec, hooks)" >&2; exit 2 ;;
    esac
done
