/* Mailboxes: an mbox splits at "From " lines after blank lines, mboxrd
 * quoting undone and the separating blank line not the message's; the
 * inputs list finds mboxes, messages and Maildirs. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mailbox.h"
#include "tap.h"

struct got {
	size_t n;
	char msg[4][256];
	long long off[4];
};

static int
take(void *arg, int fd, long long offset)
{
	struct got *g = arg;
	if (g->n < 4) {
		ssize_t l = fd >= 0 ? read(fd, g->msg[g->n], sizeof g->msg[0] - 1) : 0;
		g->msg[g->n][l > 0 ? l : 0] = 0;
		g->off[g->n] = offset;
	}
	g->n++;
	return 0;
}

static void
note(void *arg, int code, const char *msg)
{
	(void)msg;
	*(int *)arg = code;
}

int
main(void)
{
	char dir[] = "/tmp/smz-mbox-XXXXXX", path[256];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/box", dir);
	FILE *f = fopen(path, "w");
	const char *first = "From a@b Mon Mar  3 10:00:00 2025\n";
	fprintf(f, "%sSubject: one\n\n>From here\n>>From there\nFrom inside\n\n", first);
	fprintf(f, "From c@d Mon Mar  3 10:00:01 2025\nSubject: two\n\nbody\n");
	fclose(f);
	struct got g = {0};
	struct smz_err e = {0};
	ok(smz_mailbox_split(path, 0, take, &g, &e) == 0 && g.n == 2, "two messages");
	is_str(g.msg[0], "Subject: one\n\nFrom here\n>From there\nFrom inside\n",
	       "mboxrd: one '>' less, the blank line before the next From not kept");
	ok(g.off[0] == 0 && g.off[1] == (long long)strlen(first) + 51, "offsets of the From lines");
	is_str(g.msg[1], "Subject: two\n\nbody\n", "the last message whole");
	struct got o = {0};
	smz_mailbox_split(path, 1, take, &o, &e);
	is_str(o.msg[0], "Subject: one\n\nFrom here\n>>From there\nFrom inside\n",
	       "mboxo: only >From loses its '>'");
	ok(smz_mailbox_split("/nonexistent/box", 0, take, &g, &e) == SMZ_ERR_NOINPUT,
	   "a missing mbox: %s", e.msg);

	char md[300], sub[320];
	snprintf(md, sizeof md, "%s/md", dir);
	mkdir(md, 0700);
	const char *subs[] = {"cur", "new", "tmp"};
	for (int i = 0; i < 3; i++) {
		snprintf(sub, sizeof sub, "%s/%s", md, subs[i]);
		mkdir(sub, 0700);
	}
	snprintf(sub, sizeof sub, "%s/new/m1", md);
	fclose(fopen(sub, "w"));
	struct smz_mailbox_inputs in = {0};
	int code = 0;
	ok(smz_mailbox_add(&in, path, 0, note, &code) == 0 && in.n == 1 && in.v[0].mbox,
	   "an mbox is one item, an mbox");
	ok(smz_mailbox_add(&in, md, 0, note, &code) == 0 && in.n == 2 && !in.v[1].mbox,
	   "a Maildir's messages");
	ok(smz_mailbox_add(&in, dir, 0, note, &code) == SMZ_ERR_USAGE && code == SMZ_ERR_USAGE,
	   "a plain directory needs -r");
	ok(smz_mailbox_add(&in, dir, 1, note, &code) == 0 && in.n == 4, "with -r: all of it");
	smz_mailbox_inputs_free(&in);

	char **v = NULL;
	size_t n = 0;
	const char *args[] = {"x", NULL};
	FILE *lines = tmpfile();
	fputs("a\r\n\nb\n", lines);
	rewind(lines);
	ok(smz_mailbox_paths(args, lines, &v, &n) == 0 && n == 3 && strcmp(v[2], "b") == 0 &&
		   strcmp(v[1], "a") == 0,
	   "paths: arguments, then lines, empty ones skipped");
	smz_mailbox_paths_free(v, n);
	fclose(lines);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return done_testing();
}
