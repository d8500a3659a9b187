/*
 * fuzz_config.c - libFuzzer target for the config file parser
 * (core/runtime/config.c, pr_config_parse): the input is a payrouted.conf. Never
 * a crash or a leak; a refusal is -EINVAL (or -ENOMEM) with a message; an
 * accepted config is freed. Inputs naming a file the parser would read
 * (admin.token_file, secrets.key_file) are skipped: reading files is not
 * parsing, and a name like /dev/stdin would block.
 *
 * Seeds: tests/fuzz/corpus/fuzz_config/.
 */
// FUZZ_CORE: core/runtime/config.c core/runtime/log.c core/base/names.c core/base/netguard.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/config.h"
#include "runtime/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pr_config *cfg = NULL;
	char err[1024] = "";
	char *text;
	int rc;

	if (size > 65536 || memmem(data, size, "_file", 5))
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = pr_config_parse(text, NULL, &cfg, err, sizeof(err));
	if (rc < 0 && (cfg || !err[0] || (rc != -EINVAL && rc != -ENOMEM)))
		abort();
	if (rc == 0 && (!cfg || !cfg->db_conninfo || !cfg->admin_token))
		abort();
	pr_config_free(cfg);
	free(text);
	return 0;
}
