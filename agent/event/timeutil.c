/*
 * timeutil.c - RFC 3339 times to and from Unix milliseconds, without the
 * C library's time zone machinery (records carry UTC; timegm is not C11).
 */
#include "event.h"

#include <errno.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
time_parse_rfc3339_ms(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, fdigits = 0, off = 0;
	const char *p;

	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &sec))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++)
			if (fdigits < 3)
				frac = frac * 10 + (*p - '0');
		if (fdigits == 0)
			return -EINVAL;
		for (int i = fdigits; i < 3; i++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' ||
		    digits(p + 4, 2, &om))
			return -EINVAL;
		off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + sec - (int64_t)off * 60) * 1000) + frac;
	return 0;
}

/* v in exactly n decimal digits (v < 10^n). */
static void
put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void
time_format_ms(int64_t ms, char buf[32])
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t rem = secs - days * 86400;
	int y;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	/* "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ" by hand: one per document. */
	put_digits(buf, (unsigned)y % 10000, 4);
	buf[4] = '-';
	put_digits(buf + 5, m % 100, 2);
	buf[7] = '-';
	put_digits(buf + 8, d % 100, 2);
	buf[10] = 'T';
	put_digits(buf + 11, (unsigned)(rem / 3600) % 24, 2);
	buf[13] = ':';
	put_digits(buf + 14, (unsigned)(rem % 3600 / 60) % 60, 2);
	buf[16] = ':';
	put_digits(buf + 17, (unsigned)(rem % 60) % 60, 2);
	buf[19] = '.';
	put_digits(buf + 20, (unsigned)(ms - secs * 1000) % 1000, 3);
	buf[23] = 'Z';
	buf[24] = '\0';
}
