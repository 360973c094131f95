# shellcheck shell=sh
# tests/api-server.sh: a real smz-api for the tests, on 127.0.0.1, with the
# TLS certificates of tests/api-certs.sh in the current directory.
# api_start [POLICY-LINES...] writes api.conf (policy.conf, an [api]
# section and the lines given), starts the server and waits until it
# answers; it sets API_PORT and API_URL.  The server's pid is in api.pid,
# its exit status, once it has exited, in api.status (test bodies run in
# subshells, which cannot wait for it), its standard error in api.log.

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# api_curl ARGS...: curl as the allowed gateway gw1
api_curl() {
	curl -sS --cacert tlsca.pem --cert gw1.pem --key gw1.key "$@"
}

# api_wait_exit: until the server has exited (at most 35 s); its status
api_wait_exit() {
	i=0
	while [ ! -s api.status ] && [ $i -lt 700 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -s api.status ] && return "$(cat api.status)"
	return 124
}

# api_stop: SIGTERM, and its exit status
api_stop() {
	[ -s api.pid ] || return 0
	kill -TERM "$(cat api.pid)" 2>/dev/null
	api_wait_exit
	st=$?
	rm -f api.pid
	return $st
}

api_start() {
	# A free port can be taken by another process before smz-api binds it;
	# smz-api then exits, so try fresh ports.
	for try in 1 2 3 4 5; do
		API_PORT=$(free_port)
		API_URL=https://127.0.0.1:$API_PORT
		{
			cat policy.conf
			printf '[api]\nlisten = 127.0.0.1\nport = %s\n' "$API_PORT"
			printf 'cert = %s/server.pem\nkey = %s/server.key\n' "$PWD" "$PWD"
			printf 'client_ca = %s/gwca.pem\nthreads = 2\n' "$PWD"
			printf '%s\n' "$@"
		} >api.conf
		rm -f api.pid api.status
		# shellcheck disable=SC2016 # expanded by that shell
		sh -c 'smz-api --policy "$1" 2>>api.log & echo $! >api.pid; wait $!; echo $? >api.status' \
			sh "$PWD/api.conf" &
		# ready when /v1/health answers: polled, never a fixed wait
		i=0
		while [ $i -lt 200 ] && [ ! -s api.status ]; do
			[ -s api.pid ] && curl -s --cacert tlsca.pem -o /dev/null "$API_URL/v1/health" &&
				return 0
			sleep 0.05
			i=$((i + 1))
		done
		api_stop
		echo "api_start: try $try on port $API_PORT failed" >&2
	done
	return 1
}
