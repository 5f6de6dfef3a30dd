#!/usr/bin/env bash
# ensure_deps.sh — make sure the headers/libraries the build needs are present.
#
# Usage: tools/ensure_deps.sh CXX "header:debian-package" "cmd=program:debian-package" ...
# For each pair, checks that CXX can #include <header> (or that the program is on the PATH). What is missing is installed
# with apt-get when we run as root on a Debian/Ubuntu machine (one line says so);
# otherwise we stop with the exact command to run. Prints nothing when all is there.
set -u
cxx=$1; shift
missing=()
for pair in "$@"; do
    header=${pair%%:*}
    pkg=${pair#*:}
    if [ "${header#cmd=}" != "$header" ]; then
        command -v "${header#cmd=}" >/dev/null 2>&1 || missing+=("$pkg")
    elif ! printf '#include <%s>\n' "$header" | "$cxx" -x c++ -E - >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "reco build: installing missing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # An install from a stale (or empty) package list fails: refresh it first when needed.
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/reco-apt.log 2>&1; then
        apt-get update -qq >>/tmp/reco-apt.log 2>&1
        if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/reco-apt.log 2>&1; then
            echo "reco build: '$cmd' failed; its output is in /tmp/reco-apt.log" >&2
            exit 1
        fi
    fi
    exit 0
fi
echo "reco build: missing ${missing[*]}. Install with:" >&2
echo "    sudo $cmd" >&2
exit 1
