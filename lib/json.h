/* ISC license. */
/*
 * json.h: small helpers over libjq's jv values, and jq expressions.
 *
 * Ownership follows jq's rule, everywhere in albatros: a function consumes
 * (frees) every jv it is passed and returns a jv its caller owns; pass
 * jv_copy(x) to keep x.  The exceptions borrow and say so: they are marked
 * "borrows" below, as jv_get_kind and jv_string_value are in jv.h.
 */
#ifndef ALBA_JSON_H
#define ALBA_JSON_H

#include <jv.h>

/* The member at a dot-separated path ("build.repo_url"), or jv_invalid()
 * if a part is absent or not an object.  Consumes v. */
jv alba_get(jv v, const char *path);
/* v with x stored at path, objects created on the way (a part that is not
 * an object is replaced).  Consumes v and x. */
jv alba_set(jv v, const char *path, jv x);
/* v without the member at path.  Consumes v. */
jv alba_del(jv v, const char *path);
/* Borrows v: its string if it is a string, else NULL.  The pointer lives
 * as long as v does. */
const char *alba_str(jv v);
/* What alba_sget returns for a member of the wrong type or with a NUL: an
 * empty string told apart by its address. */
extern const char alba_bad[];
/* The string at path in v, NULL if absent or null, alba_bad if it is of
 * another type or holds a NUL.  Borrows v: the pointer lives as long as v
 * does (the parent object keeps its reference). */
const char *alba_sget(jv v, const char *path);
/* alba_sget for a member that is only reported: alba_bad reads as NULL.
 * Borrows v. */
const char *alba_sopt(jv v, const char *path);
/* A jv string of s, or null if s is NULL.  Borrows s. */
jv alba_jstr(const char *s);
/* The member at path if it is a non-empty string, else an invalid.
 * Borrows v. */
jv alba_nonempty(jv v, const char *path);
/* The string at path in v, copied into buf (size n) and returned, or NULL
 * if absent, not a string, containing a NUL, or longer than n - 1.
 * Borrows v. */
const char *alba_getstr(jv v, const char *path, char *buf, size_t n);
/* Evaluate the jq program prog on input: its first output, or an invalid
 * with a message (compile error, runtime error, or no output).  jq programs
 * cost tens of milliseconds to compile: call this only when there is one.
 * Consumes input. */
jv alba_jq(const char *prog, jv input);

#endif
