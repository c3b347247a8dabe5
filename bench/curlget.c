/* ISC license. */
/*
 * bench/curlget URL: the smallest libcurl client there is -- global init,
 * one GET, the body to stdout -- so that bench/logs can show the peak RSS
 * any program linking Debian's libcurl starts from.  Not part of albatros.
 */
#include <stdio.h>

#include <curl/curl.h>

int
main(int argc, char **argv)
{
	CURL *c;
	CURLcode rc;

	if (argc != 2) {
		fputs("usage: curlget url\n", stderr);
		return 100;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (c = curl_easy_init()) == NULL)
		return 111;
	curl_easy_setopt(c, CURLOPT_URL, argv[1]);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return rc == CURLE_OK ? 0 : 111;
}
