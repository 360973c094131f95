#!/bin/sh
# The command-line surface: help, version, usage errors, policy errors,
# completions and man pages that agree with the programs.
. "$(dirname "$0")/lib.sh"

for p in smz-keygen smz-vault smz-issue smz-publish smz-sign smz-recover smz-offboard smz-provision smz-renew; do
	test_expect_success "$p --help, -h, --usage and --version" "
		$p --help >h && test_grep '^Usage: $p \\[OPTION...\\]' h && test_grep 'policy=FILE' h &&
		$p -h >h2 && test_cmp h h2 &&
		$p --usage >u && test_grep '^Usage: $p' u &&
		$p --version >v && test_grep '^$p (smz) [0-9]' v
	"
	test_expect_success "$p: an unknown option is a usage error (64)" "
		test_must_fail 64 $p --no-such-option 2>err && test_grep '^$p: --no-such-option: unknown option' err
	"
	test_expect_success "$p: every option is in its man page" "
		$p --smz-complete | awk '\$1==\"option\"{print substr(\$2, 3)}' >opts &&
		while read -r o; do
			grep -q -e \"^\\.Fl -\$o\" -e \"Fl -\$o\" '$TOP/man/$p.1' || { echo \"--\$o missing from $p.1\"; exit 1; }
		done <opts
	"
done

test_expect_success 'verbs: none, unknown, too few or too many arguments are usage errors (64)' '
	test_must_fail 64 smz-vault 2>err &&
	test_grep "^smz-vault: no verb given; the verbs are init, list, history, show, check, audit, passwd, reshare, attach, import, export, lookup, gateway-key (see --help)\$" err &&
	test_must_fail 64 smz-vault frobnicate 2>err &&
	test_grep "^smz-vault: frobnicate: unknown verb; the verbs are init, list, .*, gateway-key (see --help)\$" err &&
	test_must_fail 64 smz-vault list extra 2>err && test_grep "^smz-vault: list takes no argument (see --help)\$" err &&
	test_must_fail 64 smz-vault history 2>err && test_grep "^smz-vault: history needs ADDRESS (see --help)\$" err &&
	test_must_fail 64 smz-vault show k1 k2 2>err &&
	test_grep "^smz-vault: show takes at most 1 argument: KEYID (see --help)\$" err &&
	test_must_fail 64 smz-issue crl extra 2>err && test_grep "^smz-issue: crl takes no argument (see --help)\$" err &&
	test_must_fail 64 smz-issue a.csr b.csr 2>err &&
	test_grep "^smz-issue: issue takes at most 1 argument: \[CSRS.pem | -\] (see --help)\$" err
'

# verbs: NAME ARGS of each verb in --help, one a line
help_verbs() {
	"$1" --help | sed -n "/^Verbs:\$/,\$p" | sed "1d; s/^  //; s/   *.*//"
}

test_expect_success 'the verbs in --help: each with its arguments and a line of help' '
	smz-vault --help | sed -n "/^Verbs:\$/,\$p" >v &&
	test_grep "^  history ADDRESS  *list every key an address ever had\$" v &&
	test_grep "^  attach \[CERTS.pem | -\]  *file certificates with their keys\$" v &&
	test_grep "^  import \[FILE...\]  *import keys" v &&
	test_grep "^  gateway-key \[FILE\]  *make a gateway unlock file, or --revoke it\$" v &&
	help_verbs smz-vault | cut -d" " -f1 >names &&
	printf "%s\n" init list history show check audit passwd reshare attach import export lookup \
		gateway-key >expect &&
	test_cmp expect names &&
	help_verbs smz-issue | cut -d" " -f1 >names &&
	printf "%s\n" init issue revoke crl list expiring address-keys plan audit >expect &&
	test_cmp expect names &&
	smz-issue --help | test_grep "^  revoke \[SERIAL...\]  *revoke by serial, --address or --key-id\$" - &&
	for p in smz-vault smz-issue; do
		# two spaces, the verb and its arguments, the help in one column
		$p --help | sed -n "/^Verbs:\$/,\$p" | sed 1d >lines &&
		! grep -v "^  [a-z-]*\( [][A-Za-z.| -]*\)\{0,1\}   *[a-z].*[^ ]\$" lines &&
		test "$(awk "{ match(\$0, /[^ ]  +[a-z]/); print RSTART + RLENGTH }" lines | sort -u | wc -l)" -eq 1 &&
		$p --smz-complete | awk "\$1 == \"verb\" { print \$2 }" >c &&
		help_verbs $p | cut -d" " -f1 >h && test_cmp h c || exit 1
	done
'

