/* fuzz_sip003.c: SS_PLUGIN_OPTIONS parsing. Whatever parses must give a JSON object that
 * jansson reads back, and a transport name that fits. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ipc/sip003.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char json[4096], transport[64], err[200];
    int is_server;
    if (wr_sip003_parse_options(s, json, sizeof json, transport, sizeof transport, &is_server, err,
                                sizeof err) == 0) {
        json_error_t jerr;
        json_t *o = json_loads(json, 0, &jerr);
        FUZZ_CHECK(o && json_is_object(o));
        FUZZ_CHECK(!json_object_get(o, "server") && !json_object_get(o, "transport"));
        json_decref(o);
        FUZZ_CHECK(strlen(transport) < sizeof transport);
        FUZZ_CHECK(is_server == 0 || is_server == 1);
    } else {
        FUZZ_CHECK(err[0] != '\0');
    }
    free(s);
    return 0;
}
