#!/bin/sh
# The fuzz corpus of lib/cmsread.c replayed through the fuzz target's own
# checks (tests/fuzz/replay; with ASan and UBSan under make check
# SANITIZE=1): every file answered, none crashing nor answering otherwise
# than OpenSSL's d2i, and each named seed (tests/fuzz/mkcorpus.sh) as in
# corpus-cmsread.expect -- real objects read with the content left in the
# file and the certificates from the run's cache, damaged ones refused.
. "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2034 # used in the test bodies, which test_expect_success evals
corpus=$TOP/tests/fuzz/corpus-cmsread

test_expect_success 'the corpus: seeds and what the fuzzer added, under 200 KB' '
	ls "$corpus" >files &&
	test "$(grep -c "^[0-9a-f]\{40\}$" files)" -gt 0 &&
	test "$(grep -vc "^[0-9a-f]\{40\}$" files)" -ge 40 &&
	test "$(cat "$corpus"/* | wc -c)" -le 204800
'

test_expect_success 'every file replays to an answer' '
	(cd "$corpus" && "$TOP/tests/fuzz/replay" *) >replay.out &&
	cut -f1 replay.out >answered &&
	test_cmp files answered
'

test_expect_success 'the named seeds get the answers expected' '
	grep -v "^[0-9a-f]\{40\}	" replay.out >named.out &&
	test_cmp "$TOP/tests/fuzz/corpus-cmsread.expect" named.out
'

test_expect_success 'damaged seeds are refused, the others read' '
	! grep "^bad-" named.out | grep -v "	refused$" &&
	! grep -v "^bad-" named.out | grep "	refused$" &&
	grep "^signed-opaque.der	pkcs7-signedData certs=2 cached=2 content=file$" named.out &&
	grep "^env-stream.ber	pkcs7-envelopedData .* content=file$" named.out
'

test_expect_success 'an unreadable file is an error' '
	test_must_fail 66 "$TOP/tests/fuzz/replay" "$corpus/../no-such-file"
'

test_done
