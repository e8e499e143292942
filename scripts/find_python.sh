#!/usr/bin/env bash
# Prints the path of a Python 3.13 interpreter for `make install` and `make lock`:
# the one given as PYTHON=..., else python3.13 on PATH, else pyenv's newest 3.13.
# With none, says so in one line and exits 2.
set -u
ok() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; }
if [ -n "${1:-}" ]; then
  if ok "$1"; then command -v "$1"; exit 0; fi
  echo "PYTHON=$1 is not a Python 3.13 interpreter" >&2
  exit 2
fi
# a pyenv shim answers for python3.13 only when 3.13 is selected, so each candidate is run, not just found
for candidate in python3.13 $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V -r); do
  if ok "$candidate"; then command -v "$candidate"; exit 0; fi
done
echo "no Python 3.13 found: put python3.13 on PATH, install it with pyenv, or run make PYTHON=/path/to/python3.13 install" >&2
exit 2
