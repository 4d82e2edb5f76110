#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/Targets/*.swift) against the core's sources (Sources/EmailOTPCore) and runs
# each for a bounded number of runs from its seed corpus (fuzz/corpus/<target>/). Exits non-zero
# when a target crashes, traps, or breaks one of the properties it checks.
#
#   fuzz/run.sh                    build, then run every target
#   fuzz/run.sh record config      only these targets
#   fuzz/run.sh --build-only       build, run nothing
#
# Environment: FUZZ_RUNS (inputs per target, default 50000), FUZZ_MAX_TIME (seconds per target,
# a cap on top of the runs, default 15), FUZZ_JOBS (targets at once, default: number of CPUs),
# FUZZ_SEED (libFuzzer seed, default 1: repeatable; 0 = random), FUZZ_KEEP_CORPUS=1 (keep .build-fuzz/corpus/<target> from the previous run instead of
# starting again from the seeds). Everything is built in .build-fuzz/ (git-ignored); a crashing
# input is saved as .build-fuzz/artifacts/<target>-crash-<sha1>.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
root=$PWD
out=$root/.build-fuzz
runs=${FUZZ_RUNS:-50000}
# A fixed seed makes the bounded run repeatable (CI sees what a developer saw); FUZZ_SEED=0
# lets libFuzzer pick one, for campaigns.
seed=${FUZZ_SEED:-1}
max_time=${FUZZ_MAX_TIME:-15}
jobs=${FUZZ_JOBS:-$(nproc)}
build_only=0
targets=()
for argument in "$@"; do
    case $argument in
        --build-only) build_only=1 ;;
        -*) echo "fuzz/run.sh: unknown option $argument" >&2; exit 64 ;;
        *) [ -f "fuzz/Targets/$argument.swift" ] || { echo "fuzz/run.sh: no target $argument" >&2; exit 64; }
           targets+=("$argument") ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    for file in fuzz/Targets/*.swift; do targets+=("$(basename "$file" .swift)"); done
fi
start=$SECONDS
mkdir -p "$out/include" "$out/core" "$out/bin" "$out/corpus" "$out/artifacts" "$out/logs"

# True when $1 is missing or older than any of the other files.
stale() {
    local target=$1; shift
    [ -e "$target" ] || return 0
    [ -n "$(find "$@" -newer "$target" -print -quit)" ]
}

# The C shim as a Clang module (SwiftPM makes this module map itself, with every header of
# include/; swiftc needs it written).
cat > "$out/include/module.modulemap.new" <<MAP
module CShim {
    umbrella "$root/CShim/shim/include"
    export *
}
MAP
if cmp -s "$out/include/module.modulemap.new" "$out/include/module.modulemap"; then
    rm "$out/include/module.modulemap.new"
else
    mv "$out/include/module.modulemap.new" "$out/include/module.modulemap"
fi

# The core's layers (the EmailOTP* targets of Package.swift, in dependency order), each built
# once as its own module, instrumented for coverage and AddressSanitizer; -enable-testing lets
# the harnesses reach internal parsers (MIMEEncoding) through @testable import.
mapfile -t layers < <(swift package describe --type json | python3 -c '
import json, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
done = []
def visit(name):
    if name in done or name not in targets or not name.startswith("EmailOTP") or targets[name]["type"] != "library":
        return
    for dependency in targets[name].get("target_dependencies", []):
        visit(dependency)
    done.append(name)
for name in sorted(targets):
    visit(name)
for name in done:
    print(name, targets[name]["path"], *targets[name]["sources"])
')
core_objects=()
for layer in "${layers[@]}"; do
    read -r module path sources <<<"$layer"
    files=()
    for source in $sources; do files+=("$path/$source"); done
    if stale "$out/core/$module.o" "${files[@]}" "$out/include/module.modulemap" "${core_objects[@]}"; then
        echo "== fuzz: building $module"
        swiftc -sanitize=fuzzer,address -O -g -enable-testing -parse-as-library -wmo -package-name pam_emailotp \
            -module-name "$module" -I "$out/include" -I "$out/core" \
            -emit-module -emit-module-path "$out/core/$module.swiftmodule" \
            -emit-object -o "$out/core/$module.o" "${files[@]}"
    fi
    core_objects+=("$out/core/$module.o")
done
if stale "$out/core/shim.o" CShim/shim; then
    # Every C file of the shim, linked into one relocatable object.
    shim_objects=()
    for c in CShim/shim/*.c; do
        o="$out/core/shim-$(basename "$c" .c).o"
        clang -c -O1 -g -fPIC -I CShim/shim/include "$c" -o "$o"
        shim_objects+=("$o")
    done
    ld.lld -r "${shim_objects[@]}" -o "$out/core/shim.o"
fi

build_target() {
    local name=$1
    if stale "$out/bin/$name" "fuzz/Targets/$name.swift" fuzz/Support "${core_objects[@]}" "$out/core/shim.o"; then
        swiftc -sanitize=fuzzer,address -O -g -parse-as-library -package-name pam_emailotp -module-name "fuzz_$name" \
            -I "$out/include" -I "$out/core" -use-ld=lld \
            fuzz/Support/*.swift "fuzz/Targets/$name.swift" "${core_objects[@]}" "$out/core/shim.o" \
            -lpam -lcrypt -o "$out/bin/$name"
    fi
}

run_target() {
    local name=$1 work=$out/corpus/$1
    [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$work"
    mkdir -p "$work"
    # New inputs go to the first directory (the work corpus); the committed seeds stay as they are.
    SWIFT_BACKTRACE=enable=no "$out/bin/$name" -seed="$seed" -runs="$runs" -max_total_time="$max_time" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$name-" "$work" "fuzz/corpus/$name" >"$out/logs/$name.log" 2>&1
}

echo "== fuzz: building ${#targets[@]} targets"
pids=()
for name in "${targets[@]}"; do
    build_target "$name" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "== fuzz: built in $((SECONDS - start)) s"
[ "$build_only" = 0 ] || exit 0

echo "== fuzz: running each target for $runs runs (at most $max_time s), $jobs at a time"
failed=()
declare -A running=()
report() {
    local name=$1 status=$2
    local line
    line=$(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$out/logs/$name.log" || true)
    if [ "$status" -eq 0 ]; then
        printf '   %-18s ok   %s, %s corpus inputs\n' "$name" "${line:-?}" "$(ls "$out/corpus/$name" | wc -l)"
    else
        printf '   %-18s FAIL (exit %s), log %s\n' "$name" "$status" "$out/logs/$name.log"
        grep -E 'PROPERTY VIOLATED|Fatal error|ERROR: (libFuzzer|AddressSanitizer)|Test unit written' "$out/logs/$name.log" | head -20 | sed 's/^/      /'
        failed+=("$name")
    fi
}
for name in "${targets[@]}"; do
    while [ ${#running[@]} -ge "$jobs" ]; do
        status=0
        wait -n -p done_pid "${!running[@]}" || status=$?
        report "${running[$done_pid]}" "$status"
        unset "running[$done_pid]"
    done
    run_target "$name" &
    running[$!]=$name
done
while [ ${#running[@]} -gt 0 ]; do
    status=0
    wait -n -p done_pid "${!running[@]}" || status=$?
    report "${running[$done_pid]}" "$status"
    unset "running[$done_pid]"
done

echo "== fuzz: ${#targets[@]} targets in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/run.sh: failed: ${failed[*]} (reproduce: .build-fuzz/bin/<target> <artifact>)" >&2
    exit 1
fi
