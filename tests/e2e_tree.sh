#!/usr/bin/env bash
# Process trees: CPROF_TRACE_FILE=f <any command> gives one trace of the
# whole tree, whatever stands in between. Wrappers (timeout, sh -c, env -i,
# exec in place), a forking server of ours under ab (master + 2 workers
# forked without exec), make -j2 on a generated project, and nginx with 2
# workers under ab when nginx is installed (scripts/deps.sh test installs
# nginx-light). Load only on 127.0.0.1, bounded.
set -euo pipefail
build=$1
lib="$build/tracer/libcproftrace.so"
view="$build/viewer/cprof-trace"
app="$build/tests/blocking_app_plain"
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
passed=0
ok() { passed=$((passed + 1)); }
# "# process PID (parent PPID) N events: CMDLINE" lines of a tree trace
procs() { "$view" -dump "$1" > "$dir/procs.tmp" || true; grep '^# process ' "$dir/procs.tmp" || true; }
# dump, tid, call: whether thread tid recorded a block in call
blocked_in() { awk -v t="$2" -v c="what=\"$3\"" '$2 == t && index($0, c) { f = 1 } END { exit !f }' "$1"; }
has_app() { # trace: a process image of $app with events
  procs "$1" | grep -c "^# process [0-9]* (parent [0-9]*) [1-9][0-9]* events: $app\$" > /dev/null
}

# ---- wrappers: the traced command's descendants are in the trace ----
LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/timeout.trace" timeout 30 "$app" > /dev/null
has_app "$dir/timeout.trace" || fail "timeout 30 ./app: ./app not in the trace: $(procs "$dir/timeout.trace")"
procs "$dir/timeout.trace" | grep -c ' events: timeout 30 ' > /dev/null || fail "timeout itself not in the trace"
ok
LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/sh.trace" sh -c "$app" > /dev/null
has_app "$dir/sh.trace" || fail "sh -c ./app: ./app not in the trace: $(procs "$dir/sh.trace")"
ok
# env -i empties the environment; the exec wrapper puts the tree back
LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/envi.trace" env -i PATH=/usr/bin:/bin "$app" > /dev/null
has_app "$dir/envi.trace" || fail "env -i ./app: ./app not in the trace: $(procs "$dir/envi.trace")"
ok
# a relative path, a wrapper that changes directory, a script calling it
mkdir -p "$dir/sub"
printf '#!/bin/sh\ncd /\nsleep 0.01\n"%s" > /dev/null\n' "$app" > "$dir/wrapper.sh"
chmod +x "$dir/wrapper.sh"
(cd "$dir/sub" && LD_PRELOAD="$lib" CPROF_TRACE_FILE=rel.trace "$dir/wrapper.sh")
has_app "$dir/sub/rel.trace" || fail "script that cds: ./app not in the trace: $(procs "$dir/sub/rel.trace")"
ok
# exec in place: one pid, two images, both kept (the old one not truncated;
# an image that recorded nothing before its exec is left out, so the shell
# records every call here)
CPROF_TRACE_MIN_BLOCK_NS=0 LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/exec.trace" \
  sh -c "echo x > /dev/null; exec $app" > /dev/null
pid=$(procs "$dir/exec.trace" | grep " events: $app\$" | awk '{print $3}')
[ -n "$pid" ] || fail "exec in place: ./app not in the trace"
procs "$dir/exec.trace" | grep -c "^# process $pid (parent [0-9]*) [1-9][0-9]* events: sh -c" > /dev/null ||
  fail "exec in place: the shell's image (pid $pid) is gone: $(procs "$dir/exec.trace")"
