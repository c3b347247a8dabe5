/* ISC license. */
/*
 * repoconfig.h: a repository's configuration in Consul KV (SPEC §4): the key
 * of a clone URL, reading it, storing it.  Strings returned are the
 * caller's; a jv returned follows jq's ownership rule (json.h).  Messages
 * written into err never carry a secret (no token, no value).
 */
#ifndef ALBA_REPOCONFIG_H
#define ALBA_REPOCONFIG_H

#include <stddef.h>

#include <jv.h>

struct alba_service;

/* The Consul key for a repository URL: "albatros/" + standard base64 with
 * padding (SPEC §4).  Caller frees; NULL on allocation failure. */
char *alba_config_key(const char *repo_url);

/* Fetch the configuration of repo_url from Consul KV (GET /v1/kv/<key>,
 * the array's Value decoded from base64 and parsed as a JSON object), with
 * "consul_key" added.  Returns 0 and *config, or an HTTP status with a
 * message in err: 404 not registered (the message names the URL and the
 * key), 503 Consul unreachable or 5xx (the GET is retried on transport
 * failures, 429, 500, 502, 503, 504), 502 Consul refused (403: the message
 * says to check CONSUL_HTTP_TOKEN; 3xx, other 4xx, a key Consul 1.21.5
 * calls invalid, a permanent transport failure such as TLS) or the value
 * is not a JSON object (the message names the key). */
int alba_config_fetch(const struct alba_service *consul, const char *repo_url,
    jv *config, char *err, size_t errlen);

/* As alba_config_fetch; on failure *code (if code is not NULL) is set to
 * the stable word of the error member: "not_registered",
 * "consul_unreachable", "consul_refused" or "bad_config". */
int alba_config_fetch_code(const struct alba_service *consul,
    const char *repo_url, jv *config, const char **code, char *err,
    size_t errlen);

/* The configuration in Consul's answer to GET /v1/kv/<key> (body, len
 * bytes: a JSON array of entries): the Value of the entry named key,
 * decoded from base64 and parsed as a JSON object; or an invalid with a
 * message (not an array, no such entry, no Value, not base64, not a JSON
 * object).  Borrows body and key. */
jv alba_config_decode(const char *body, size_t len, const char *key);

/* config.namespace, or "ci" when absent or empty.  Borrows config: the
 * string lives as long as config does. */
const char *alba_config_namespace(jv config);
/* 1 if parent is config.builder ("builder" when absent) or one of the
 * config.flavors values: a job a build of this repository may be
 * dispatched from.  Borrows config. */
int alba_config_is_builder(jv config, const char *parent);

/* Store value (len bytes, the caller has checked it is a JSON object) as
 * the configuration of repo_url: PUT /v1/kv/<key>.  0, or an HTTP status
 * as alba_config_fetch_code returns them, with *code and err set. */
int alba_config_store(const struct alba_service *consul, const char *repo_url,
    const char *value, size_t len, const char **code, char *err, size_t errlen);

#endif
