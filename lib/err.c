#include "err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static const struct {
	int code;
	int exit;
	const char *text;
} errtab[] = {
	{SMZ_OK, 0, "success"},
	{SMZ_ERR_USAGE, EX_USAGE, "usage error"},
	{SMZ_ERR_DATA, EX_DATAERR, "bad input data"},
	{SMZ_ERR_NOINPUT, EX_NOINPUT, "input missing"},
	{SMZ_ERR_INTERNAL, EX_SOFTWARE, "internal error"},
	{SMZ_ERR_CANTCREAT, EX_CANTCREAT, "cannot create output"},
	{SMZ_ERR_IO, EX_IOERR, "I/O error"},
	{SMZ_ERR_TEMP, EX_TEMPFAIL, "temporary failure, try again"},
	{SMZ_ERR_PERM, EX_NOPERM, "permission denied"},
	{SMZ_ERR_CONFIG, EX_CONFIG, "configuration error"},
	{SMZ_ERR_NOTFOUND, EX_DATAERR, "not found"},
	{SMZ_ERR_EXISTS, EX_CANTCREAT, "already exists"},
	{SMZ_ERR_VERIFY, 1, "verification failed"},
	{SMZ_ERR_UNAVAILABLE, EX_UNAVAILABLE, "service unavailable"},
};

const char *
smz_strerror(int code)
{
	for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
		if (errtab[i].code == code)
			return errtab[i].text;
	return "unknown error";
}

int
smz_exit_code(int code)
{
	for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
		if (errtab[i].code == code)
			return errtab[i].exit;
	return EX_SOFTWARE;
}

static int
set(struct smz_err *e, int code, enum smz_need need, const char *fmt, va_list ap)
{
	if (e) {
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		e->code = code;
		e->need = need;
	}
	return code;
}

int
smz_err_set(struct smz_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set(e, code, SMZ_NEED_NOTHING, fmt, ap);
	va_end(ap);
	return code;
}

int
smz_err_need(struct smz_err *e, int code, enum smz_need need, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set(e, code, need, fmt, ap);
	va_end(ap);
	return code;
}

int
smz_err_ssl(struct smz_err *e, int code, const char *what)
{
	char buf[256] = "";
	unsigned long l = ERR_peek_last_error();
	if (l)
		ERR_error_string_n(l, buf, sizeof buf);
	ERR_clear_error();
	const char *reason = l ? ERR_reason_error_string(l) : NULL;
	return smz_err_set(e, code, "%s%s%s", what, reason || l ? ": " : "", reason ? reason : buf);
}
