# Shared helpers for the shell tests (sourced). `check NAME CONDITION` evaluates CONDITION, prints
# ok/FAIL and records a failure in $fail (returning 1, so `check ... || cat LOG` shows why); `make_workdir` sets $work to a temp dir removed on exit.
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; return 1; else echo "ok: $1"; fi; }
make_workdir() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
}
