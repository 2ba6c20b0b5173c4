# Shared by bench/run and bench/intake (sourced): ports, the nginx sink, omnigated's webhook
# bench config and starting the daemon on it.

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 100); do
    [[ -n "$(ss -Htln "( sport = :$1 )")" ]] && return 0
    sleep 0.1
  done
  return 1
}
now_ms() { date +%s%3N; }

# start_nginx_sink DIR PORT: nginx answering 204 to everything on 127.0.0.1:PORT, pid in
# DIR/nginx.pid (the caller stops it).
start_nginx_sink() {
  cat >"$1/nginx.conf" <<NGINX
worker_processes 1;
pid $1/nginx.pid;
error_log $1/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$2;
    keepalive_requests 1000000;
    location / { return 204; }
  }
}
NGINX
  nginx -c "$1/nginx.conf"
  wait_port "$2"
}

# write_config DIR [EXTRA PROVIDER LINE]: the webhook-to-nginx config on $api_port and
# $sink_port, policy on (a cap), token "bench-token".
write_config() {
  cat >"$1/omnigate.toml" <<TOML
[server]
listen = "127.0.0.1:$api_port"
[[api.tokens]]
name = "bench"
sha256 = "$(printf '%s' bench-token | sha256sum | cut -d' ' -f1)"
[store]
path = "omnigate.db"
[dispatch]
window = 100000
[[caps]]
name = "bench-1000-per-day"
category = "transactional"
limit = 1000
window = "1d"
[channels.email]
providers = ["sink"]
[providers.sink]
kind = "webhook"
url = "http://127.0.0.1:$sink_port/deliver"
allow_private = true
max_concurrency = 64
${2:-}
TOML
}

# start_daemon DIR: starts $daemon on DIR/omnigate.toml; sets daemon_pid and ready_ms (the
# time from exec to the first successful /readyz, polled every 20 ms).
start_daemon() {
  local t0
  t0=$(now_ms)
  "$daemon" --config "$1/omnigate.toml" 2>>"$1/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 3000); do
    if curl -sf -m 2 "http://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
      ready_ms=$(($(now_ms) - t0))
      return 0
    fi
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "omnigated did not become ready; its log:" >&2
  tail -n 20 "$1/daemon.log" >&2
  exit 1
}
