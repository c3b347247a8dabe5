/* ISC license. */
/*
 * fuzz/config.c: the configuration reader (alba_config_decode in
 * lib/repoconfig.c) on arbitrary answers of Consul to GET /v1/kv/<key>,
 * then what every stage reads of a configuration: its namespace and its
 * builders.  The key is the one of https://git.example.com/a/b.git.
 */
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "fuzz.h"
#include "repoconfig.h"

#define KEY "albatros/aHR0cHM6Ly9naXQuZXhhbXBsZS5jb20vYS9iLmdpdA=="

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size ? size : 1);
	jv cfg;

	if (body == NULL)
		abort();
	memcpy(body, data, size);	/* exactly size bytes, for ASan */
	cfg = alba_config_decode(body, size, KEY);
	free(body);
	if (jv_is_valid(cfg)) {
		if (jv_get_kind(cfg) != JV_KIND_OBJECT)
			abort();
		if (strlen(alba_config_namespace(cfg)) == 0)
			abort();	/* "ci" stands for an empty one */
		(void)alba_config_is_builder(cfg, "builder");
		(void)alba_config_is_builder(cfg, "builder-arm");
	} else {
		jv msg = jv_invalid_get_msg(cfg);
		if (jv_get_kind(msg) != JV_KIND_STRING)
			abort();	/* every refusal says why */
		jv_free(msg);
		cfg = jv_invalid();
	}
	jv_free(cfg);
	return 0;
}
