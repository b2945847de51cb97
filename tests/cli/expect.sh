# Shared by the CLI tests: `expect CODE PATTERN -- command...` runs the command, checks its
# exit code and (if PATTERN is not empty) that its output matches the extended regex;
# counts failures in $fails.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]]; then
    echo "FAIL: '$*' exited $rc, expected $code"; echo "$out" | tail -5; fails=$((fails + 1)); return
  fi
  if [[ -n $pattern ]] && ! grep -q -E -- "$pattern" <<< "$out"; then
    echo "FAIL: '$*' output lacks /$pattern/"; echo "$out" | tail -5; fails=$((fails + 1)); return
  fi
  echo "ok: $* -> $rc"
}
