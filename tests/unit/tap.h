/* Minimal TAP producer for the C unit tests, run by prove. */
#ifndef SMZ_TAP_H
#define SMZ_TAP_H
#include <stdio.h>
#include <string.h>
static int tap_n, tap_fail;
#define ok(cond, ...)                                                        \
	do {                                                                 \
		int c_ = !!(cond);                                           \
		printf("%sok %d - ", c_ ? "" : "not ", ++tap_n);             \
		printf(__VA_ARGS__);                                         \
		printf("\n");                                                \
		if (!c_) {                                                   \
			tap_fail++;                                          \
			printf("#   failed at %s:%d\n", __FILE__, __LINE__); \
		}                                                            \
	} while (0)
#define is_str(a, b, ...)                                                               \
	do {                                                                            \
		const char *a_ = (a), *b_ = (b);                                        \
		ok(a_ &&b_ &&strcmp(a_, b_) == 0, __VA_ARGS__);                         \
		if (!(a_ && b_ && strcmp(a_, b_) == 0))                                 \
			printf("#   got \"%s\", expected \"%s\"\n", a_ ? a_ : "(null)", \
			       b_ ? b_ : "(null)");                                     \
	} while (0)
#define done_testing() (printf("1..%d\n", tap_n), tap_fail ? 1 : 0)
#endif
