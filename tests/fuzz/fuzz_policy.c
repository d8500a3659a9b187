/*
 * fuzz_policy.c - libFuzzer target for the policy document (PUT
 * /admin/v1/policy; core/domain/policy_io.c): the input is a document. Its top
 * level is checked (pr_policy_doc_check), each channel parsed as the
 * admin API does (pr_chan_parse, core/domain/catalogue.c), and the plan of an
 * import computed twice: against an empty stored policy and against the
 * document itself (which must change nothing). Never a crash or a leak; a
 * refusal names its field.
 *
 * Seeds: tests/fuzz/corpus/fuzz_policy/.
 */
// FUZZ_CORE: core/domain/policy_io.c core/domain/catalogue.c core/domain/tz.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "domain/catalogue.h"
#include "domain/policy_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, 0, NULL);
	struct pr_policy_parts empty, parts;
	struct pr_policy_plan plan;
	char field[128] = "", err[512] = "";
	json_t *ch, *chans;
	size_t i;
	int rc;

	if (!doc)
		return 0;
	rc = pr_policy_doc_check(doc, field, sizeof(field), err, sizeof(err));
	if (rc < 0) {
		if (rc != -EINVAL || !err[0])
			abort();
		goto out;
	}
	/* the channels as the admin API normalises them (valid ones) */
	chans = json_array();
	json_array_foreach(json_object_get(doc, "channels"), i, ch) {
		struct pr_chan_spec spec;
		json_t *norm;

		if (pr_chan_parse(ch, &spec, err, sizeof(err)) < 0) {
			if (!err[0])
				abort();
			continue;
		}
		norm = pr_chan_to_json(&spec);
		if (norm) {
			json_object_set_new(
				norm, "refund_timeout_s",
				json_integer(spec.refund_timeout_s));
			json_array_append_new(chans, norm);
		}
		pr_chan_clear(&spec);
	}
	empty.channels = json_array();
	empty.whitelist = json_array();
	empty.rules = json_array();
	empty.overrides = json_array();
	parts.channels = chans;
	parts.whitelist = json_object_get(doc, "whitelist");
	parts.rules = json_object_get(doc, "rules");
	parts.overrides = json_object_get(doc, "code_overrides");
	if (pr_policy_plan(&empty, &parts, &plan, field, sizeof(field), err,
			   sizeof(err)) == 0)
		pr_policy_plan_clear(&plan);
	if (pr_policy_plan(&parts, &parts, &plan, field, sizeof(field), err,
			   sizeof(err)) == 0)
		pr_policy_plan_clear(&plan);
	json_decref(empty.channels);
	json_decref(empty.whitelist);
	json_decref(empty.rules);
	json_decref(empty.overrides);
	json_decref(chans);
out:
	json_decref(doc);
	return 0;
}
