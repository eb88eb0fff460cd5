/* fuzz_flags.c: argv through wr_flags_parse, wr_config_version and wr_config_build.
 *
 * The input is split at NUL bytes into argv[1..]. Whatever the input says, the state directory
 * is forced to FUZZ_DIR/state and an -optionsFile to a fixed file in FUZZ_DIR, so the harness
 * never creates or reads anything outside /tmp/warren-fuzz-flags (and never blocks reading a
 * FIFO or a terminal). */
#include "fuzz.h"

#include <errno.h>
#include <sys/stat.h>

#include "cli/config.h"
#include "cli/flags.h"
#include "core/options.h"

#define FUZZ_DIR "/tmp/warren-fuzz-flags"
#define MAX_ARGS 128

static const char state_dir[] = FUZZ_DIR "/state";
static const char options_file[] = FUZZ_DIR "/options.json";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (mkdir(FUZZ_DIR, 0700) != 0 && errno != EEXIST)
        abort();
    FILE *f = fopen(options_file, "w");
    if (!f)
        abort();
    fputs("{\"plain\":{\"serverAddress\":\"192.0.2.1:443\",\"mtu\":1400},\"obfs4\":{\"iat-mode\":\"0\"}}", f);
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* argv strings live in one NUL-terminated copy of the input */
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"warren";
    for (size_t off = 0; off <= size && argc < MAX_ARGS + 1;) {
        argv[argc++] = buf + off;
        off += strlen(buf + off) + 1;
    }
    if (size == 0)
        argc = 1;
    argv[argc] = NULL;

    struct wr_flags flags;
    int rc = wr_flags_parse(&flags, argc, argv);
    FUZZ_CHECK((rc == 0) == (flags.error[0] == '\0'));
    FUZZ_CHECK(memchr(flags.error, '\0', sizeof flags.error) != NULL);

    const char *v = wr_config_version(flags.ptversion);
    if (v) {
        FUZZ_CHECK(*v);
        /* the answer is one of the tokens as sent */
        if (flags.ptversion)
            FUZZ_CHECK(strstr(flags.ptversion, v) != NULL);
    }
    wr_flags_usage();

    /* Never touch the file system outside FUZZ_DIR. */
    flags.state = state_dir;
    if (flags.options_file)
        flags.options_file = options_file;

    struct wr_config cfg;
    char err[512];
    err[0] = '\0';
    rc = wr_config_build(&cfg, &flags, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && err[0] != '\0');
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
    } else {
        FUZZ_CHECK(strcmp(cfg.state_dir, state_dir) == 0);
        FUZZ_CHECK(cfg.n_transports >= 1 && cfg.n_transports <= WR_MAX_TRANSPORTS);
        FUZZ_CHECK(cfg.mode == WR_MODE_SOCKS5 || cfg.mode == WR_MODE_TRANSPARENT_TCP);
        FUZZ_CHECK(wr_mode_name(cfg.mode) != NULL);
        const char *names[WR_MAX_TRANSPORTS];
        for (size_t i = 0; i < cfg.n_transports; i++) {
            names[i] = cfg.transports[i].name;
            FUZZ_CHECK(names[i][0] != '\0' && strlen(names[i]) < sizeof cfg.transports[i].name);
        }
        for (size_t i = 0; i < cfg.n_transports; i++) {
            json_t *o = wr_options_for(cfg.options, names[i], names, cfg.n_transports);
            FUZZ_CHECK(o && json_is_object(o));
            json_decref(o);
            if (cfg.transports[i].has_bind)
                FUZZ_CHECK(cfg.transports[i].bind.type != WR_EP_NAME);
        }
        char a[WR_ADDRSTRLEN];
        if (cfg.is_server) {
            /* A server needs -target unless a requested transport can serve free. */
            int any_free = 0;
            for (size_t i = 0; i < cfg.n_transports; i++)
                if (cfg.transports[i].t && cfg.transports[i].t->free_server)
                    any_free = 1;
            FUZZ_CHECK(cfg.has_target ? cfg.target.port != 0 : any_free);
            wr_endpoint_format(&cfg.target, a, sizeof a);
        } else {
            FUZZ_CHECK(cfg.listen.type != WR_EP_NAME);
            wr_endpoint_format(&cfg.listen, a, sizeof a);
        }
    }
    wr_config_free(&cfg);
    free(buf);
    return 0;
}
