# Sourced by tools/test and tools/sanitize: `start_test_services` starts the servers the tests talk
# to and exports where they are; they stop, and their scratch folder goes, when the shell exits.
# Needs the .venv that tools/test fills (Chroma's server and the token proxy run from it).

wait_for_http() {  # url: true once anything answers there over HTTP (any status), false after 60 s
    .venv/bin/python - "$1" <<'PY'
import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
}

start_test_services() {
    # Redis for the tests that need one: a server without a password and one with, on free loopback
    # ports, in a scratch folder removed on exit. The tests read where they are from these variables
    # and fail (not skip) without them.
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/mcp-rag-test.XXXXXX")
    servers=()
    cleanup() {
        for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$scratch"
    }
    trap cleanup EXIT
    free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    start_redis() {  # port, then extra redis-server options
        local port=$1; shift
        redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$scratch" \
            --logfile "$scratch/redis-$port.log" "$@" &
        servers+=($!)
        for _ in $(seq 100); do
            redis-cli -p "$port" ${REDIS_TEST_PASSWORD:+--no-auth-warning -a "$REDIS_TEST_PASSWORD"} ping >/dev/null 2>&1 && return
            sleep 0.05
        done
        echo "test: redis-server on port $port did not start; see $scratch/redis-$port.log" >&2
        exit 1
    }
    redis_port=$(free_port)
    REDIS_TEST_PASSWORD='' start_redis "$redis_port"
    export MCP_RAG_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
    redis_auth_port=$(free_port)
    REDIS_TEST_PASSWORD="test-secret-$RANDOM$RANDOM"
    start_redis "$redis_auth_port" --requirepass "$REDIS_TEST_PASSWORD"
    export MCP_RAG_TEST_REDIS_AUTH_URL="redis://:$REDIS_TEST_PASSWORD@127.0.0.1:$redis_auth_port/0"

    # Chroma for the tests that need one: `chroma run` from the venv on a free loopback port, its data
    # in the scratch folder. Chroma 1.x has no authentication of its own; the token tests put a proxy in
    # front of it.
    chroma_port=$(free_port)
    ANONYMIZED_TELEMETRY=False .venv/bin/chroma run --path "$scratch/chroma" --host 127.0.0.1 --port "$chroma_port" \
        >"$scratch/chroma.log" 2>&1 &
    servers+=($!)
    export MCP_RAG_TEST_CHROMA_URL="http://127.0.0.1:$chroma_port"
    if ! wait_for_http "$MCP_RAG_TEST_CHROMA_URL/api/v2/heartbeat"; then
        echo "test: chroma did not start; see $scratch/chroma.log:" >&2
        tail -20 "$scratch/chroma.log" >&2
        exit 1
    fi
    # The same server behind a proxy that wants a token, as an authenticated deployment has it.
    chroma_auth_port=$(free_port)
    export MCP_RAG_TEST_CHROMA_TOKEN="test-token-$RANDOM$RANDOM"
    .venv/bin/python Tests/python/chroma_auth_proxy.py --listen-port "$chroma_auth_port" \
        --upstream "$MCP_RAG_TEST_CHROMA_URL" --token "$MCP_RAG_TEST_CHROMA_TOKEN" >"$scratch/chroma-proxy.log" 2>&1 &
    servers+=($!)
    export MCP_RAG_TEST_CHROMA_AUTH_URL="http://127.0.0.1:$chroma_auth_port"
    wait_for_http "$MCP_RAG_TEST_CHROMA_AUTH_URL/api/v2/heartbeat" || { echo "test: the Chroma token proxy did not start" >&2; exit 1; }
}
