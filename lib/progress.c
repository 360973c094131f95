#include "progress.h"
#include "prog.h"

#include <time.h>
#include <unistd.h>

double
smz_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
smz_progress_start(struct smz_progress *p, FILE *tty, size_t total)
{
	p->out = (tty && isatty(fileno(tty))) ? tty : NULL;
	p->label = smz_prog_name();
	p->total = total;
	p->start = p->last = smz_now();
}

void
smz_progress_update(struct smz_progress *p, size_t done)
{
	if (!p->out)
		return;
	double t = smz_now();
	if (t - p->last < 0.2 && (done < p->total || !p->total))
		return;
	p->last = t;
	double rate = done / (t - p->start > 1e-6 ? t - p->start : 1e-6);
	double eta = rate > 0 && p->total > done ? (p->total - done) / rate : 0;
	if (p->total)
		fprintf(p->out, "\r%s: %zu/%zu  %.0f/s  ETA %02d:%02d ", p->label, done, p->total,
			rate, (int)eta / 60, (int)eta % 60);
	else /* a stream: no total, no ETA */
		fprintf(p->out, "\r%s: %zu  %.0f/s ", p->label, done, rate);
	fflush(p->out);
}

void
smz_progress_end(struct smz_progress *p)
{
	if (p->out)
		fputs("\r\033[K", p->out);
}

int
smz_progress_flush(struct smz_progress *p, size_t done, FILE *out, int rc, struct smz_err *e)
{
	if (!rc && fflush(out) != 0)
		rc = smz_err_set(e, SMZ_ERR_IO, "cannot write to standard output");
	smz_progress_update(p, done);
	return rc;
}
