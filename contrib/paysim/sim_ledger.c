/*
 * sim_ledger.c - the simulator's truth: its ledger of orders, refunds and
 * payouts with their states, the state changes that happen on their own
 * (the payer paying after notify_delay_ms, refunds and transfers finishing),
 * the notifications those changes trigger (through the protocol modules,
 * shaped by the scripted callback faults), and the fault scripts
 * themselves. Lookups are by hash (string keys "<channel>|<number>"), so
 * the ledger stays cheap with many orders; lists keep creation order for
 * /_sim/ledger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "sim.h"

/* ------------------------------------------------------------------------ */
/* Hash map and vectors                                                     */
/* ------------------------------------------------------------------------ */

struct sim_map_ent {
	char *key;
	void *val;
	struct sim_map_ent *next;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void sim_map_init(struct sim_map *m)
{
	memset(m, 0, sizeof(*m));
}

void *sim_map_get(const struct sim_map *m, const char *key)
{
	struct sim_map_ent *e;

	if (!m->nb)
		return NULL;
	for (e = m->b[hash_str(key) % m->nb]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->val;
	return NULL;
}

static int map_grow(struct sim_map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct sim_map_ent **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nb; i++) {
		struct sim_map_ent *e = m->b[i], *n;

		for (; e; e = n) {
			size_t h = hash_str(e->key) % nb;

			n = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

int sim_map_put(struct sim_map *m, const char *key, void *val)
{
	struct sim_map_ent *e;
	size_t h;

	if (m->n >= m->nb && map_grow(m) != 0)
		return -ENOMEM;
	h = hash_str(key) % m->nb;
	for (e = m->b[h]; e; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			e->val = val;
			return 0;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return -ENOMEM;
	}
	e->val = val;
	e->next = m->b[h];
	m->b[h] = e;
	m->n++;
	return 0;
}

void sim_map_del(struct sim_map *m, const char *key)
{
	struct sim_map_ent **pp;

	if (!m->nb)
		return;
	for (pp = &m->b[hash_str(key) % m->nb]; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			struct sim_map_ent *e = *pp;

			*pp = e->next;
			free(e->key);
			free(e);
			m->n--;
			return;
		}
	}
}

void sim_map_clear(struct sim_map *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->nb; i++) {
		struct sim_map_ent *e = m->b[i], *n;

		for (; e; e = n) {
			n = e->next;
			if (free_val)
				free_val(e->val);
			free(e->key);
			free(e);
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

void sim_map_foreach(const struct sim_map *m,
		     void (*fn)(const char *key, void *val, void *arg),
		     void *arg)
{
	for (size_t i = 0; i < m->nb; i++)
		for (const struct sim_map_ent *e = m->b[i]; e; e = e->next)
			fn(e->key, e->val, arg);
}

static int vec_push(struct sim_vec *v, void *p)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		void **n = realloc(v->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		v->v = n;
		v->cap = cap;
	}
	v->v[v->n++] = p;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */
/* ------------------------------------------------------------------------ */

static const char *const chan_names[] = { "alipay", "wechat", "bank" };

const char *sim_chan_name(enum sim_chan c)
{
	return (unsigned)c < 3 ? chan_names[c] : "?";
}

int sim_chan_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, chan_names[i]) == 0)
			return i;
	return -1;
}

const char *sim_state_name(enum sim_state st)
{
	switch (st) {
	case SIM_PENDING:
		return "pending";
	case SIM_SUCCESS:
		return "success";
	case SIM_FAILED:
		return "failed";
	case SIM_CLOSED:
		return "closed";
	case SIM_PROCESSING:
		return "processing";
	}
	return "?";
}

static void mk_key(char *buf, size_t len, enum sim_chan c, const char *no)
{
	snprintf(buf, len, "%d|%s", (int)c, no);
}

/* ------------------------------------------------------------------------ */
/* Scripts                                                                  */
/* ------------------------------------------------------------------------ */

int sim_fault_lookup(struct sim *s, const char *key1, const char *key2,
		     struct sim_fault *out)
{
	const struct sim_fault *f = NULL;

	if (key1 && *key1)
		f = sim_map_get(&s->scripts, key1);
	if (!f && key2 && *key2)
		f = sim_map_get(&s->scripts, key2);
	if (!f && s->wild &&
	    (s->wild_rate >= 1.0 ||
	     (double)random() / ((double)RAND_MAX + 1.0) < s->wild_rate))
		f = s->wild;
	if (!f) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	*out = *f;
	return 1;
}

static int pick(const char *v, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = i + 1;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_faults(json_t *j, struct sim_fault *f, char *err,
			size_t errlen)
{
	static const char *const pays[] = { "success", "fail", "never", NULL };
	static const char *const cbs[] = {
		"drop",		 "duplicate",	 "delay",
		"bad_signature", "out_of_order", "stale",
		"no_amount",	 "wrong_amount", NULL
	};
	static const char *const refunds[] = { "processing", "account_closed",
					       NULL };
	const char *k;
	json_t *v;
	int x;

	json_object_foreach(j, k, v) {
		const char *sv = json_string_value(v);

		if (strcmp(k, "delay_ms") == 0 && json_is_integer(v) &&
		    json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= 600000) {
			f->delay_ms = (int)json_integer_value(v);
		} else if (strcmp(k, "timeout") == 0 && json_is_boolean(v)) {
			f->timeout = json_is_true(v);
		} else if (strcmp(k, "http_status") == 0 &&
			   json_is_integer(v) && json_integer_value(v) >= 100 &&
			   json_integer_value(v) <= 599) {
			f->http_status = (int)json_integer_value(v);
		} else if (strcmp(k, "code") == 0 && sv &&
			   strlen(sv) < sizeof(f->code)) {
			snprintf(f->code, sizeof(f->code), "%s", sv);
		} else if (strcmp(k, "sub_code") == 0 && sv &&
			   strlen(sv) < sizeof(f->sub_code)) {
			snprintf(f->sub_code, sizeof(f->sub_code), "%s", sv);
		} else if (strcmp(k, "pay") == 0 && sv &&
			   pick(sv, pays, &x) == 0) {
			f->pay = (enum sim_pay_fault)x;
		} else if (strcmp(k, "callback") == 0 && sv &&
			   strncmp(sv, "delay:", 6) == 0) {
			char *end;
			long ms = strtol(sv + 6, &end, 10);

			if (*end || ms < 0 || ms > 600000)
				goto bad;
			f->callback = SIM_CB_DELAY;
			f->callback_delay_ms = (int)ms;
		} else if (strcmp(k, "callback") == 0 && sv &&
			   strncmp(sv, "out_of_order:", 13) == 0) {
			char *end;
			long ms = strtol(sv + 13, &end, 10);

			if (*end || end == sv + 13 || ms < 1 || ms > 600000)
				goto bad;
			f->callback = SIM_CB_OUT_OF_ORDER;
			f->callback_delay_ms = (int)ms;
		} else if (strcmp(k, "callback") == 0 && sv &&
			   pick(sv, cbs, &x) == 0 && x != SIM_CB_DELAY) {
			f->callback = (enum sim_cb_fault)x;
		} else if (strcmp(k, "refund") == 0 && sv &&
			   pick(sv, refunds, &x) == 0) {
			f->refund = (enum sim_refund_fault)x;
		} else {
			goto bad;
		}
		continue;
bad:
		snprintf(err, errlen, "faults.%s: bad value", k);
		return -EINVAL;
	}
	return 0;
}

int sim_script_set(struct sim *s, json_t *req, char *err, size_t errlen)
{
	const char *order = json_string_value(json_object_get(req, "order"));
	json_t *fj = json_object_get(req, "faults"), *rate;
	struct sim_fault *f = NULL;
	int rc;

	if (!order || !*order) {
		snprintf(err, errlen,
			 "order (an out_trade_no or \"*\") is "
			 "required");
		return -EINVAL;
	}
	if (fj && !json_is_null(fj)) {
		if (!json_is_object(fj)) {
			snprintf(err, errlen, "faults must be an object");
			return -EINVAL;
		}
		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		rc = parse_faults(fj, f, err, errlen);
		if (rc != 0) {
			free(f);
			return rc;
		}
	}
	if (strcmp(order, "*") == 0) {
		rate = json_object_get(req, "rate");
		if (rate &&
		    (!json_is_number(rate) || json_number_value(rate) < 0 ||
		     json_number_value(rate) > 1)) {
			free(f);
			snprintf(err, errlen, "rate must be within 0..1");
			return -EINVAL;
		}
		free(s->wild);
		s->wild = f;
		s->wild_rate = rate ? json_number_value(rate) : 1.0;
		return 0;
	}
	free(sim_map_get(&s->scripts, order));
	sim_map_del(&s->scripts, order);
	if (f && sim_map_put(&s->scripts, order, f) != 0) {
		free(f);
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Notifications of state changes                                           */
/* ------------------------------------------------------------------------ */

static void dispatch(struct sim *s, char kind, void *ent, enum sim_chan c,
		     const char *key, const char *k1, const char *k2)
{
	struct payroute_http_req req;
	struct sim_sig sig = { 0 };
	struct sim_fault f;
	const char *ack = NULL;
	int rc, delay = 0;

	sim_fault_lookup(s, k1, k2, &f);
	if (f.callback == SIM_CB_DROP) {
		pr_debug("paysim: notification for %s dropped (scripted)", key);
		return;
	}
	pr_http_req_init(&req);
	switch (c) {
	case SIM_ALIPAY:
		rc = sim_alipay_notice(s, kind, ent, f.callback, &req, &sig,
				       &ack);
		break;
	case SIM_WECHAT:
		rc = sim_wechat_notice(s, kind, ent, f.callback, &req, &sig,
				       &ack);
		break;
	default:
		rc = sim_bank_notice(s, kind, ent, f.callback, &req, &sig,
				     &ack);
		break;
	}
	if (rc != 0)
		goto out;
	if (f.callback == SIM_CB_DELAY)
		delay = f.callback_delay_ms;
	else if (f.callback == SIM_CB_OUT_OF_ORDER)
		/* held back: later notifications overtake it */
		delay = f.callback_delay_ms ? f.callback_delay_ms :
			s->notify_delay_ms * 10 > 500 ?
					      s->notify_delay_ms * 10 :
					      500;
	sim_notify_send(s, &req, &sig, ack, kind, c, key, delay);
	if (f.callback == SIM_CB_DUPLICATE)
		sim_notify_send(s, &req, &sig, ack, kind, c, key, delay + 20);
out:
	pr_http_req_clear(&req);
	sim_sig_clear(&sig);
}

void sim_ledger_notified(struct sim *s, char kind, enum sim_chan chan,
			 const char *key, int acked)
{
	char k[128];

	mk_key(k, sizeof(k), chan, key);
	if (kind == 'o') {
		struct sim_order *o = sim_map_get(&s->orders, k);

		if (o) {
			o->notify_sent++;
			o->notify_acked += acked;
		}
	} else if (kind == 'r') {
		struct sim_refund *r = sim_map_get(&s->refunds, k);

		if (r) {
			r->notify_sent++;
			r->notify_acked += acked;
		}
	} else {
		struct sim_payout *p = sim_map_get(&s->payouts, k);

		if (p) {
			p->notify_sent++;
			p->notify_acked += acked;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Orders                                                                   */
/* ------------------------------------------------------------------------ */

struct sim_order *sim_order_find(struct sim *s, enum sim_chan c,
				 const char *out_trade_no)
{
	char k[128];

	mk_key(k, sizeof(k), c, out_trade_no);
	return sim_map_get(&s->orders, k);
}

struct sim_order *sim_order_find_trade_no(struct sim *s, enum sim_chan c,
					  const char *trade_no)
{
	char k[128];

	mk_key(k, sizeof(k), c, trade_no);
	return sim_map_get(&s->orders_by_trade_no, k);
}

static int settle_state(struct sim_order *o, int success)
{
	if (o->state != SIM_PENDING)
		return -EALREADY;
	o->state = success ? SIM_SUCCESS : SIM_FAILED;
	o->paid_ms = sim_now_ms();
	pr_debug("paysim: %s order %s %s", sim_chan_name(o->chan),
		 o->out_trade_no, success ? "paid" : "failed");
	return 0;
}

static void order_notify(struct sim *s, void *arg)
{
	struct sim_order *o = arg;

	dispatch(s, 'o', o, o->chan, o->out_trade_no, o->out_trade_no, NULL);
}

int sim_order_settle(struct sim *s, struct sim_order *o, int success)
{
	int rc = settle_state(o, success);

	if (rc == 0)
		order_notify(s, o);
	return rc;
}

int sim_order_settle_answered(struct sim *s, struct sim_order *o, int success)
{
	int rc = settle_state(o, success);

	if (rc == 0)
		sim_timer_add(s, 0, order_notify, o, NULL);
	return rc;
}

static void payer_acts(struct sim *s, void *arg)
{
	struct sim_order *o = arg;
	struct sim_fault f;

	if (o->state != SIM_PENDING)
		return;
	sim_fault_lookup(s, o->out_trade_no, NULL, &f);
	switch (f.pay) {
	case SIM_PAY_SUCCESS:
		sim_order_settle(s, o, 1);
		break;
	case SIM_PAY_FAIL:
		sim_order_settle(s, o, 0);
		break;
	case SIM_PAY_NEVER:
		break;
	case SIM_PAY_AUTO:
		if (s->auto_pay)
			sim_order_settle(s, o, 1);
		break;
	}
}

struct sim_order *sim_order_new(struct sim *s, enum sim_chan c,
				const char *merchant, const char *out_trade_no,
				int64_t amount, const char *currency,
				const char *notify_url)
{
	struct sim_order *o = calloc(1, sizeof(*o));
	char k[128];

	if (!o)
		return NULL;
	o->chan = c;
	snprintf(o->merchant, sizeof(o->merchant), "%s", merchant);
	snprintf(o->out_trade_no, sizeof(o->out_trade_no), "%s", out_trade_no);
	snprintf(o->currency, sizeof(o->currency), "%s",
		 currency ? currency : "CNY");
	o->amount = amount;
	o->created_ms = sim_now_ms();
	o->notify_url = notify_url && *notify_url ? strdup(notify_url) : NULL;
	sim_new_id(s,
		   c == SIM_ALIPAY ? "2088" :
		   c == SIM_WECHAT ? "4200" :
				     "",
		   o->trade_no, sizeof(o->trade_no));
	sim_random_str(o->token, 24);
	mk_key(k, sizeof(k), c, out_trade_no);
	if (sim_map_put(&s->orders, k, o) != 0 ||
	    vec_push(&s->order_list, o) != 0) {
		sim_map_del(&s->orders, k);
		free(o->notify_url);
		free(o);
		return NULL;
	}
	mk_key(k, sizeof(k), c, o->trade_no);
	sim_map_put(&s->orders_by_trade_no, k, o);
	sim_timer_add(s, s->notify_delay_ms, payer_acts, o, NULL);
	return o;
}

/* ------------------------------------------------------------------------ */
/* Refunds                                                                  */
/* ------------------------------------------------------------------------ */

struct sim_refund *sim_refund_find(struct sim *s, enum sim_chan c,
				   const char *out_refund_no)
{
	char k[128];

	mk_key(k, sizeof(k), c, out_refund_no);
	return sim_map_get(&s->refunds, k);
}

static void refund_finish(struct sim *s, struct sim_refund *r)
{
	if (r->fault == SIM_REFUND_PROCESSING)
		return;
	if (r->fault == SIM_REFUND_ACCOUNT_CLOSED) {
		r->state = SIM_FAILED;
		r->order->refunded -= r->amount;
	} else {
		r->state = SIM_SUCCESS;
	}
	r->done_ms = sim_now_ms();
	dispatch(s, 'r', r, r->chan, r->out_refund_no, r->out_refund_no,
		 r->order->out_trade_no);
}

static void refund_timer(struct sim *s, void *arg)
{
	refund_finish(s, arg);
}

struct sim_refund *sim_refund_new(struct sim *s, struct sim_order *o,
				  const char *out_refund_no, int64_t amount,
				  const char *notify_url, int sync)
{
	struct sim_refund *r = calloc(1, sizeof(*r));
	struct sim_fault f;
	char k[128];

	if (!r)
		return NULL;
	r->chan = o->chan;
	r->order = o;
	r->amount = amount;
	snprintf(r->merchant, sizeof(r->merchant), "%s", o->merchant);
	snprintf(r->out_refund_no, sizeof(r->out_refund_no), "%s",
		 out_refund_no);
	sim_new_id(s, o->chan == SIM_WECHAT ? "5030" : "", r->refund_id,
		   sizeof(r->refund_id));
	r->notify_url = notify_url && *notify_url ? strdup(notify_url) :
			o->notify_url		  ? strdup(o->notify_url) :
						    NULL;
	r->created_ms = sim_now_ms();
	r->state = SIM_PROCESSING;
	sim_fault_lookup(s, out_refund_no, o->out_trade_no, &f);
	r->fault = f.refund;
	mk_key(k, sizeof(k), o->chan, out_refund_no);
	if (sim_map_put(&s->refunds, k, r) != 0 ||
	    vec_push(&s->refund_list, r) != 0) {
		sim_map_del(&s->refunds, k);
		free(r->notify_url);
		free(r);
		return NULL;
	}
	o->refunded += amount;
	if (sync)
		refund_finish(s, r);
	else if (r->fault != SIM_REFUND_PROCESSING)
		sim_timer_add(s, s->notify_delay_ms, refund_timer, r, NULL);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Payouts                                                                  */
/* ------------------------------------------------------------------------ */

struct sim_payout *sim_payout_find(struct sim *s, enum sim_chan c,
				   const char *out_no)
{
	char k[128];

	mk_key(k, sizeof(k), c, out_no);
	return sim_map_get(&s->payouts, k);
}

static void payout_finish(struct sim *s, void *arg)
{
	struct sim_payout *p = arg;
	struct sim_fault f;

	sim_fault_lookup(s, p->out_no, p->detail_no, &f);
	if (f.pay == SIM_PAY_NEVER || f.refund == SIM_REFUND_PROCESSING)
		return;
	p->state = f.pay == SIM_PAY_FAIL ? SIM_FAILED : SIM_SUCCESS;
	p->done_ms = sim_now_ms();
	dispatch(s, 'p', p, p->chan, p->out_no, p->out_no, p->detail_no);
}

struct sim_payout *sim_payout_new(struct sim *s, enum sim_chan c,
				  const char *merchant, const char *out_no,
				  int64_t amount, const char *notify_url,
				  int sync)
{
	struct sim_payout *p = calloc(1, sizeof(*p));
	char k[128];

	if (!p)
		return NULL;
	p->chan = c;
	p->amount = amount;
	snprintf(p->merchant, sizeof(p->merchant), "%s", merchant);
	snprintf(p->out_no, sizeof(p->out_no), "%s", out_no);
	sim_new_id(s,
		   c == SIM_ALIPAY ? "2088" :
		   c == SIM_WECHAT ? "1330" :
				     "",
		   p->payout_id, sizeof(p->payout_id));
	p->notify_url = notify_url && *notify_url ? strdup(notify_url) : NULL;
	p->created_ms = sim_now_ms();
	p->state = SIM_PROCESSING;
	mk_key(k, sizeof(k), c, out_no);
	if (sim_map_put(&s->payouts, k, p) != 0 ||
	    vec_push(&s->payout_list, p) != 0) {
		sim_map_del(&s->payouts, k);
		free(p->notify_url);
		free(p);
		return NULL;
	}
	if (sync)
		payout_finish(s, p);
	else
		sim_timer_add(s, s->notify_delay_ms, payout_finish, p, NULL);
	return p;
}

/* ------------------------------------------------------------------------ */
/* Dump and reset                                                           */
/* ------------------------------------------------------------------------ */

json_t *sim_ledger_json(struct sim *s)
{
	json_t *orders = json_array(), *refunds = json_array(),
	       *payouts = json_array();

	for (size_t i = 0; i < s->order_list.n; i++) {
		struct sim_order *o = s->order_list.v[i];

		json_array_append_new(
			orders,
			json_pack(
				"{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:I,"
				"s:I,s:i,s:i}",
				"channel", sim_chan_name(o->chan), "merchant",
				o->merchant, "out_trade_no", o->out_trade_no,
				"trade_no", o->trade_no, "trade_type",
				o->trade_type, "amount", (json_int_t)o->amount,
				"refunded", (json_int_t)o->refunded, "currency",
				o->currency, "state", sim_state_name(o->state),
				"created_ms", (json_int_t)o->created_ms,
				"paid_ms", (json_int_t)o->paid_ms,
				"notify_sent", o->notify_sent, "notify_acked",
				o->notify_acked));
	}
	for (size_t i = 0; i < s->refund_list.n; i++) {
		struct sim_refund *r = s->refund_list.v[i];

		json_array_append_new(
			refunds,
			json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:I,s:i,s:i}",
				  "channel", sim_chan_name(r->chan), "merchant",
				  r->merchant, "out_refund_no",
				  r->out_refund_no, "refund_id", r->refund_id,
				  "out_trade_no", r->order->out_trade_no,
				  "amount", (json_int_t)r->amount, "state",
				  sim_state_name(r->state), "created_ms",
				  (json_int_t)r->created_ms, "notify_sent",
				  r->notify_sent, "notify_acked",
				  r->notify_acked));
	}
	for (size_t i = 0; i < s->payout_list.n; i++) {
		struct sim_payout *p = s->payout_list.v[i];

		json_array_append_new(
			payouts,
			json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:I,s:i,s:i}",
				  "channel", sim_chan_name(p->chan), "merchant",
				  p->merchant, "out_no", p->out_no, "payout_id",
				  p->payout_id, "amount", (json_int_t)p->amount,
				  "state", sim_state_name(p->state),
				  "created_ms", (json_int_t)p->created_ms,
				  "notify_sent", p->notify_sent, "notify_acked",
				  p->notify_acked));
	}
	return json_pack("{s:o,s:o,s:o}", "orders", orders, "refunds", refunds,
			 "payouts", payouts);
}

json_t *sim_stats_json(struct sim *s)
{
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:o}", "ok", 1, "orders",
			 (json_int_t)s->order_list.n, "refunds",
			 (json_int_t)s->refund_list.n, "payouts",
			 (json_int_t)s->payout_list.n, "requests",
			 (json_int_t)s->requests, "signer", sim_signer_json(s));
}

void sim_ledger_reset(struct sim *s)
{
	sim_timers_cancel(s);
	for (size_t i = 0; i < s->order_list.n; i++) {
		struct sim_order *o = s->order_list.v[i];

		free(o->notify_url);
		free(o);
	}
	for (size_t i = 0; i < s->refund_list.n; i++) {
		struct sim_refund *r = s->refund_list.v[i];

		free(r->notify_url);
		free(r);
	}
	for (size_t i = 0; i < s->payout_list.n; i++) {
		struct sim_payout *p = s->payout_list.v[i];

		free(p->notify_url);
		free(p);
	}
	free(s->order_list.v);
	free(s->refund_list.v);
	free(s->payout_list.v);
	memset(&s->order_list, 0, sizeof(s->order_list));
	memset(&s->refund_list, 0, sizeof(s->refund_list));
	memset(&s->payout_list, 0, sizeof(s->payout_list));
	sim_map_clear(&s->orders, NULL);
	sim_map_clear(&s->orders_by_trade_no, NULL);
	sim_map_clear(&s->refunds, NULL);
	sim_map_clear(&s->payouts, NULL);
	sim_map_clear(&s->scripts, free);
	free(s->wild);
	s->wild = NULL;
	s->wild_rate = 0;
}