ok
# the reports read the tree: groups by process, -pid= narrows to one
"$view" -report=threads "$dir/timeout.trace" | grep -c "^pid [0-9]* timeout 30 " > /dev/null || fail "threads report not grouped by process"
"$view" -report=threads -pid="$pid" "$dir/timeout.trace" > /dev/null || fail "-pid= on another tree's pid failed"
n_all=$("$view" -report=threads -format=json "$dir/timeout.trace" | grep -c '"tid":' || true)
tpid=$(procs "$dir/timeout.trace" | grep " events: $app\$" | awk '{print $3}')
n_one=$("$view" -report=threads -format=json -pid="$tpid" "$dir/timeout.trace" | grep -c '"tid":' || true)
[ "$n_one" -ge 7 ] && [ "$n_one" -lt "$n_all" ] || fail "-pid=$tpid: $n_one threads of $n_all"
ok
# a process that dies before the trace ends: its thread's time ends with it
# (the oracle is sleep's own argument), not at the end of the whole trace:
# the forked subshell lives as long as its sleep 0.3, the trace 1.2 s
LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/life.trace" sh -c '( sleep 0.3; : ) & sleep 1.2; wait'
"$view" -report=threads "$dir/life.trace" > "$dir/life.txt"
# (every matching process's thread total in ms, one a line)
rows_ms() { awk -v re="$1" '$0 ~ re { getline; v = $3; if (v ~ /ms$/) v = v + 0; else if (v ~ /us$/) v = v / 1000; else if (v ~ /s$/) v = v * 1000; print v }' "$dir/life.txt"; }
# the shell and its forked subshell share a command line: the subshell is
# the shorter-lived, the shell (which only waits) lives as long as the trace
sub=$(rows_ms '^pid [0-9]* sh -c [(] sleep 0[.]3' | sort -g | head -1)
shl=$(rows_ms '^pid [0-9]* sh -c [(] sleep 0[.]3' | sort -g | tail -1)
s12=$(rows_ms '^pid [0-9]* sleep 1[.]2' | head -1)
echo "lifetimes: the subshell of sleep 0.3 lived ${sub:-?} ms, sleep 1.2 ${s12:-?} ms, the shell ${shl:-?} ms in the threads report"
awk -v a="${sub:-0}" -v b="${s12:-0}" -v c="${shl:-0}" 'BEGIN { exit !(a >= 290 && a < 700 && b >= 1190 && b < 1700 && c >= b) }' ||
  fail "threads report lifetimes: subshell ${sub:-?} ms, sleep 1.2 ${s12:-?} ms, shell ${shl:-?} ms: $(cat "$dir/life.txt")"
ok

