# Source this file: it makes sure the cached Python environment exists (libtorch for the native runtime, and the
# oracle packages the tests compare against) and exports what cargo and the tests need.
#
#   SAM3C_CACHE   where the environment is cached (default: ${XDG_CACHE_HOME:-~/.cache}/sam3c), outside the clone
#   SAM3C_VENV    use this environment instead (it must hold the pinned packages)
#   LIBTORCH      an existing libtorch 2.13.0 install; when set it is used for linking instead of the venv's torch
#
# The environment is keyed by the hash of the pinned requirements, so a change of pins makes a new one.
# `source scripts/env.sh --paths-only` only sets SAM3C_CACHE and SAM3C_VENV (nothing is installed or exported
# beyond them); `[ -f "$SAM3C_VENV/.sam3c-complete" ]` then tells whether the environment is ready.

_sam3c_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_sam3c_req="$_sam3c_root/scripts/python-requirements.txt"
_sam3c_con="$_sam3c_root/scripts/python-constraints.txt"
_sam3c_key="$(cat "$_sam3c_req" "$_sam3c_con" | sha256sum | cut -c1-12)"
export SAM3C_CACHE="${SAM3C_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sam3c}"
export SAM3C_VENV="${SAM3C_VENV:-$SAM3C_CACHE/venv-$_sam3c_key}"

if [ "${1:-}" = --paths-only ]; then
    unset _sam3c_root _sam3c_req _sam3c_con _sam3c_key
    return 0
fi

if [ ! -f "$SAM3C_VENV/.sam3c-complete" ]; then
    echo "sam3c: creating the Python environment in $SAM3C_VENV (torch 2.13.0 and the test oracles; a few minutes, once)" >&2
    rm -rf "$SAM3C_VENV"
    mkdir -p "$(dirname "$SAM3C_VENV")"
    python3 -m venv "$SAM3C_VENV" || return 1 2>/dev/null || exit 1
    # One resolver call with every pin, so that nothing upgrades torch behind tch's back. No bytecode is
    # compiled at install time (Python compiles a module when it is first imported): on a fresh machine the
    # install shares the CPU with the Rust build (scripts/demo.sh).
    if ! "$SAM3C_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile \
            -r "$_sam3c_req" -c "$_sam3c_con"; then
        echo "sam3c: pip failed; nothing was cached, run again to retry" >&2
        rm -rf "$SAM3C_VENV"
        return 1 2>/dev/null || exit 1
    fi
    "$SAM3C_VENV/bin/python" -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__" \
        || { rm -rf "$SAM3C_VENV"; return 1 2>/dev/null || exit 1; }
    touch "$SAM3C_VENV/.sam3c-complete"
fi

export VIRTUAL_ENV="$SAM3C_VENV"
export PATH="$SAM3C_VENV/bin:$PATH"
export SAM3C_PYTHON="$SAM3C_VENV/bin/python"
if [ -z "${LIBTORCH:-}" ]; then
    # torch-sys reads include and lib dirs from the venv's torch (python is found through VIRTUAL_ENV).
    export LIBTORCH_USE_PYTORCH=1
fi
unset _sam3c_root _sam3c_req _sam3c_con _sam3c_key
