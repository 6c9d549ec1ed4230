#!/usr/bin/env bash
# Runs the Go test suite verbosely into a log, prints every test's result line
# (skips with their reason) and a closing count, and the log's failures.
set -uo pipefail

log=$(mktemp /tmp/axon-test.XXXXXX.log)
go test -count=1 -v -timeout 20m "$@" >"$log" 2>&1
status=$?

# Result lines of every test, and the skip reasons printed just before them.
grep -E '^\s*--- (PASS|FAIL|SKIP)|^(ok|FAIL|panic)\b' "$log" | grep -v '^\s*--- PASS.*/' || true
echo
echo "skipped tests and why:"
grep -B1 -E '^\s*--- SKIP' "$log" | grep -vE '^\s*--- SKIP|^--$' | sed 's/^/    /' || true

pass=$(grep -cE '^\s*--- PASS' "$log")
fail=$(grep -cE '^\s*--- FAIL' "$log")
skip=$(grep -cE '^\s*--- SKIP' "$log")
if [ $status -ne 0 ]; then
	echo
	echo "failures (full log: $log):"
	grep -nE -A30 '^\s*--- FAIL|^panic|^FAIL\s|build failed|cannot|undefined' "$log" | head -300
	# What each failing test reported, last, where a reader of the
	# output's tail sees it (go test -v streams a test's log lines where
	# they happen, often far above its --- FAIL line).
	echo
	echo "what the failing tests reported:"
	awk '/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
		/^[ \t]*--- FAIL: / { failed[$3] = 1; next }
		/^[ \t]+[^ \t]+\.go:[0-9]+: / { if (n[cur]++ < 12) msg[cur] = msg[cur] substr($0, 1, 400) "\n" }
		END { for (t in failed) if (t in msg) printf "%s:\n%s", t, msg[t] }' "$log" | head -40
fi
echo
echo "go: $pass passed, $fail failed, $skip skipped"
exit $status
