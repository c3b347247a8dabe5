/* ISC license. */
/*
 * service.c: where and how to reach Nomad, Consul and a forge, read from the
 * environment as the nomad and consul CLIs read it (api/nomad.md §8,
 * api/consul-and-forges.md §A6).  The struct owns every string it holds.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alba.h"
#include "http.h"

static char *
xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && d == NULL)
		alba_die(ALBA_TEMP, "out of memory");
	return d;
}

/* getenv, with "" read as unset. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* addr as a message may show it: a user-info part ("user:password@"
 * before the host) replaced by "***@", control characters by '?'. */
static void
shown_addr(char *out, size_t n, const char *addr)
{
	const char *p = strstr(addr, "://"), *auth = p ? p + 3 : addr, *at;
	size_t alen = strcspn(auth, "/");
	char tmp[512];

	at = memchr(auth, '@', alen);
	if (at)
		for (const char *q = at + 1; q < auth + alen; q++)
			if (*q == '@')
				at = q;
	if (at)
		snprintf(tmp, sizeof tmp, "%.*s***%s", (int)(auth - addr), addr, at);
	else
		snprintf(tmp, sizeof tmp, "%s", addr);
	alba_sanitize(out, n, tmp, strlen(tmp));
}

/* Go's strconv.ParseBool: 1, 0 or -1 for anything else. */
static int
parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	size_t i;

	for (i = 0; i < sizeof yes / sizeof *yes; i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}


/*
 * Split "scheme://[user:pass@]host[:port][/path]" into its parts; the
 * caller decides which it keeps.  Returns -1 if there is no host.
 */
struct url {
	char scheme[16];
	char userinfo[256];
	char host[256];		/* with the port */
	char path[512];
};

static int
split_url(const char *s, struct url *u)
{
	const char *p = strstr(s, "://"), *auth, *slash, *at;

	memset(u, 0, sizeof *u);
	if (p == NULL || (size_t)(p - s) >= sizeof u->scheme)
		return -1;
	memcpy(u->scheme, s, (size_t)(p - s));
	auth = p + 3;
	slash = strchr(auth, '/');
	if (slash == NULL)
		slash = auth + strlen(auth);
	at = memchr(auth, '@', (size_t)(slash - auth));
	if (at) {
		if ((size_t)(at - auth) >= sizeof u->userinfo)
			return -1;
		memcpy(u->userinfo, auth, (size_t)(at - auth));
		auth = at + 1;
	}
	if (slash == auth || (size_t)(slash - auth) >= sizeof u->host ||
	    strlen(slash) >= sizeof u->path)
		return -1;
	memcpy(u->host, auth, (size_t)(slash - auth));
	strcpy(u->path, slash);
	while (*u->path && u->path[strlen(u->path) - 1] == '/')
		u->path[strlen(u->path) - 1] = 0;
	return 0;
}

/* Point the URL at the TLS server name and connect to the real host. */
static void
server_name(struct alba_service *svc, const char *scheme, const char *host,
    const char *path, const char *name)
{
	const char *colon = strrchr(host, ']') ? strrchr(strrchr(host, ']'), ':') :
	    strrchr(host, ':');
	const char *port = colon ? colon + 1 : strcmp(scheme, "https") == 0 ? "443" : "80";
	size_t hlen = colon ? (size_t)(colon - host) : strlen(host);
	char name_only[256];
	const char *nc = strchr(name, ':');
	size_t nlen = nc ? (size_t)(nc - name) : strlen(name);

	if (nlen >= sizeof name_only)
		nlen = sizeof name_only - 1;
	memcpy(name_only, name, nlen);
	name_only[nlen] = 0;
	free(svc->base);
	svc->base = alba_xprintf("%s://%s:%s%s", scheme, name_only, port, path);
	char *entry = alba_xprintf("%s:%s:%.*s:%s", name_only, port, (int)hlen, host, port);
	svc->connect_list = curl_slist_append(NULL, entry);
	free(entry);
	if (svc->connect_list == NULL)
		alba_die(ALBA_TEMP, "out of memory");
}

static void
tls_files(struct alba_service *svc, const char *ca, const char *capath,
    const char *cert, const char *key)
{
	svc->cacert = xstrdup(ca);
	svc->capath = xstrdup(capath);
	svc->cert = xstrdup(cert);
	svc->key = xstrdup(key);
}

