/* ISC license. */
/* utf8.c: UTF-8 validation, byte by byte with an ASCII fast path; cutting;
 * JSON string text from log bytes. */
#include <string.h>

#include "utf8.h"

int
alba_utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	int len, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return -1;
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;	/* no surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;	/* not past U+10FFFF */
	for (i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
			return -1;
	}
	return len;
}

size_t
alba_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		int l;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((l = alba_utf8_len(s + i, n - i)) <= 0)
			return i;
		i += (size_t)l;
	}
	return n;
}

void
alba_utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = 0;
}

size_t
alba_json_text(char *d, size_t *dl, const unsigned char *p, size_t n, int final)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = *dl;

	while (i < n) {
		unsigned char c = p[i];
		int l;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			d[o++] = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {
			d[o++] = '\\';
			switch (c) {
			case '"': d[o++] = '"'; break;
			case '\\': d[o++] = '\\'; break;
			case '\n': d[o++] = 'n'; break;
			case '\t': d[o++] = 't'; break;
			case '\r': d[o++] = 'r'; break;
			default:
				memcpy(d + o, "u00", 3);
				o += 3;
				d[o++] = hex[c >> 4];
				d[o++] = hex[c & 15];
			}
			i++;
			continue;
		}
		l = alba_utf8_len(p + i, n - i);
		if (l == 0 && !final)
			break;
		if (l <= 0) {
			memcpy(d + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(d + o, p + i, (size_t)l);
		o += (size_t)l;
		i += (size_t)l;
	}
	*dl = o;
	return i;
}
