#!/usr/bin/env bash
# Tools the test suite drives from outside Python: headless Chromium and its WebDriver
# (Debian's `chromium` and `chromium-driver`), for the /docs page test. Installed with apt-get
# when missing; a no-op (one `command -v` each) when present. Run by `make test`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]} == 0)); then
    echo "test tools: chromium and chromedriver present"
    exit 0
fi

log=$(mktemp -t test-tools.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "test tools: installing ${missing[*]} (apt-get)"
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    echo "test tools: apt-get install ${missing[*]} failed" >&2
    exit 1
fi
echo "test tools: installed ${missing[*]}"
