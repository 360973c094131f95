/*
 * rsagen.c - reference for bench/run.sh: how fast can one thread of this
 * process generate RSA-2048 keys with libcrypto, with nothing else around
 * it (no CSR, no sealing, no vault)?
 *
 * Usage: rsagen N
 * Prints one line: keys=N seconds=S keys_per_s=R cv=C
 * S is the wall-clock time of the N generations (CLOCK_MONOTONIC; library
 * start-up is outside the timed region), C the coefficient of variation
 * (standard deviation / mean) of the time of one generation, which tells
 * how noisy a rate over N keys is (about C / sqrt(N)).
 *
 * cc -O2 -o rsagen bench/rsagen.c -lcrypto
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Square root by Newton's method, so that only -lcrypto is needed. */
static double
root(double x)
{
	double r = x > 1 ? x : 1;

	if (x <= 0)
		return 0;
	for (int i = 0; i < 100; i++)
		r = (r + x / r) / 2;
	return r;
}

int
main(int argc, char **argv)
{
	char *end;
	long n;
	double t0, t, prev, d, sum = 0, sumsq = 0, mean, var;

	if (argc != 2) {
		fprintf(stderr, "usage: rsagen N\n");
		return 2;
	}
	n = strtol(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end != '\0' || n < 1 || n > 1000000) {
		fprintf(stderr, "rsagen: bad N: %s\n", argv[1]);
		return 2;
	}

	/* Load the default provider and seed the DRBG before timing, as a
	 * long-running program would have done already. */
	EVP_PKEY *warm = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (warm == NULL) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	EVP_PKEY_free(warm);

	t0 = prev = now();
	for (long i = 0; i < n; i++) {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		if (k == NULL) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
		EVP_PKEY_free(k);
		t = now();
		d = t - prev;
		prev = t;
		sum += d;
		sumsq += d * d;
	}

	mean = sum / (double)n;
	var = sumsq / (double)n - mean * mean;
	printf("keys=%ld seconds=%.6f keys_per_s=%.6f cv=%.4f\n", n, prev - t0,
	       (double)n / (prev - t0), root(var) / mean);
	return 0;
}