# ---- file:line for libc frames from its separate debug file (libc6-dbg) ----
# extracted once into the line cache by the first process, mapped by the next
libc=$(ldd "$app" | awk '/libc\.so/ {print $3}')
bid=$(readelf -n "$libc" 2>/dev/null | awk '/Build ID/ {print $3}')
if [ -n "$bid" ] && [ -r "/usr/lib/debug/.build-id/${bid:0:2}/${bid:2}.debug" ]; then
  for run in 1 2; do
    CPROF_TRACE_LINES_CACHE="$dir/lines" LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/lines$run.trace" "$app" > /dev/null
    [ -s "$dir/lines/$bid.lines" ] || fail "no line table for libc in the cache"
    "$view" -report=sync -format=json "$dir/lines$run.trace" | tr -d ' \t\n' > "$dir/lines$run.json"
    grep -q '"function":"start_thread","file":"[^"]*pthread_create\.c","line":[1-9][0-9]*,"module":"libc\.so\.6"' "$dir/lines$run.json" ||
      fail "run $run: libc's start_thread frame has no file:line: $(grep -o '"function":"[^"]*","file":"[^"]*","line":[0-9]*,"module":"libc[^"]*"' "$dir/lines$run.json" | sort -u | head -5)"
  done
  # off: no cache, no lines for libc (its own symbols still)
  CPROF_TRACE_LINES_CACHE=0 LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/nolines.trace" "$app" > /dev/null
  "$view" -report=sync -format=json "$dir/nolines.trace" | tr -d ' \t\n' |
    grep -q '"file":"[^"]*pthread_create\.c"' && fail "CPROF_TRACE_LINES_CACHE=0 still gave libc lines"
  ok
else
  echo "e2e_tree: no separate debug file for libc (libc6-dbg), skipping the line-table check"
fi

# ---- a forking server of ours: master + 2 workers forked without exec ----
CPROF_TRACE_MIN_BLOCK_NS=0 LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/fs.trace" \
  "$build/tests/forking_server" 2 > "$dir/fs.port" &
master=$!
for _ in $(seq 100); do [ -s "$dir/fs.port" ] && break; sleep 0.05; done
port=$(awk '{print $2}' "$dir/fs.port")
[ -n "$port" ] || fail "forking_server did not start"
ab -q -n 2000 -c 8 "http://127.0.0.1:$port/" > "$dir/fs.ab" 2>&1 || fail "ab: $(tail -3 "$dir/fs.ab")"
grep -q '^Failed requests: *0' "$dir/fs.ab" || fail "ab saw failures"
kill -TERM $master
wait $master || fail "forking_server did not stop cleanly"
"$view" -dump "$dir/fs.trace" > "$dir/fs.txt" || fail "the server's trace is not complete"
workers=$(grep -c "^# process [0-9]* (parent $master) [1-9][0-9]* events: .*forking_server 2" "$dir/fs.txt" || true)
[ "$workers" = 2 ] || fail "expected 2 workers with events in the trace: $(grep '^# process' "$dir/fs.txt")"
grep -q "^# process $master " "$dir/fs.txt" || fail "the master is not in the trace"
for w in $(grep "^# process [0-9]* (parent $master)" "$dir/fs.txt" | awk '{print $3}'); do
  for call in epoll_wait accept4 writev; do
    blocked_in "$dir/fs.txt" "$w" "$call" || fail "worker $w: no $call"
  done
done
ok

# ---- the same server, captured remotely: ?seconds=N on the master's endpoint ----
remote_capture() { # name, command...: starts it with an endpoint, loads it, captures 1 s
  local name=$1; shift
  CPROF_TRACE_MIN_BLOCK_NS=0 LD_PRELOAD="$lib" CPROF_TRACE_ADDR=127.0.0.1:0 "$@" > "$dir/$name.out" 2> "$dir/$name.err" &
  rpid=$!
  for _ in $(seq 100); do grep -q 'serving /debug/pprof/' "$dir/$name.err" 2>/dev/null && break; sleep 0.05; done
  taddr=$(grep -o '127.0.0.1:[0-9]*' "$dir/$name.err" | head -1)
  [ -n "$taddr" ] || fail "$name: no endpoint: $(cat "$dir/$name.err")"
}
# The master also has an exec'd descendant from before the capture (`sh -c
# "forking_server sleeper; true"`), and on SIGUSR1, sent during the capture,
# forks a child (5 usleep naps) and starts `sh -c ./app`: all are in it.
remote_capture fsr "$build/tests/forking_server" 2 "$app"
for _ in $(seq 100); do [ -s "$dir/fsr.out" ] && break; sleep 0.05; done
port=$(awk '{print $2}' "$dir/fsr.out")
ab -q -t 4 -n 1000000 -c 4 "http://127.0.0.1:$port/" > "$dir/fsr.ab" 2>&1 &
load=$!
sleep 0.3
wget -q -O "$dir/remote.trace" "http://$taddr/debug/pprof/trace?seconds=1.5" &
cap=$!
sleep 0.4
kill -USR1 $rpid
wait $cap || fail "wget ?seconds=1.5 on the master"
wait $load || true
kill -TERM $rpid
wait $rpid || fail "forking_server (remote) did not stop cleanly"
"$view" -dump "$dir/remote.trace" > "$dir/remote.txt" 2> "$dir/remote.dumperr" || fail "the remote tree trace is not complete: $(tail -3 "$dir/remote.dumperr"); $(grep "^# process" "$dir/remote.txt")"
rprocs() { grep '^# process' "$dir/remote.txt"; }
grep -q "^# process $rpid " "$dir/remote.txt" || fail "remote: the master is not in the trace"
# the workers: forked before the capture, serving
ws=""
for p in $(grep "^# process [0-9]* (parent $rpid) [1-9][0-9]* events: .*forking_server 2 " "$dir/remote.txt" | awk '{print $3}'); do
  blocked_in "$dir/remote.txt" "$p" epoll_wait && ws="$ws $p"
done
[ "$(echo $ws | wc -w)" = 2 ] || fail "remote: expected 2 workers: $(rprocs)"
for w in $ws; do
  for call in epoll_wait accept4 writev; do
    blocked_in "$dir/remote.txt" "$w" "$call" || fail "remote: worker $w: no $call"
  done
done
# exec'd before the capture: the shell and the sleeper it runs
sh1=$(sed -n "s/^# process \([0-9]*\) (parent $rpid) [0-9]* events: sh -c .* sleeper; true\$/\1/p" "$dir/remote.txt")
[ -n "$sh1" ] || fail "remote: the exec'd shell is not in the trace: $(rprocs)"
slp=$(sed -n "s/^# process \([0-9]*\) (parent $sh1) [1-9][0-9]* events: .*forking_server sleeper\$/\1/p" "$dir/remote.txt")
[ -n "$slp" ] && blocked_in "$dir/remote.txt" "$slp" usleep || fail "remote: the exec'd sleeper has no naps: $(rprocs)"
# started during the capture: the forked child (naps, no epoll) and ./app under sh -c
kid=""
for p in $(grep "^# process [0-9]* (parent $rpid) [1-9][0-9]* events: .*forking_server 2 " "$dir/remote.txt" | awk '{print $3}'); do
  blocked_in "$dir/remote.txt" "$p" epoll_wait || kid="$kid $p"
done
[ "$(echo $kid | wc -w)" = 1 ] && blocked_in "$dir/remote.txt" $kid usleep ||
  fail "remote: the child forked during the capture is not in it: $(rprocs)"
apid=$(sed -n "s/^# process \([0-9]*\) (parent [0-9]*) [1-9][0-9]* events: ${app//\//\\/}\$/\1/p" "$dir/remote.txt")
[ -n "$apid" ] || fail "remote: sh -c ./app started during the capture is not in it: $(rprocs)"
"$view" -report=threads -pid="$apid" "$dir/remote.trace" | grep -c "^pid $apid " > /dev/null || fail "remote: threads report has no ./app group"
ok

# ---- make -j2 on a small generated C project ----
if command -v make > /dev/null && command -v cc > /dev/null; then
  mkdir -p "$dir/proj"
  for i in $(seq 13); do printf 'int f%d(int x) { return x * %d; }\n' "$i" "$i" > "$dir/proj/f$i.c"; done
  printf 'OBJS := $(patsubst %%.c,%%.o,$(wildcard f*.c))\nall: $(OBJS)\n%%.o: %%.c\n\tcc -c -O1 -o $@ $<\n' \
    > "$dir/proj/Makefile"
  LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/make.trace" make -s -j2 -C "$dir/proj" > /dev/null
  procs "$dir/make.trace" > "$dir/make.procs"
  for i in $(seq 13); do
    n=$(grep -c " events: cc -c -O1 -o f$i.o f$i.c\$" "$dir/make.procs" || true)
    [ "$n" = 1 ] || fail "cc for f$i.c appears $n times: $(cat "$dir/make.procs")"
    n=$(grep -c " events: .*cc1 .* f$i.c " "$dir/make.procs" || true)
    [ "$n" = 1 ] || fail "cc1 for f$i.c appears $n times"
  done
  mpid=$(sed -n 's/^# process \([0-9]*\) .* events: make -s -j2 .*/\1/p' "$dir/make.procs")
  "$view" -report=syscall -format=json -pid="$mpid" "$dir/make.trace" > "$dir/make.syscall"
  grep -q '"function":[[:space:]]*"jobserver_acquire"' "$dir/make.syscall" ||
    grep -q '"function":[[:space:]]*"pselect"' "$dir/make.syscall" || fail "make's jobserver wait is not a syscall wait"
  "$view" -report=net -format=json -pid="$mpid" "$dir/make.trace" | grep -c '"function":[[:space:]]*"pselect"' > /dev/null &&
    fail "make's jobserver wait counted as a network wait"
  ok
fi

# ---- nginx, 2 workers, under ab (when installed) ----
nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -n "$nginx" ]; then
  nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir/www" "$dir/ngx"
  echo "hello from nginx" > "$dir/www/index.html"
  cat > "$dir/nginx.conf" <<EOF