test_expect_success 'the man pages list the verbs as --help does, with the same arguments' '
	for p in smz-vault smz-issue; do
		help_verbs $p | tr -d "[]" | tr A-Z a-z | sed "s/ *\.\.\./ .../" >h &&
		awk "/^\.It Cm / {
			out = \"\"; fl = 0
			for (i = 3; i <= NF; i++) {
				t = \$i
				if (t == \"Op\" || t == \"Ar\") continue
				if (t == \"Fl\") { fl = 1; continue }
				if (fl) { t = \"-\" t; fl = 0 }
				out = out (out == \"\" ? \"\" : \" \") t
			}
			if (fl) out = out \" -\"
			print out
		}" "$TOP/man/$p.1" >m &&
		test_cmp h m || exit 1
	done
'

test_expect_success 'a bad policy is exit 78, naming file, line and allowed values' '
	printf "[vault]\nkdf = fast\n" >bad.conf &&
	test_must_fail 78 smz-vault --policy bad.conf list 2>err &&
	test_grep "^smz-vault: unable to load the policy: bad.conf:2: \[vault\] kdf: expected one of interactive | moderate | sensitive\$" err &&
	printf "[keys]\nalgorithm = ec-p256\nsize = 256\n" >bad2.conf &&
	SMZ_POLICY=bad2.conf test_must_fail 78 smz-keygen - </dev/null 2>err &&
	test_grep "bad2.conf:3: \[keys\] size: unknown key" err &&
	test_must_fail 78 smz-keygen --policy missing.conf - </dev/null 2>err &&
	test_grep "missing.conf: No such file" err
'

test_expect_success 'a missing roster is exit 66' '
	printf "[domains]\nallowed = example.com\n[vault]\npath = vlt\n" >ok.conf &&
	test_must_fail 66 smz-keygen --policy ok.conf nosuch.csv 2>err &&
	test_grep "^smz-keygen: unable to read the roster: nosuch.csv: No such file" err
'

test_expect_success 'a full disk on standard output is an error, not silence' '
	printf "[domains]\nallowed = example.com\n[vault]\npath = vlt\nkdf = interactive\n" >ok.conf &&
	printf "pw\n" >pw && smz-vault --policy ok.conf init -q --passphrase-file pw &&
	printf "email\nx@example.com\n" >r.csv &&
	if [ -w /dev/full ]; then
		test_must_fail 74 smz-keygen --policy ok.conf r.csv >/dev/full 2>err &&
		test_grep "cannot write to standard output" err
	fi
'

test_expect_success 'completions are generated from the programs and up to date' '
	mkdir comp && cp "$TOP/completions/gen.sh" comp/ && sh comp/gen.sh "$TOP/cmd" &&
	test_cmp "$TOP/completions/smz.bash" comp/smz.bash &&
	test_cmp "$TOP/completions/_smz" comp/_smz &&
	bash -c ". comp/smz.bash; COMP_WORDS=(smz-vault re); COMP_CWORD=1; _smz_vault; echo \${COMPREPLY[*]}" >c &&
	test_grep "^reshare\$" c &&
	bash -c ". comp/smz.bash; COMP_WORDS=(smz-keygen --new); COMP_CWORD=1; _smz_keygen; echo \${COMPREPLY[*]}" >c &&
	test_grep "^--new-key\$" c
'

test_expect_success 'man pages are clean under mandoc -Tlint' '
	mandoc -Tlint -Wwarning "$TOP"/man/* >lint 2>&1; test ! -s lint || { cat lint; false; }
'

test_expect_success 'private keys without locked memory: -v notes it once, the program runs' '
	# a 64 KiB RLIMIT_MEMLOCK cannot lock the 4 MiB secure heap, unless
	# CAP_IPC_LOCK (root) overrides it: drop that for the test
	if [ "$(id -u)" -ne 0 ]; then
		set -- sh -c
	elif command -v capsh >/dev/null; then
		set -- capsh --drop=cap_ipc_lock -- -c
	else
		echo "# root without capsh: cannot drop CAP_IPC_LOCK, skipped"
		exit 0
	fi
	"$@" "ulimit -l 64 && exec smz-issue -v list --ca nowhere" 2>err
	test $? -eq 66 && test_grep "not a CA" err &&
	test "$(grep -c "^smz-issue: note: the secure heap for private keys could not be locked" err)" -eq 1 &&
	"$@" "ulimit -l 64 && exec smz-issue list --ca nowhere" 2>err
	test $? -eq 66 && ! grep -q note: err &&
	l=$(ulimit -l) && if [ "$l" = unlimited ] || [ "$l" -ge 4096 ]; then
		test_must_fail 66 smz-issue -v list --ca nowhere 2>err && ! grep -q note: err
	fi
'

test_done
