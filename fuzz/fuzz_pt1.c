/* fuzz_pt1.c: tor's TOR_PT_SERVER_TRANSPORT_OPTIONS (ipc/pt1.c) and the outbound bind address
 * forms. Whatever parses must be a JSON object of objects of strings that jansson reads back,
 * every transport key having come from the input; failures say why. */
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ipc/pt1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char err[200] = "";
    char *json = wr_pt1_server_options(s, err, sizeof err);
    if (json) {
        json_error_t jerr;
        json_t *o = json_loads(json, 0, &jerr);
        FUZZ_CHECK(o && json_is_object(o));
        const char *name;
        json_t *t;
        json_object_foreach(o, name, t) {
            FUZZ_CHECK(json_is_object(t) && *name);
            FUZZ_CHECK(strstr(s, name) != NULL || strchr(s, '\\'));   /* from the input */
            const char *k;
            json_t *v;
            json_object_foreach(t, k, v)
                FUZZ_CHECK(json_is_string(v) && *k);
        }
        json_decref(o);
        free(json);
    } else {
        FUZZ_CHECK(err[0] != '\0');
    }
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    if (wr_pt1_parse_bind(s, AF_INET, &sin) == 0)
        FUZZ_CHECK(sin.sin_family == AF_INET && sin.sin_port == 0);
    if (wr_pt1_parse_bind(s, AF_INET6, &sin6) == 0)
        FUZZ_CHECK(sin6.sin6_family == AF_INET6 && sin6.sin6_port == 0);
    free(s);
    return 0;
}