int
alba_service_nomad(struct alba_service *svc, char *err, size_t errlen)
{
	const char *addr = env("NOMAD_ADDR"), *v;
	struct url u;

	memset(svc, 0, sizeof *svc);
	svc->name = "nomad";
	svc->index_header = "x-nomad-index";
	if (addr == NULL)
		addr = "http://127.0.0.1:4646";
	if (strncmp(addr, "unix://", 7) == 0) {
		svc->unix_path = xstrdup(addr + 7);
		svc->base = xstrdup("http://127.0.0.1");
		svc->shown = xstrdup(addr);
	} else {
		char *tmp = strstr(addr, "://") ? xstrdup(addr) : alba_xprintf("http://%s", addr);
		int bad = split_url(tmp, &u);
		free(tmp);
		if (bad || (strcmp(u.scheme, "http") && strcmp(u.scheme, "https"))) {
			char shown[256];
			shown_addr(shown, sizeof shown, addr);
			return alba_fail(err, errlen, ALBA_PERM,
			    "NOMAD_ADDR is not an http, https or unix address: %s", shown);
		}
		/* Only scheme, user-info and host count (api/nomad.md §8). */
		svc->base = alba_xprintf("%s://%s", u.scheme, u.host);
		svc->shown = xstrdup(svc->base);
		if (*u.userinfo)
			svc->basic = xstrdup(u.userinfo);
		if ((v = env("NOMAD_TLS_SERVER_NAME")) && strcmp(u.scheme, "https") == 0)
			server_name(svc, u.scheme, u.host, "", v);
	}
	if ((v = env("NOMAD_HTTP_AUTH"))) {
		free(svc->basic);
		svc->basic = xstrdup(v);
	}
	if ((v = env("NOMAD_TOKEN")))
		svc->token_header = alba_xprintf("X-Nomad-Token: %s", v);
	svc->namespace = xstrdup(env("NOMAD_NAMESPACE"));
	svc->region = xstrdup(env("NOMAD_REGION"));
	if (!env("NOMAD_CLIENT_CERT") != !env("NOMAD_CLIENT_KEY"))
		return alba_fail(err, errlen, ALBA_PERM, "Both client cert and client key must be provided "
		    "(NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)");
	tls_files(svc, env("NOMAD_CACERT"), env("NOMAD_CAPATH"),
	    env("NOMAD_CLIENT_CERT"), env("NOMAD_CLIENT_KEY"));
	/* An unparsable NOMAD_SKIP_VERIFY is ignored, as the Go client does. */
	if ((v = env("NOMAD_SKIP_VERIFY")) && parse_bool(v) == 1)
		svc->skip_verify = 1;
	return 0;
}

/* The token, from CONSUL_HTTP_TOKEN_FILE (wins when not empty) or
 * CONSUL_HTTP_TOKEN.  0 or ALBA_PERM. */
static int
consul_token(struct alba_service *svc, char *err, size_t errlen)
{
	const char *file = env("CONSUL_HTTP_TOKEN_FILE"), *tok = env("CONSUL_HTTP_TOKEN");
	char buf[4096];

	if (file) {
		FILE *f = fopen(file, "r");
		size_t n, b = 0, e;
		if (f == NULL)
			return alba_fail(err, errlen, ALBA_PERM,
			    "Error loading token file: %s: %s", file, strerror(errno));
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		while (b < n && isspace((unsigned char)buf[b]))
			b++;
		e = n;
		while (e > b && isspace((unsigned char)buf[e - 1]))
			e--;
		buf[e] = 0;
		if (e > b) {
			svc->token_header = alba_xprintf("X-Consul-Token: %s", buf + b);
			memset(buf, 0, sizeof buf);
			return 0;
		}
	}
	if (tok)
		svc->token_header = alba_xprintf("X-Consul-Token: %s", tok);
	return 0;
}

