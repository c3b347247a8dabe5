/* ISC license. */
/*
 * alba-register: register a builder without the nomad command.  A job in
 * HCL (parsed by Nomad's /v1/jobs/parse) or JSON on stdin; a job that
 * breaks the builder contract (SPEC §5: a parameterized batch job
 * requiring the meta REPO_URL, COMMIT, BRANCH and FLAVOR, with a group
 * "runner" holding a task "executor") is refused before anything is
 * written; else it is registered (PUT /v1/jobs), or with -n planned
 * (/v1/job/<id>/plan), and the job Nomad holds is written on stdout.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alba.h"
#include "doc.h"
#include "http.h"
#include "json.h"
#include "nomadjson.h"

static const char usage_str[] = "usage: alba-register [-n] [-m maxbytes] [-N namespace]";

static const char *const meta_keys[] = { "REPO_URL", "COMMIT", "BRANCH", "FLAVOR" };

/* 1 if the array arr holds the string s.  Borrows arr. */
static int
has_string(jv arr, const char *s)
{
	int i, n = jv_get_kind(arr) == JV_KIND_ARRAY ? jv_array_length(jv_copy(arr)) : 0;

	for (i = 0; i < n; i++) {
		jv v = jv_array_get(jv_copy(arr), i);
		int eq = alba_str(v) && strcmp(alba_str(v), s) == 0;
		jv_free(v);
		if (eq)
			return 1;
	}
	return 0;
}

/* The element of arr whose Name is name, or an invalid.  Borrows arr. */
static jv
named(jv arr, const char *name)
{
	int i, n = jv_get_kind(arr) == JV_KIND_ARRAY ? jv_array_length(jv_copy(arr)) : 0;

	for (i = 0; i < n; i++) {
		jv v = jv_array_get(jv_copy(arr), i);
		const char *s = alba_sget(v, "Name");
		if (s && s != alba_bad && strcmp(s, name) == 0)
			return v;
		jv_free(v);
	}
	return jv_invalid();
}

static void
add(char *msg, size_t n, const char *what)
{
	size_t l = strlen(msg);

	snprintf(msg + l, n - l, "%s%s", l ? ", " : "", what);
}

/* What job lacks of the builder contract, into msg ("" when nothing).
 * Borrows job. */
static void
contract(jv job, char *msg, size_t n)
{
	jv pj = alba_get(jv_copy(job), "ParameterizedJob"), req, groups, g;
	const char *type = alba_sget(job, "Type");
	char what[64];
	size_t i;

	msg[0] = 0;
	if (type == NULL || type == alba_bad || strcmp(type, "batch"))
		add(msg, n, "type \"batch\"");
	if (jv_get_kind(pj) != JV_KIND_OBJECT)
		add(msg, n, "a parameterized block");
	req = alba_get(pj, "MetaRequired");
	for (i = 0; i < sizeof meta_keys / sizeof *meta_keys; i++)
		if (!has_string(req, meta_keys[i])) {
			snprintf(what, sizeof what, "meta_required %s", meta_keys[i]);
			add(msg, n, what);
		}
	jv_free(req);
	groups = alba_get(jv_copy(job), "TaskGroups");
	g = named(groups, "runner");
	jv_free(groups);
	if (!jv_is_valid(g))
		add(msg, n, "group \"runner\"");
	else {
		jv tasks = alba_get(jv_copy(g), "Tasks"), t = named(tasks, "executor");
		if (!jv_is_valid(t))
			add(msg, n, "task \"executor\" in group \"runner\"");
		jv_free(t);
		jv_free(tasks);
	}
	jv_free(g);
}

/* Nomad's answer status as an exit code, after saying what failed. */
static void ALBA_NORETURN
nomad_die(int rc, const char *what, const char *err)
{
	alba_die(rc == 503 || rc == 504 ? ALBA_TEMP : alba_exit_for_status(rc), "%s: %s", what, err);
}

/* The job of the input (len bytes of buf): {"Job": job}, a bare job
 * object, or HCL that Nomad parses, checked against namespace ns.  Dies
 * on a malformed input. */
static jv
read_job(const struct alba_service *nomad, const char *buf, size_t len, const char *ns)
{
	const char *p = buf;
	char err[1024], *path;
	jv job, body;
	int rc;

	while (p < buf + len && isspace((unsigned char)*p))
		p++;
	if (p < buf + len && *p == '{') {
		jv v = alba_doc_parse(buf, len);
		if (!jv_is_valid(v)) {
			jv m = jv_invalid_get_msg(v);
			alba_die(ALBA_PERM, "the input is not a JSON job: %s",
			    alba_str(m) ? alba_str(m) : "not an object");
		}
		job = alba_get(jv_copy(v), "Job");
		if (jv_get_kind(job) == JV_KIND_OBJECT) {
			jv_free(v);
			return job;
		}
		jv_free(job);
		return v;
	}
	if (memchr(buf, 0, len))
		alba_die(ALBA_PERM, "the input holds a NUL byte");
	/* Invalid UTF-8 becomes U+FFFD, which Nomad's parser then names. */
	body = JV_OBJECT(jv_string("JobHCL"), jv_string_sized(buf, (int)len),
	    jv_string("Canonicalize"), jv_true());
	{
		jv s = jv_dump_string(body, 0);
		char *en = alba_urlencode(ns);
		if (en == NULL)
			alba_die(ALBA_TEMP, "out of memory");
		path = alba_xprintf("/v1/jobs/parse?namespace=%s", en);
		free(en);
		rc = alba_nomad_json(nomad, "POST", path, jv_string_value(s), 0, &job, NULL,
		    err, sizeof err);
		jv_free(s);
		free(path);
	}
	if (rc)
		nomad_die(rc, "nomad could not parse the job", err);
	if (jv_get_kind(job) != JV_KIND_OBJECT)
		alba_die(ALBA_PERM, "nomad parsed the job into something else than an object");
	return job;
}

