#!/usr/bin/env bash
# `make run` N times in a row on a fresh clone; one line per run: pass, or the step that failed
# and the last lines of its error (issue 10: "make run passes 10 times in a row on a fresh clone").
#
#   tests/demo_repeat.sh [N=10] [SOURCE=this checkout's repository]
#
# Clones SOURCE (its committed HEAD: uncommitted work is not part of a fresh clone) into a new
# temporary dir and runs `make run` there N times; the first run also creates .venv (make install).
# Each run's whole output is kept in <tmp>/run-<i>.log. Exit status 0 only if every run passed.
set -u
N=${1:-10}
SRC=${2:-$(git -C "$(dirname "$0")" rev-parse --show-toplevel)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lethe-demo-repeat.XXXXXX")
git clone -q "$SRC" "$WORK/lethe" || { echo "clone of $SRC failed"; exit 2; }
cd "$WORK/lethe" || exit 2
echo "clone of $SRC at $(git rev-parse --short HEAD) in $WORK/lethe; logs in $WORK"
passed=0
for i in $(seq 1 "$N"); do
    log="$WORK/run-$i.log"
    start=$(date +%s)
    if make run >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "run $i: pass ($(( $(date +%s) - start )) s)"
        continue
    fi
    # the demo names its failed step on stderr ("✗ <step> failed"); before its first step the
    # failure is make's own (install, proto generation)
    step=$(grep -a -o '✗ *[a-z]* *failed' "$log" | head -1 | awk '{print $2}')
    if [ -z "$step" ]; then
        if grep -a -q '✓ *up' "$log"; then step="demo (unnamed)"; else step="make install"; fi
    fi
    echo "run $i: FAIL at step '$step' ($(( $(date +%s) - start )) s); last lines of $log:"
    grep -a -v '^\s*$' "$log" | tail -n 6 | sed 's/^/    /'
done
echo "$passed/$N runs passed"
[ "$passed" -eq "$N" ]
