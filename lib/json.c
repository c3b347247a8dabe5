/* ISC license. */
/* json.c: get, set and delete by path on jv values, and jq evaluation. */
#include <stdlib.h>
#include <string.h>

#include <jq.h>
#include <jv.h>

#include "json.h"

/* The next path part of *p as a jv string; advances *p. */
static jv
part(const char **p)
{
	const char *s = *p, *dot = strchr(s, '.');
	size_t n = dot ? (size_t)(dot - s) : strlen(s);

	*p = dot ? dot + 1 : s + n;
	return jv_string_sized(s, (int)n);
}

jv
alba_get(jv v, const char *path)
{
	while (*path) {
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			return jv_invalid();
		}
		v = jv_object_get(v, part(&path));
		if (!jv_is_valid(v))
			return v;
	}
	return v;
}

jv
alba_set(jv v, const char *path, jv x)
{
	jv key = part(&path);

	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		v = jv_object();
	}
	if (*path) {
		jv sub = jv_object_get(jv_copy(v), jv_copy(key));
		x = alba_set(sub, path, x);
	}
	return jv_object_set(v, key, x);
}

jv
alba_del(jv v, const char *path)
{
	jv key = part(&path);

	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(key);
		return v;
	}
	if (!*path)
		return jv_object_delete(v, key);
	jv sub = jv_object_get(jv_copy(v), jv_copy(key));
	if (jv_get_kind(sub) != JV_KIND_OBJECT) {
		jv_free(sub);
		jv_free(key);
		return v;
	}
	return jv_object_set(v, key, alba_del(sub, path));
}

const char *
alba_str(jv v)
{
	return jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;
}

const char alba_bad[] = "";

const char *
alba_sget(jv v, const char *path)
{
	jv s = alba_get(jv_copy(v), path);
	const char *p = NULL;
	jv_kind k = jv_get_kind(s);

	if (k == JV_KIND_STRING) {
		p = jv_string_value(s);
		if (strlen(p) != (size_t)jv_string_length_bytes(jv_copy(s)))
			p = alba_bad;
	} else if (k != JV_KIND_INVALID && k != JV_KIND_NULL)
		p = alba_bad;
	jv_free(s);
	return p;
}

const char *
alba_sopt(jv v, const char *path)
{
	const char *p = alba_sget(v, path);

	return p == alba_bad ? NULL : p;
}

jv
alba_jstr(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

jv
alba_nonempty(jv v, const char *path)
{
	jv s = alba_get(jv_copy(v), path);

	if (alba_str(s) && *alba_str(s))
		return s;
	jv_free(s);
	return jv_invalid();
}

const char *
alba_getstr(jv v, const char *path, char *buf, size_t n)
{
	const char *s = alba_sget(v, path);
	size_t len;

	if (s == NULL || s == alba_bad || (len = strlen(s)) >= n)
		return NULL;
	memcpy(buf, s, len + 1);
	return buf;
}

struct errbuf {
	jv msg;
};

static void
on_error(void *data, jv err)
{
	struct errbuf *e = data;

	if (jv_get_kind(e->msg) == JV_KIND_NULL) {
		if (jv_get_kind(err) == JV_KIND_STRING)
			e->msg = err;
		else
			e->msg = jv_dump_string(err, 0);
		return;
	}
	jv_free(err);
}

jv
alba_jq(const char *prog, jv input)
{
	struct errbuf e = { jv_null() };
	jq_state *jq = jq_init();
	jv r;

	if (jq == NULL) {
		jv_free(input);
		return jv_invalid_with_msg(jv_string("cannot allocate a jq state"));
	}
	jq_set_error_cb(jq, on_error, &e);
	if (!jq_compile(jq, prog)) {
		jv_free(input);
		jq_teardown(&jq);
		if (jv_get_kind(e.msg) != JV_KIND_STRING) {
			jv_free(e.msg);
			e.msg = jv_string("cannot compile the jq expression");
		}
		return jv_invalid_with_msg(e.msg);
	}
	jq_start(jq, input, 0);
	r = jq_next(jq);
	if (!jv_is_valid(r)) {
		jv msg = jv_invalid_get_msg(r);
		if (jv_get_kind(msg) == JV_KIND_STRING)
			r = jv_invalid_with_msg(msg);
		else if (jv_get_kind(msg) != JV_KIND_NULL)
			r = jv_invalid_with_msg(jv_dump_string(msg, 0));
		else {
			jv_free(msg);
			r = jv_invalid_with_msg(jv_string("the jq expression gave no output"));
		}
	}
	jq_teardown(&jq);
	jv_free(e.msg);
	return r;
}
