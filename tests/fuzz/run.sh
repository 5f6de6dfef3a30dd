#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD SECONDS fuzz_NAME... — run each harness for SECONDS with libFuzzer.
# Corpus: BUILD/corpus/NAME (kept between runs), seeded from the files tests/fuzz/NAME.seeds lists
# (globs relative to the repository root), with the flags in tests/fuzz/NAME.flags if present.
# Crashes go to BUILD/crashes/NAME/. One summary line each.
set -u
build=$1; secs=$2; shift 2
status=0
export OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1
for bin in "$@"; do
    name=${bin#fuzz_}
    corpus=$build/corpus/$name crashes=$build/crashes/$name
    mkdir -p "$corpus" "$crashes"
    seeds=()
    if [ -f "tests/fuzz/$name.seeds" ]; then
        while read -r glob; do
            case "$glob" in ''|'#'*) continue ;; esac
            for f in $glob; do [ -f "$f" ] && seeds+=("$f"); done
        done <"tests/fuzz/$name.seeds"
    fi
    seed_dir=$build/seeds/$name
    rm -rf "$seed_dir"; mkdir -p "$seed_dir"
    # numbered: seeds from different folders may share a name (config.json)
    for i in "${!seeds[@]}"; do cp "${seeds[$i]}" "$seed_dir/$i-$(basename "${seeds[$i]}")"; done
    log=$build/$name.log
    # Extra libFuzzer flags for this harness (e.g. -max_len), one line in tests/fuzz/NAME.flags.
    flags=()
    [ -f "tests/fuzz/$name.flags" ] && read -r -a flags <"tests/fuzz/$name.flags"
    "$build/$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "${flags[@]}" "$corpus" "$seed_dir" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    found=$(ls "$crashes" | wc -l)
    printf 'fuzz %-12s %5ss  %10s execs  corpus %5s  crashes %s  (exit %s, log %s)\n' \
        "$name" "$secs" "${execs:-?}" "$(ls "$corpus" | wc -l)" "$found" "$rc" "$log"
    [ "$rc" = 0 ] || status=1
done
exit $status