daemon off; master_process on; worker_processes 2; pid $dir/nginx.pid;
error_log $dir/ngx/error.log;
events { worker_connections 256; }
http {
  access_log $dir/ngx/access.log;
  client_body_temp_path $dir/ngx/body; proxy_temp_path $dir/ngx/proxy; fastcgi_temp_path $dir/ngx/fcgi;
  uwsgi_temp_path $dir/ngx/uwsgi; scgi_temp_path $dir/ngx/scgi;
  server { listen 127.0.0.1:$nport; root $dir/www; }
}
EOF
  CPROF_TRACE_MIN_BLOCK_NS=0 LD_PRELOAD="$lib" CPROF_TRACE_FILE="$dir/nginx.trace" \
    "$nginx" -c "$dir/nginx.conf" -p "$dir/ngx" 2> "$dir/ngx.err" &
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport/index.html" > /dev/null 2>&1 && break; sleep 0.05; done
  ab -q -n 2000 -c 8 "http://127.0.0.1:$nport/index.html" > "$dir/ngx.ab" 2>&1 || fail "ab on nginx: $(tail -3 "$dir/ngx.ab")"
  grep -q '^Failed requests: *0' "$dir/ngx.ab" || fail "ab saw failures on nginx"
  master=$(cat "$dir/nginx.pid")
  kill -QUIT "$master"
  for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.05; done
  rm -f "$dir/nginx.pid"
  "$view" -dump "$dir/nginx.trace" > "$dir/nginx.txt" || fail "nginx's trace is not complete: $(grep '^# process' "$dir/nginx.txt")"
  grep -q "^# process $master .* events: .*nginx" "$dir/nginx.txt" ||
    fail "nginx master not in the trace: $(grep '^# process' "$dir/nginx.txt")"
  ws=$(grep "^# process [0-9]* (parent $master) [1-9][0-9]* events: nginx: worker process" "$dir/nginx.txt" | awk '{print $3}' | sort -u || true)
  [ "$(echo "$ws" | wc -w)" = 2 ] || fail "expected 2 nginx workers: $(grep '^# process' "$dir/nginx.txt")"
  for w in $ws; do
    for call in epoll_wait accept4 writev; do
      blocked_in "$dir/nginx.txt" "$w" "$call" || fail "nginx worker $w: no $call"
    done
  done
  "$view" -report=threads "$dir/nginx.trace" | grep -c "^pid $master .*nginx" > /dev/null || fail "threads report: no nginx master group"
  ok
  # remotely: ?seconds=1 on the master's endpoint, under ab
  remote_capture ngxr "$nginx" -c "$dir/nginx.conf" -p "$dir/ngx"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport/index.html" > /dev/null 2>&1 && break; sleep 0.05; done
  ab -q -t 4 -n 1000000 -c 4 "http://127.0.0.1:$nport/index.html" > "$dir/ngxr.ab" 2>&1 &
  load=$!
  sleep 0.3
  wget -q -O "$dir/nginx-remote.trace" "http://$taddr/debug/pprof/trace?seconds=1" || fail "wget ?seconds=1 on nginx's master"
  wait $load || true
  master=$(cat "$dir/nginx.pid")
  kill -QUIT "$master"
  for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.05; done
  rm -f "$dir/nginx.pid"
  "$view" -dump "$dir/nginx-remote.trace" > "$dir/nginx-remote.txt" 2> "$dir/ngxr.dumperr" || fail "nginx's remote trace is not complete: $(tail -3 "$dir/ngxr.dumperr"); $(grep "^# process" "$dir/nginx-remote.txt")"
  grep -q "^# process $master " "$dir/nginx-remote.txt" || fail "remote: nginx master not in the trace"
  ws=$(grep "^# process [0-9]* (parent $master) [1-9][0-9]* events: nginx: worker process" "$dir/nginx-remote.txt" | awk '{print $3}' | sort -u || true)
  [ "$(echo "$ws" | wc -w)" = 2 ] || fail "remote: expected 2 nginx workers: $(grep '^# process' "$dir/nginx-remote.txt")"
  for w in $ws; do
    for call in epoll_wait accept4 writev; do
      blocked_in "$dir/nginx-remote.txt" "$w" "$call" || fail "remote: nginx worker $w: no $call"
    done
  done
  ok
else
  echo "e2e_tree: nginx not installed, skipping its check (scripts/deps.sh test installs nginx-light)"
fi
echo "e2e_tree: $passed passed, 0 failed"
