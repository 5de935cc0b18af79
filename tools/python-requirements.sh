# Sourced by tools/test and tools/bench: `install_python_requirements FILE` installs a requirements
# file into .venv (made by tools/setup) once, and again when the file changes (its hash is stamped
# inside the venv).
install_python_requirements() {  # requirements file
    local stamp wanted
    stamp=.venv/.$(basename "$1" .txt).sha256
    wanted=$(sha256sum "$1" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "installing $1 into .venv" >&2
        .venv/bin/python -m pip install -q --disable-pip-version-check -r "$1"
        echo "$wanted" > "$stamp"
    fi
}
