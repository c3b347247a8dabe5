/* ISC license. */
/*
 * event.c: a forge's push or pull-request payload normalized into .event
 * and the fields of .build, and the trust its sender gets (SPEC §7).  It
 * borrows the payload and the hook; the .event it builds is its caller's.
 */
#include <string.h>

#include <jv.h>

#include "event.h"
#include "json.h"

static const char *const forge_name[] = {
	[ALBA_FORGE_NONE] = "gitea",
	[ALBA_FORGE_GITEA] = "gitea",
	[ALBA_FORGE_FORGEJO] = "forgejo",
	[ALBA_FORGE_GITHUB] = "github",
};

static int
is_zero_sha(const char *s)
{
	size_t n;

	if (s == NULL || s == alba_bad)
		return 0;
	n = strspn(s, "0");
	return (n == 40 || n == 64) && s[n] == 0;
}

static int
listed(jv config, const char *who)
{
	jv list = alba_get(jv_copy(config), "trusted.senders");
	int found = 0;

	if (who && who != alba_bad && jv_get_kind(list) == JV_KIND_ARRAY)
		jv_array_foreach(list, i, x) {
			if (jv_get_kind(x) == JV_KIND_STRING &&
			    strcmp(jv_string_value(x), who) == 0)
				found = 1;
			jv_free(x);
		}
	jv_free(list);
	return found;
}

static jv
repo_object(jv p)
{
	const char *owner = alba_sopt(p, "repository.owner.login");

	if (owner == NULL)
		owner = alba_sopt(p, "repository.owner.username");
	if (owner == NULL)
		owner = alba_sopt(p, "repository.owner.name");
	return JV_OBJECT(
	    jv_string("clone_url"), alba_jstr(alba_sopt(p, "repository.clone_url")),
	    jv_string("full_name"), alba_jstr(alba_sopt(p, "repository.full_name")),
	    jv_string("html_url"), alba_jstr(alba_sopt(p, "repository.html_url")),
	    jv_string("owner"), alba_jstr(owner),
	    jv_string("name"), alba_jstr(alba_sopt(p, "repository.name")));
}

static int
normalize_push(jv p, jv *ev, struct alba_build *b, struct alba_verdict *v)
{
	const char *ref = alba_sget(p, "ref"), *after = alba_sget(p, "after");
	const char *before = alba_sget(p, "before"), *kind, *name;
	jv deleted = alba_get(jv_copy(p), "deleted");
	int del = jv_get_kind(deleted) == JV_KIND_TRUE;
	char shown[128];

	jv_free(deleted);
	if (ref == NULL || ref == alba_bad)
		return alba_refuse(v, 400, "bad_request", "the push payload has no ref");
	*ev = jv_object_set(*ev, jv_string("ref"), jv_string(ref));
	if (strncmp(ref, "refs/heads/", 11) == 0) {
		kind = "branch";
		name = ref + 11;
		*ev = jv_object_set(*ev, jv_string("type"), jv_string("push"));
	} else if (strncmp(ref, "refs/tags/", 10) == 0) {
		kind = "tag";
		name = ref + 10;
		*ev = jv_object_set(*ev, jv_string("type"), jv_string("tag"));
	} else
		return alba_ignore(v, "push to %s: neither a branch nor a tag",
		    alba_shown(shown, sizeof shown, ref));
	*ev = jv_object_set(*ev, jv_string("branch"), jv_string(name));
	if (is_zero_sha(after) && is_zero_sha(before))
		return alba_ignore(v, "test delivery (zero commit): nothing to build");
	if (is_zero_sha(after) || del)
		return alba_ignore(v, "%s %s deleted: nothing to build", kind,
		    alba_shown(shown, sizeof shown, name));
	b->commit = after;
	if (*kind == 't') {
		const char *peeled = alba_sget(p, "head_commit.id");
		if (peeled)
			b->commit = peeled;
	}
	b->branch = name;
	b->repo_url = alba_sget(p, "repository.clone_url");
	*ev = jv_object_set(*ev, jv_string("commit"),
	    alba_jstr(b->commit == alba_bad ? NULL : b->commit));
	return 0;
}

static int
normalize_pr(jv p, jv config, jv *ev, struct alba_build *b,
    struct alba_verdict *v)
{
	const char *action = alba_sopt(p, "action");
	jv number = alba_get(jv_copy(p), "number");
	jv headrepo = alba_get(jv_copy(p), "pull_request.head.repo");
	const char *hfull = alba_sopt(p, "pull_request.head.repo.full_name");
	const char *hurl = alba_sget(p, "pull_request.head.repo.clone_url");
	const char *bfull = alba_sopt(p, "pull_request.base.repo.full_name");
	const char *burl = alba_sopt(p, "pull_request.base.repo.clone_url");
	const char *hsha = alba_sget(p, "pull_request.head.sha");
	const char *href = alba_sget(p, "pull_request.head.ref");
	const char *howner = alba_sopt(p, "pull_request.head.repo.owner.login");
	char shown[64];
	int fork, nrepo = jv_get_kind(headrepo) == JV_KIND_OBJECT;
	long n;