/* The job on stdout as {"Job": job}, with plan as "Plan" when valid.
 * Consumes both. */
static void
write_job(jv job, jv plan)
{
	jv out = JV_OBJECT(jv_string("Job"), job);

	if (jv_is_valid(plan))
		out = jv_object_set(out, jv_string("Plan"), plan);
	else
		jv_free(plan);
	alba_doc_write(out);
}

int
main(int argc, char *argv[])
{
	struct alba_service nomad;
	const char *ns = NULL, *jns;
	char err[1024], msg[512], id[512], ens_buf[256], *buf, *eid, *ens, *path, *body;
	size_t max = (size_t)1 << 20, len;
	int ch, dry = 0, rc;
	jv job, got, s;

	alba_prog = "alba-register";
	while ((ch = getopt(argc, argv, "m:N:n")) != -1) {
		switch (ch) {
		case 'm':
			if (alba_scan_size(optarg, &max))
				alba_dieusage(usage_str);
			break;
		case 'N':
			ns = optarg;
			break;
		case 'n':
			dry = 1;
			break;
		default:
			alba_dieusage(usage_str);
		}
	}
	if (optind != argc || (ns && !*ns))
		alba_dieusage(usage_str);
	if (alba_service_nomad(&nomad, err, sizeof err))
		alba_die(ALBA_PERM, "%s", err);
	if ((buf = alba_read_all(0, max, &len)) == NULL)
		alba_die(errno == EFBIG ? ALBA_PERM : ALBA_TEMP, "unable to read the job: %s",
		    errno == EFBIG ? "over the -m bound" : strerror(errno));
	/* Parsing is checked against the namespace given, else any. */
	job = read_job(&nomad, buf, len, ns ? ns : nomad.namespace && *nomad.namespace ?
	    nomad.namespace : "*");
	free(buf);
	contract(job, msg, sizeof msg);
	if (*msg) {
		jv_free(job);
		alba_die(ALBA_NO, "not a builder: it lacks %s", msg);
	}
	if (alba_getstr(job, "ID", id, sizeof id) == NULL || !*id) {
		jv_free(job);
		alba_die(ALBA_PERM, "the job has no ID");
	}
	/* Its namespace: -N, else the job's, else NOMAD_NAMESPACE, else default. */
	jns = alba_sget(job, "Namespace");
	if (ns == NULL)
		ns = jns && jns != alba_bad && *jns ? jns :
		    nomad.namespace && *nomad.namespace ? nomad.namespace : "default";
	snprintf(ens_buf, sizeof ens_buf, "%s", ns);
	job = jv_object_set(job, jv_string("Namespace"), jv_string(ens_buf));
	eid = alba_urlencode(id);
	ens = alba_urlencode(ens_buf);
	if (eid == NULL || ens == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	s = JV_OBJECT(jv_string("Job"), jv_copy(job));
	if (dry)
		s = jv_object_set(s, jv_string("Diff"), jv_true());
	s = jv_dump_string(s, 0);
	body = strdup(jv_string_value(s));
	jv_free(s);
	if (body == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	if (dry) {
		path = alba_xprintf("/v1/job/%s/plan?namespace=%s", eid, ens);
		rc = alba_nomad_json(&nomad, "PUT", path, body, 0, &got, NULL, err, sizeof err);
		if (rc)
			nomad_die(rc, "nomad refused the plan", err);
		write_job(job, got);
	} else {
		path = alba_xprintf("/v1/jobs?namespace=%s", ens);
		rc = alba_nomad_json(&nomad, "PUT", path, body, 0, NULL, NULL, err, sizeof err);
		if (rc)
			nomad_die(rc, "nomad refused the job", err);
		free(path);
		path = alba_xprintf("/v1/job/%s?namespace=%s", eid, ens);
		rc = alba_nomad_json(&nomad, "GET", path, NULL, 0, &got, NULL, err, sizeof err);
		if (rc)
			nomad_die(rc, "the job was registered, but reading it back failed", err);
		jv_free(job);
		write_job(got, jv_invalid());
	}
	free(path);
	free(body);
	free(eid);
	free(ens);
	alba_service_free(&nomad);
	return 0;
}
