# shellcheck shell=sh
# tests/lib.sh: a small test harness in the style of git's t/test-lib.sh.
# Each test script sources it, runs in its own scratch directory and
# prints TAP for prove.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH="$TOP/cmd:$PATH"
export PATH
test_name=$(basename "$0" .sh)
TRASH="$TOP/tests/trash.$test_name"
rm -rf "$TRASH"
mkdir -p "$TRASH"
# programs refuse to write secrets into a directory others can write to
chmod go-w "$TRASH"
cd "$TRASH" || exit 1
unset SMZ_VAULT SMZ_CA SMZ_POLICY
# audit entries are copied to syslog: not the host's, where test runs
# would pass for real unlocks (tests that read the copy set their own)
SMZ_SYSLOG_SOCKET="$TRASH/no-syslog-here"
export SMZ_SYSLOG_SOCKET
export LC_ALL=C.UTF-8
test_count=0
test_failed=0

# test_expect_success 'description' 'shell commands'
test_expect_success() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.out" 2>&1; then
		echo "ok $test_count - $1"
	else
		echo "not ok $test_count - $1"
		sed 's/^/#   /' "$TRASH/.out" | tail -n 40
		# kept with the scratch directory: later tests overwrite .out
		cp "$TRASH/.out" "$TRASH/.failed.$test_count"
		test_failed=$((test_failed + 1))
	fi
}

# test_must_fail CODE command...: the command must exit with exactly CODE.
test_must_fail() {
	want=$1
	shift
	"$@"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "test_must_fail: '$*' exited $got, expected $want" >&2
		return 1
	fi
	return 0
}

# test_cmp expected actual
test_cmp() {
	diff -u "$1" "$2"
}

# test_grep PATTERN FILE: like grep -q, but shows the file when it fails.
test_grep() {
	if ! grep -q -e "$1" "$2"; then
		echo "test_grep: no '$1' in $2:" >&2
		head -n 20 "$2" >&2
		return 1
	fi
}

test_done() {
	echo "1..$test_count"
	if [ "$test_failed" -eq 0 ] && [ -z "${KEEP_TRASH:-}" ]; then
		cd "$TOP" && rm -rf "$TRASH"
	fi
	[ "$test_failed" -eq 0 ]
	exit $?
}

# A policy and a vault for tests: fast KDF, the fixture domains.
# write_policy [ALG] [extra ini lines...]
write_policy() {
	alg=${1:-ec-p256}
	[ $# -gt 0 ] && shift
	cat >policy.conf <<EOP
[vault]
path = $PWD/vault
kdf = interactive
[keys]
algorithm = $alg
[domains]
allowed = example.com, example.org, bücher.example
EOP
	for line in "$@"; do
		printf '%s\n' "$line" >>policy.conf
	done
	SMZ_POLICY="$PWD/policy.conf"
	export SMZ_POLICY
}

# new_vault: passphrase "correct horse battery staple" in pw, 2-of-3 shares in shares/
new_vault() {
	printf 'correct horse battery staple\n' >pw
	smz-vault init -q --passphrase-file pw --shares 3 --threshold 2 --share-out shares
}

# new_ca_vault [ALG] [extra ini lines...]: a policy naming a CA in ca/ and the
# vault, both created (the vault as new_vault makes it, the CA without passphrase)
new_ca_vault() {
	ca_alg=${1:-ec-p256}
	[ $# -gt 0 ] && shift
	write_policy "$ca_alg" "[ca]" "path = $PWD/ca" "crl_url = http://pki.example.com/smz.crl" \
		"issuer_url = http://pki.example.com/issuing.cer" "$@"
	new_vault
	smz-issue init -q --no-passphrase
}

# new_users ADDRESS...: a key and certificate each (keygen | issue | attach),
# all in users.pem and each in ADDRESS.pem
new_users() {
	{ echo email; printf '%s\n' "$@"; } >users.csv
	smz-keygen -q users.csv | smz-issue -q | smz-vault attach -q >users.pem || return 1
	split_pem users.pem .user
	for f in .user.*; do
		cp "$f" "$(openssl x509 -in "$f" -noout -email | head -n 1).pem" && rm -f "$f" || return 1
	done
}

# keyid_of_csr FILE: SHA-256 of the request's SubjectPublicKeyInfo, in hex
keyid_of_csr() {
	openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
		openssl dgst -sha256 -r | cut -d' ' -f1
}

# split_pem FILE PREFIX: one file per PEM block, PREFIX.1, PREFIX.2, ...
split_pem() {
	awk -v p="$2" '/-----BEGIN /{n++} n{print > (p "." n)} /-----END /{close(p "." n)}' "$1"
}