	jv_free(headrepo);
	if (jv_get_kind(number) != JV_KIND_NUMBER) {
		jv_free(number);
		number = alba_get(jv_copy(p), "pull_request.number");
	}
	n = jv_get_kind(number) == JV_KIND_NUMBER ? (long)jv_number_value(number) : 0;
	if (jv_get_kind(number) != JV_KIND_NUMBER) {
		jv_free(number);
		number = jv_null();
	}
	if (bfull == NULL)
		bfull = alba_sopt(p, "repository.full_name");
	if (burl == NULL)
		burl = alba_sopt(p, "repository.clone_url");
	if (howner == NULL)
		howner = alba_sopt(p, "pull_request.head.repo.owner.username");
	/* A fork is any head repository that is not the base one. */
	fork = nrepo && (hfull == NULL || bfull == NULL || strcmp(hfull, bfull) != 0 ||
	    hurl == NULL || hurl == alba_bad || burl == NULL || strcmp(hurl, burl) != 0);
	*ev = jv_object_set(*ev, jv_string("type"), jv_string("pull_request"));
	*ev = jv_object_set(*ev, jv_string("number"), number);
	*ev = jv_object_set(*ev, jv_string("head"), JV_OBJECT(
	    jv_string("repo_url"), alba_jstr(hurl == alba_bad ? NULL : hurl),
	    jv_string("full_name"), alba_jstr(hfull),
	    jv_string("ref"), alba_jstr(href == alba_bad ? NULL : href),
	    jv_string("sha"), alba_jstr(hsha == alba_bad ? NULL : hsha)));
	*ev = jv_object_set(*ev, jv_string("base"), JV_OBJECT(
	    jv_string("ref"), alba_jstr(alba_sopt(p, "pull_request.base.ref")),
	    jv_string("full_name"), alba_jstr(bfull)));
	*ev = jv_object_set(*ev, jv_string("fork"), jv_bool(fork));
	*ev = jv_object_set(*ev, jv_string("ref"), alba_jstr(href == alba_bad ? NULL : href));
	*ev = jv_object_set(*ev, jv_string("commit"), alba_jstr(hsha == alba_bad ? NULL : hsha));
	*ev = jv_object_set(*ev, jv_string("branch"), alba_jstr(href == alba_bad ? NULL : href));
	if (action == NULL || (strcmp(action, "opened") != 0 && strcmp(action, "reopened") != 0 &&
	    strcmp(action, "synchronized") != 0 && strcmp(action, "synchronize") != 0))
		return alba_ignore(v, "pull request #%ld %s: nothing to build", n,
		    action ? alba_shown(shown, sizeof shown, action) : "(no action)");
	if (!nrepo)
		return alba_ignore(v, "pull request #%ld: its head repository is gone "
		    "(deleted fork): nothing to build", n);
	b->repo_url = hurl;
	b->commit = hsha;
	b->branch = href;
	/* The code of a fork belongs to its owner: a trusted sender (say, a
	 * maintainer reopening the pull request) does not vouch for it alone. */
	b->trusted = !fork || listed(config, howner);
	return 0;
}

/* Fill ev and b from the payload; -1 with v set if it builds nothing. */
static int
normalize(const struct alba_hook *h, jv p, jv *ev, struct alba_build *b,
    struct alba_verdict *v)
{
	const char *type = h->forge == ALBA_FORGE_NONE ? "push" :
	    alba_hook_header(h, "event");
	const char *sender = alba_sget(p, "sender.login");
	char shown[64];

	if (sender == NULL)
		sender = alba_sget(p, "sender.username");
	b->sender = sender;
	b->delivery = alba_hook_header(h, "delivery");
	*ev = JV_OBJECT(
	    jv_string("forge"), jv_string(forge_name[h->forge]),
	    jv_string("type"), alba_jstr(type),
	    jv_string("action"), alba_jstr(alba_sopt(p, "action")),
	    jv_string("delivery"), alba_jstr(b->delivery),
	    jv_string("repo"), repo_object(p),
	    jv_string("ref"), jv_null(),
	    jv_string("commit"), jv_null(),
	    jv_string("branch"), jv_null(),
	    jv_string("sender"), alba_jstr(sender == alba_bad ? NULL : sender));
	if (type == NULL)
		return alba_refuse(v, 400, "bad_request", "no X-%s-Event header",
		    h->forge == ALBA_FORGE_FORGEJO ? "Forgejo" :
		    h->forge == ALBA_FORGE_GITHUB ? "GitHub" : "Gitea");
	b->trusted = 1;
	if (strcmp(type, "push") == 0)
		return normalize_push(p, ev, b, v);
	if (strcmp(type, "pull_request") == 0)
		return normalize_pr(p, h->config, ev, b, v);
	if (strcmp(type, "ping") == 0)
		return alba_ignore(v, "ping: nothing to build");
	if (strcmp(type, "create") == 0 || strcmp(type, "delete") == 0)
		return alba_ignore(v,
		    "%s event: nothing to build (the push event builds)", type);
	return alba_ignore(v, "%s event: nothing to build",
	    alba_shown(shown, sizeof shown, type));
}


int
alba_event_normalize(const struct alba_hook *h, jv p, jv *ev,
    struct alba_build *b, struct alba_verdict *v)
{
	memset(b, 0, sizeof *b);
	if (normalize(h, p, ev, b, v) == -1)
		return -1;
	b->trusted = b->trusted && listed(h->config, b->sender);
	return 0;
}
