/* ISC license. */
/*
 * forge.h: the commit-status client (Gitea, Forgejo, GitHub): which
 * repository and commit a build's status goes to, posting it (bounded
 * retries) and reading the latest one back.  Every function here BORROWS
 * the document it is given (unlike the rest of lib/, see json.h), so a
 * caller can post several statuses from one document.  Messages written
 * into err never carry a token.
 *
 * What is read from the document (SPEC §2, §4, §6):
 *   config.forge {kind gitea|forgejo|github, url, token} or config.gitea
 *     {url, token}: no section, nothing is posted (not an error);
 *   config.context, else "albatros/<build.flavor>";
 *   build.commit: the SHA (hex, 7 to 64 digits);
 *   the repository: event.repo.full_name when present, else the URL the
 *     configuration belongs to (config.consul_key decoded: the base
 *     repository even for a fork's pull request), else build.repo_url;
 *     owner and name must each match [A-Za-z0-9._-]+ without "..".
 * The target URL is $ALBATROS_URL/build?job=<job id, %2F for />&log=stderr;
 * with ALBATROS_URL unset the status carries no target URL.
 */
#ifndef ALBA_FORGE_H
#define ALBA_FORGE_H

#include <stddef.h>

#include <jv.h>

/* Tunables (defaults 10000 ms and 4): the time one request may take, and
 * how many attempts a post or a read makes on a timeout, a transport
 * failure, 429 or 5xx, with 250 ms, 500 ms, 1 s ... between them. */
extern long alba_forge_timeout_ms;
extern int alba_forge_attempts;
/* The whole time a post or a read may take, its retries included; no
 * retry starts that could not end within it (default 0: no budget). */
extern long alba_forge_budget_ms;

/* Borrows doc: 1 if doc.config has a forge section (forge or gitea). */
int alba_forge_configured(jv doc);

/* Post state (pending, success, failure, error) with description (cut to
 * 140 bytes on a UTF-8 boundary) for job_id (NULL: no target URL).
 * Returns 0 when posted or when no forge is configured; otherwise
 * ALBA_TEMP (timeouts, 5xx, unreachable: after the retries) or ALBA_PERM
 * (bad configuration, bad repository or commit, 4xx) with a message in err.
 * Borrows doc. */
int alba_forge_status(jv doc, const char *job_id, const char *state,
    const char *description, char *err, size_t errlen);

/* The latest status of (build.commit, context) as the forge shows it:
 * *status is {state, description, target_url, context, job} or jv_null()
 * when there is none (or no forge is configured); job is the job ID of the
 * link alba_forge_status made, or null (no ALBATROS_URL, another link).  0, or ALBA_TEMP/ALBA_PERM
 * with err set (then *status is jv_invalid()).  Borrows doc. */
int alba_forge_latest(jv doc, jv *status, char *err, size_t errlen);

/* Borrows doc: the repository the status goes to, as "owner/name" in out
 * (size n).  0, or ALBA_PERM with err set. */
int alba_forge_repo(jv doc, char *out, size_t n, char *err, size_t errlen);

/* Owner and name from a clone URL (https://host[/prefix]/owner/name[.git],
 * ssh://git@host[:port]/owner/name.git, git@host:owner/name.git) or an
 * "owner/name": "owner/name" in out (size n); -1 if it does not parse or
 * fails validation. */
int alba_forge_repo_from_url(const char *url, char *out, size_t n);

/* 1 for the final states success, failure and error. */
int alba_forge_final(const char *state);

#endif
