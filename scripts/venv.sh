# Sourced by the scripts: one place that creates and fills the virtual environment.
# The install is skipped when pyproject.toml has not changed since the last one.
ensure_venv() {
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
  fi
  local stamp=.venv/.tfjobs-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ packaging/tfjobs/pyproject.toml -nt "$stamp" ]; then
    echo "installing tfjobs and its dependencies into .venv (TensorFlow is large: a minute or two)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    # Both distributions, editable: the SDK (packaging/tfjobs) and the server with its dev extras.
    .venv/bin/python -m pip install --quiet -e ./packaging/tfjobs -e '.[dev]'
    touch "$stamp"
  fi
  export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
}

# The dashboard tests drive Debian's Chromium (Playwright's own browser download cannot
# work offline). Installed when missing and this user may (root with apt-get); otherwise
# those tests skip, naming what is missing (under CI they fail).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests (once, about a minute)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q chromium >/dev/null 2>&1; then
      apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
    fi
  fi
}
