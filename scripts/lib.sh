# shellcheck shell=bash
# Shared by the scripts (source it; it only defines things): where heavy, reusable things
# live outside the repository, and how a script gets a private Python virtualenv there.
#
#   AIOS_LLM_CORE_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/aios-llm-core)
#
# Layout under the cache root: cargo-target/ (cargo's target dir, used by .ci/run),
# llama.cpp source, builds and models (scripts/local-server), and one virtualenv per purpose.

AIOS_LLM_CORE_CACHE=${AIOS_LLM_CORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aios-llm-core}
export AIOS_LLM_CORE_CACHE

# Prints the path of a virtualenv named $1 under the cache, creating it when missing and
# installing the pip requirements given after the name when `import $module` fails, where
# $module is the part of the first requirement before any version specifier.
# Usage: python_venv NAME REQUIREMENT... ; progress goes to stderr.
python_venv() {
    local name=$1
    shift
    local venv=$AIOS_LLM_CORE_CACHE/$name module
    module=${1-}
    module=${module%%[<>=!~ ]*}
    module=${module//-/_}
    if [ ! -x "$venv/bin/python" ]; then
        echo "== creating the virtualenv $venv" >&2
        python3 -m venv "$venv" >&2
    fi
    if [ $# -gt 0 ] && ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
        echo "== installing $* into $venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    fi
    printf '%s\n' "$venv"
}
