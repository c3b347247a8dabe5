/* ISC license. */
/*
 * refname.c: pure checks on the values alba-verify sends to Nomad (git's
 * ref-name rules and the other field validators); they borrow their input
 * and own nothing.
 */
#include <string.h>

#include "refname.h"

const char *
alba_bad_commit(const char *s)
{
	size_t i, n = strlen(s);

	if (n != 40 && n != 64)
		return "not 40 or 64 lower-case hex digits";
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return "not 40 or 64 lower-case hex digits";
	return NULL;
}

/* git check-ref-format's rules, for a branch or tag name (--branch: no
 * leading '-'). */
const char *
alba_bad_refname(const char *s)
{
	size_t i, n = strlen(s);
	const char *comp = s;

	if (n == 0)
		return "empty";
	if (n > 1024)
		return "longer than 1024 bytes";
	if (strcmp(s, "@") == 0)
		return "is \"@\"";
	if (s[0] == '-')
		return "starts with '-'";
	if (s[0] == '/' || s[n - 1] == '/')
		return "starts or ends with '/'";
	if (s[n - 1] == '.')
		return "ends with '.'";
	if (strstr(s, ".."))
		return "contains \"..\"";
	if (strstr(s, "@{"))
		return "contains \"@{\"";
	if (strstr(s, "//"))
		return "contains \"//\"";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		if (c == ' ')
			return "contains a space";
		if (strchr("~^:?*[\\", c))
			return "contains one of ~ ^ : ? * [ \\";
	}
	for (i = 0; i <= n; i++) {
		if (s[i] != '/' && s[i] != 0)
			continue;
		size_t len = (size_t)(s + i - comp);
		if (len > 0 && comp[0] == '.')
			return "has a component starting with '.'";
		if (len >= 5 && memcmp(s + i - 5, ".lock", 5) == 0)
			return "has a component ending with \".lock\"";
		comp = s + i + 1;
	}
	return NULL;
}

static int
wordchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

const char *
alba_bad_flavor(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return "not 1 to 64 of A-Z a-z 0-9 _ -";
	for (i = 0; i < n; i++)
		if (!wordchar((unsigned char)s[i]))
			return "not 1 to 64 of A-Z a-z 0-9 _ -";
	return NULL;
}

static int
hostchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* http(s)://, ssh://, git:// or scp-like user@host:path; no control
 * character, no space, no user or host starting with '-' (ssh options). */
const char *
alba_bad_url(const char *s)
{
	static const char *const schemes[] = { "https://", "http://", "ssh://", "git://" };
	size_t i, n = strlen(s);

	if (n == 0)
		return "empty";
	if (n > 2048)
		return "longer than 2048 bytes";
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return "contains a control character or a space";
	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t sl = strlen(schemes[i]);
		if (strncmp(s, schemes[i], sl) != 0)
			continue;
		const char *auth = s + sl, *end = strchr(auth, '/'), *at, *host = auth;
		size_t alen = end ? (size_t)(end - auth) : strlen(auth);
		for (at = auth; at < auth + alen; at++)
			if (*at == '@')
				host = at + 1;
		if (host >= auth + alen || *host == ':')
			return "no host";
		if (*auth == '-' || *host == '-')
			return "a user or host starting with '-'";
		return NULL;
	}
	/* scp-like: user@host:path */
	const char *at = strchr(s, '@'), *colon;
	if (at == NULL || at == s || s[0] == '-')
		return "not an http(s), ssh or git URL";
	for (i = 0; s + i < at; i++)
		if (!hostchar((unsigned char)s[i]))
			return "not an http(s), ssh or git URL";
	colon = strchr(at, ':');
	if (colon == NULL || colon == at + 1 || at[1] == '-' || colon[1] == 0)
		return "not an http(s), ssh or git URL";
	for (i = 1; at + i < colon; i++)
		if (!hostchar((unsigned char)at[i]))
			return "not an http(s), ssh or git URL";
	return NULL;
}

const char *
alba_bad_sender(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 255)
		return "not 1 to 255 bytes";
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "contains a control character";
	return NULL;
}

const char *
alba_bad_delivery(const char *s)
{
	size_t i, n = strlen(s);

	if (n > 128)
		return "longer than 128 bytes";
	for (i = 0; i < n; i++)
		if (!wordchar((unsigned char)s[i]) && s[i] != '.' && s[i] != ':')
			return "not made of A-Z a-z 0-9 . : _ -";
	return NULL;
}
