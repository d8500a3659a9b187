/*
 * cfgtest.c - `payrouted -t`'s check of the stored channels (see
 * cfgtest.h). nginx -t answers "would this configuration load?"; for
 * payrouted that includes the channels a reload reads from the store, so
 * -t reads them too (one SELECT on policy_snapshot, nothing written) and
 * checks every channel whose driver is loaded: its driver_config against
 * the keys the driver declares (unknown keys with a suggestion, types,
 * required keys for online channels), then, for an online channel, the
 * driver's own init, as the reload would run it. A store that cannot be
 * reached is said and skipped: the file and the drivers were checked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "runtime/cfgtest.h"
#include "domain/drvobj.h"
#include "domain/drvschema.h"
#include "runtime/services.h"

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

/* Checks one channel; returns 1 when it has a problem (printed). */
static int check_channel(const struct pr_driver_set *set, json_t *ch, FILE *out)
{
	const char *code = str(ch, "code"), *driver = str(ch, "driver");
	json_t *dc = json_object_get(ch, "driver_config");
	int online = strcmp(str(ch, "status"), "online") == 0;
	struct payroute_conf conf;
	struct pr_module *m = pr_driver_set_find(set, driver);
	char field[160], msg[512], derr[256] = "";
	void *state = NULL;
	int rc;

	if (!m) {
		if (!online)
			return 0;
		fprintf(out,
			"payrouted: channel %s (online): driver %s is not "
			"loaded\n",
			code, driver);
		return 1;
	}
	if (!dc)
		dc = json_object();
	else
		json_incref(dc);
	rc = 0;
	if (pr_schema_check(&m->schema, driver, dc, "driver_config",
			    online ? 0 : PR_SCHEMA_ALLOW_MISSING, field,
			    sizeof(field), msg, sizeof(msg)) != PR_SCHEMA_OK) {
		fprintf(out, "payrouted: channel %s: %s\n", code, msg);
		rc = 1;
	} else if (online) {
		conf.root = dc;
		if (m->desc->init(pr_services(), code, &conf, &state, derr,
				  sizeof(derr)) < 0) {
			fprintf(out, "payrouted: channel %s: driver %s: %s\n",
				code, driver, derr[0] ? derr : "init failed");
			rc = 1;
		} else if (state && m->desc->fini) {
			m->desc->fini(state);
		}
	}
	json_decref(dc);
	return rc;
}

int pr_cfgtest_channels(const struct pr_config *cfg,
			const struct pr_driver_set *set, FILE *out)
{
	static const char *const keys[] = { "dbname", "connect_timeout", NULL };
	const char *values[] = { cfg->db_conninfo, PR_CFGTEST_CONNECT_S, NULL };
	PGconn *conn;
	PGresult *res = NULL;
	const char *state;
	json_t *chans = NULL, *ch;
	size_t i, problems = 0;
	int rc = -1;

	conn = PQconnectdbParams(keys, values, 1);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		fprintf(out,
			"payrouted: channels not checked: the store is not "
			"reachable: %s",
			conn ? PQerrorMessage(conn) : "out of memory\n");
		goto out;
	}
	res = PQexec(conn, "SELECT channels::text FROM policy_snapshot");
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, "42P01") == 0) {
		/* undefined_table: a new database (contrib/dev.sh up's
		 * first start), not a problem */
		fprintf(out, "payrouted: channels not checked: the store has "
			     "no schema yet (payrouted applies its migrations "
			     "when it starts)\n");
		goto out;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(out,
			"payrouted: channels not checked: cannot read them "
			"(is the schema migrated?): %s",
			PQresultErrorMessage(res)[0] ?
				PQresultErrorMessage(res) :
				"no policy_snapshot row\n");
		goto out;
	}
	chans = PQgetisnull(res, 0, 0) ?
			json_array() :
			json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!json_is_array(chans)) {
		fprintf(out, "payrouted: channels not checked: the store "
			     "gave no JSON array\n");
		goto out;
	}
	json_array_foreach(chans, i, ch)
		problems += (size_t)check_channel(set, ch, out);
	fprintf(out,
		"payrouted: %zu stored channel(s) checked against the "
		"drivers: %zu problem(s)\n",
		json_array_size(chans), problems);
	rc = (int)problems;
out:
	json_decref(chans);
	PQclear(res);
	PQfinish(conn);
	return rc;
}
