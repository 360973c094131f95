/* replay: the libFuzzer target of fuzz-cmsread.c without libFuzzer, built
 * by make with the normal compiler (and ASan/UBSan under SANITIZE=1): each
 * file named is read whole and given to LLVMFuzzerTestOneInput, and its
 * answer printed as "FILE<TAB>verdict" -- "refused", or the type, the
 * certificates, those cached and where the content was read from.  A
 * disagreement with OpenSSL aborts.  Exit 0, or 66 when a file is
 * unreadable.  usage: replay FILE... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fuzz-cmsread.c */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *fuzz_cmsread_verdict(void);

/* All of the file, or NULL. */
static unsigned char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char buf[65536], *d = malloc(1);
	size_t n;
	*len = 0;
	while (f && d && (n = fread(buf, 1, sizeof buf, f)) > 0) {
		unsigned char *nd = realloc(d, *len + n);
		if (nd)
			memcpy(nd + *len, buf, n), *len += n;
		else
			free(d);
		d = nd;
	}
	if (!f || ferror(f)) {
		free(d);
		d = NULL;
	}
	if (f)
		fclose(f);
	return d;
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		size_t len;
		unsigned char *d = read_all(argv[i], &len);
		if (!d) {
			fprintf(stderr, "replay: cannot read %s\n", argv[i]);
			return 66;
		}
		LLVMFuzzerTestOneInput(d, len);
		printf("%s\t%s\n", argv[i], fuzz_cmsread_verdict());
		fflush(stdout);
		free(d);
	}
	return 0;
}
