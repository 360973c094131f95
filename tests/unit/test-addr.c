/* Address normalisation: what HR exports contain, what smz stores. */
#include "addr.h"
#include "tap.h"

static const char *
norm(const char *in)
{
	static char out[SMZ_ADDR_MAX];
	struct smz_err e;
	return smz_addr_normalize(in, out, &e) == 0 ? out : NULL;
}

int
main(void)
{
	is_str(norm("Alice.Smith@Example.COM"), "Alice.Smith@example.com",
	       "domain lowered, local kept");
	is_str(norm("anna@bücher.example"), "anna@xn--bcher-kva.example", "IDN to A-label");
	is_str(norm("o'brien+tag@example.com"), "o'brien+tag@example.com", "atext specials");
	const char *bad[] = {"",
			     "plain",
			     "a@",
			     "@example.com",
			     "a..b@example.com",
			     ".a@example.com",
			     "a.@example.com",
			     "a b@example.com",
			     "Bob <b@example.com>",
			     "jörg@example.com",
			     "\"q\"@example.com",
			     "a@-x.example.com",
			     "a@x-.example.com",
			     "a@example..com",
			     "a@localhost",
			     "a@exa_mple.com",
			     "a(b)@example.com",
			     NULL};
	for (int i = 0; bad[i]; i++)
		ok(norm(bad[i]) == NULL, "refused: \"%s\"", bad[i]);
	char l65[80];
	memset(l65, 'x', 65);
	strcpy(l65 + 65, "@example.com");
	ok(norm(l65) == NULL, "65-octet local part refused");
	l65[64] = '@';
	l65[65] = 0;
	strcat(l65, "example.com");
	ok(norm(l65) != NULL, "64-octet local part accepted");
	char key[SMZ_ADDR_MAX];
	smz_addr_key("Alice@Example.com", 0, key);
	is_str(key, "alice@example.com", "insensitive key");
	smz_addr_key("Alice@Example.com", 1, key);
	is_str(key, "Alice@example.com", "sensitive key keeps the local part");
	ok(smz_utf8_valid("Zo\xc3\xab", 4), "UTF-8 accepted");
	ok(!smz_utf8_valid("Jos\xe9", 4), "Latin-1 refused");
	ok(!smz_utf8_valid("\xc0\xaf", 2), "overlong refused");
	ok(!smz_utf8_valid("\xed\xa0\x80", 3), "surrogate refused");
	return done_testing();
}
