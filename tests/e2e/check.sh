# Assertions shared by the end-to-end scripts: one line per check, never
# stopping the run, and the closing "N passed, M failed" line CI reads.
# Usage: source tests/e2e/check.sh; check "what" CMD...; check_summary
passed=0
failed=0

# check DESCRIPTION CMD...: passes when CMD succeeds.
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok   - $what"
		passed=$((passed + 1))
	else
		echo "FAIL - $what"
		failed=$((failed + 1))
	fi
}

# check_summary: prints the closing line; fails when any check failed.
check_summary() {
	echo "$passed passed, $failed failed"
	((failed == 0))
}