int
alba_service_consul(struct alba_service *svc, char *err, size_t errlen)
{
	const char *addr = env("CONSUL_HTTP_ADDR"), *v;
	int https = 0, r;
	struct url u;

	memset(svc, 0, sizeof *svc);
	svc->name = "consul";
	svc->index_header = "x-consul-index";
	if (addr == NULL)
		addr = "127.0.0.1:8500";
	if ((v = env("CONSUL_HTTP_SSL"))) {
		int b = parse_bool(v);
		if (b < 0)
			alba_warn("CONSUL_HTTP_SSL is not a boolean, ignored: %s", v);
		https = b == 1;
	}
	if (strncmp(addr, "unix://", 7) == 0) {
		svc->unix_path = xstrdup(addr + 7);
		svc->base = alba_xprintf("%s://localhost", https ? "https" : "http");
		svc->shown = xstrdup(addr);
	} else {
		char *tmp;
		if (strstr(addr, "://") == NULL)
			tmp = alba_xprintf("http://%s", addr);
		else
			tmp = xstrdup(addr);
		r = split_url(tmp, &u);
		free(tmp);
		if (r) {
			char shown[256];
			shown_addr(shown, sizeof shown, addr);
			return alba_fail(err, errlen, ALBA_PERM, "CONSUL_HTTP_ADDR is not an address: %s", shown);
		}
		if (strcmp(u.scheme, "https") == 0)
			https = 1;
		else if (strcmp(u.scheme, "http") != 0)
			return alba_fail(err, errlen, ALBA_PERM, "Unknown protocol scheme: %s", u.scheme);
		/* http:// never downgrades CONSUL_HTTP_SSL=true. */
		svc->base = alba_xprintf("%s://%s%s", https ? "https" : "http", u.host, u.path);
		svc->shown = xstrdup(svc->base);
		if (*u.userinfo)
			svc->basic = xstrdup(u.userinfo);
		if ((v = env("CONSUL_TLS_SERVER_NAME")) && https)
			server_name(svc, "https", u.host, u.path, v);
	}
	if ((v = env("CONSUL_HTTP_AUTH"))) {
		free(svc->basic);
		svc->basic = xstrdup(v);
	}
	if ((r = consul_token(svc, err, errlen)))
		return r;
	if ((v = env("CONSUL_HTTP_SSL_VERIFY"))) {
		/* The Go client skips verification on an unparsable value; we
		 * refuse it instead: a typo must not turn TLS checks off. */
		int b = parse_bool(v);
		if (b < 0)
			return alba_fail(err, errlen, ALBA_PERM, "CONSUL_HTTP_SSL_VERIFY is not a boolean: %s", v);
		svc->skip_verify = b == 0;
	}
	if (!env("CONSUL_CLIENT_CERT") != !env("CONSUL_CLIENT_KEY"))
		return alba_fail(err, errlen, ALBA_PERM, "both client cert and client key must be provided "
		    "(CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY)");
	tls_files(svc, env("CONSUL_CACERT"), env("CONSUL_CAPATH"),
	    env("CONSUL_CLIENT_CERT"), env("CONSUL_CLIENT_KEY"));
	svc->namespace = xstrdup(env("CONSUL_NAMESPACE"));
	svc->partition = xstrdup(env("CONSUL_PARTITION"));
	return 0;
}

int
alba_service_forge(struct alba_service *svc, const char *name, const char *url,
    const char *authorization, char *err, size_t errlen)
{
	struct url u;

	memset(svc, 0, sizeof *svc);
	svc->name = name;
	if (split_url(url, &u) || (strcmp(u.scheme, "http") && strcmp(u.scheme, "https")))
		return alba_fail(err, errlen, ALBA_PERM, "the %s url is not an http or https URL", name);
	svc->base = alba_xprintf("%s://%s%s", u.scheme, u.host, u.path);
	svc->shown = xstrdup(svc->base);
	if (authorization)
		svc->token_header = alba_xprintf("Authorization: %s", authorization);
	return 0;
}

void
alba_service_free(struct alba_service *svc)
{
	if (svc->token_header)
		memset(svc->token_header, 0, strlen(svc->token_header));
	free(svc->base);
	free(svc->shown);
	free(svc->unix_path);
	curl_slist_free_all(svc->connect_list);
	free(svc->token_header);
	free(svc->basic);
	free(svc->cacert);
	free(svc->capath);
	free(svc->cert);
	free(svc->key);
	free(svc->namespace);
	free(svc->region);
	free(svc->partition);
	memset(svc, 0, sizeof *svc);
}
