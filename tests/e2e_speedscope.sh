#!/usr/bin/env bash
# Our Chrome JSON opened in speedscope (npm package, installed into a cache
# by scripts/speedscope.sh) in headless Chromium: the demo
# server's requests and examples/hello's jobs must show as frames named by
# their task ("request", "job"). speedscope reads only B/E/X events, so this
# is what its users see of tasks.
#
# speedscope's dist/release/index.html loads a profile from
# #localProfilePath=FILE.js, where FILE.js calls
# speedscope.loadFileFromBase64(name, b64); ours then presses speedscope's
# "n" key (next profile, i.e. thread) until its sandwich view's table lists
# the task's name, and says so in document.title, which --dump-dom prints.
#   e2e_speedscope.sh BUILD_DIR     exit 77 (skipped) without Chromium, or without npm and speedscope
set -euo pipefail
B=$1
V=$B/viewer/cprof-trace
browser=$(command -v chromium || command -v chromium-browser || true)
skip() { echo "e2e_speedscope: SKIPPED: $*"; exit 77; }
[ -n "$browser" ] || skip "no chromium (scripts/deps.sh test installs it)"
rc=0
dist=$("$(dirname "$0")/../scripts/speedscope.sh") || rc=$?
[ $rc = 1 ] && skip "no speedscope and no npm to install it (scripts/deps.sh test installs npm)"
[ $rc = 0 ] || { echo "e2e_speedscope: FAIL: npm could not install speedscope" >&2; exit 1; }
index=$dist/index.html
W=$(mktemp -d)
demo=
load=
cleanup() {
  [ -n "$load" ] && kill "$load" 2>/dev/null
  [ -n "$demo" ] && kill "$demo" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "e2e_speedscope: FAIL: $*" >&2; exit 1; }
cd "$W"
[ -n "${CPROF_NO_INTERPOSE_TEST:-}" ] && export CPROF_TRACE_INTERPOSE=0

# shows JSON NAME: speedscope lists a frame named NAME in one of its profiles
shows() {
  local json=$1 want=$2
  local js=$W/$(basename "$json" .json).js
  {
    printf 'const WANT = "%s";\n' "$want"
    printf 'speedscope.loadFileFromBase64("%s", "%s");\n' "$(basename "$json")" "$(base64 -w0 "$json")"
    cat <<'JS'
setTimeout(function probe(tries) {
  const cells = [...document.querySelectorAll('div, td, span')].map((e) => e.textContent.trim());
  if (cells.includes(WANT)) { document.title = 'FOUND ' + WANT; return; }
  if (tries > 300) { document.title = 'NOT FOUND ' + WANT + ': ' + document.body.innerText.slice(0, 300); return; }
  window.dispatchEvent(new KeyboardEvent('keypress', { key: 'n' })); // speedscope: next profile
  setTimeout(() => probe(tries + 1), 100);
}, 500, 0);
JS
  } > "$js"
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --disable-background-networking --user-data-dir="$W/chrome" --allow-file-access-from-files \
    --virtual-time-budget=60000 --dump-dom "file://$index#localProfilePath=$js&view=sandwich" \
    > dom.html 2> chrome.err || fail "chromium: $(tail -3 chrome.err)"
  title=$(grep -o '<title>[^<]*</title>' dom.html | head -1)
  [ "$title" = "<title>FOUND $want</title>" ] || fail "speedscope does not show $want in $json: ${title:0:400}"
  echo "e2e_speedscope: $json: speedscope shows \"$want\""
}

# examples/hello: tasks named "job"
CPROF_TRACE_FILE=hello.trace "$B/examples/hello" > /dev/null
"$V" -json=hello.json hello.trace
"$B/tests/check_chrome_json" hello.json 1 job > /dev/null || fail "hello.json structure"
shows hello.json job

# the demo server: a second of requests, traced over HTTP; tasks named "request"
"$B/examples/pprof-demo" -addr 127.0.0.1:0 -workers 2 > demo.log 2>&1 &
demo=$!
for _ in $(seq 1 100); do grep -q listening demo.log && break; sleep 0.1; done
base=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' demo.log | head -1) || fail "the demo did not start"
(while :; do curl -sf "${base}fib/?n=18&type=recursive" > /dev/null; curl -sf "${base}concat/?count=200" > /dev/null; done) &
load=$!
curl -sf -o demo.trace "${base}debug/pprof/trace?seconds=1" || fail "trace capture"
kill $load; wait $load 2>/dev/null || true
load=
"$V" -json=demo.json demo.trace
"$B/tests/check_chrome_json" demo.json 1 request > /dev/null || fail "demo.json structure"
shows demo.json request
echo "e2e_speedscope: ok"
