#!/usr/bin/env bash
# t_approvals.sh - four eyes on money (issue 14, doc/design.md §11)
# against the channel simulator and a real PostgreSQL, with
# approvals.threshold 1000 (minor units):
#   - operator alice settles a payment of 5000 as succeeded: 202, a
#     pending approval, nothing applied; again: 409 approval_pending;
#   - alice approving her own: 403 own_request, audited; a viewer: 403;
#   - operator bob approves: applied once (the payment succeeded, one
#     settle event by bob naming the approval and alice, one merchant
#     notification), audited; approving again: 409 not_pending;
#   - below the threshold, and settling as failed: applied at once;
#   - reject: 400 without a reason, then rejected and nothing applied;
#   - the target moved meanwhile: the approval fails, saying why;
#   - an overdue refund resolved as refunded_offline, another settled as
#     succeeded: approved, applied;
#     resolved as buyer_contacted: applied at once;
#   - a policy import (approvals.policy_import): 202 whatever it changes,
#     the document not shown (secrets); an operator may not approve it
#     (policy.write), an admin does: imported once, audited, the approval
#     applied in the import's transaction; a dry run is not held;
#   - expiry (approvals.expire_s, by reload): expired, audited, refused;
#   - the store's rules: no self-decision, forward only, one pending;
#   - the pending gauge payroute_approvals_pending;
#   - payroutectl: settle answered by a pending approval, approvals list,
#     approve (one's own refused), reject (--reason required).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pay.sh"

require_pg
require_tools jq curl openssl python3
CTL=$top_builddir/payroutectl
[ -x "$CTL" ] || fail "$CTL is not built"
pg_start
sim_start

new_instance a
install_drivers "$DRIVER_DIR" wechat
# The payments left unknown below are channel timeouts: the circuit
# breaker (doc/design.md §4) would open wx_native at its default 5, which
# is t_breaker's business, not this test's.
TOP_EXTRA=',
	"http_client": { "timeout_ms": 1000, "connect_timeout_ms": 500 },
	"completion": { "schedule": "300s", "interval_ms": 200, "batch": 8 },
	"notify": { "schedule": "1s", "interval_ms": 200 },
	"approvals": { "threshold": 1000, "expire_s": 600, "policy_import": true },
	"breaker": { "failures": 64 }'
write_conf
daemon_start
wait_ready
add_channel "$(chan wx_native wechat wechat_pay native_qr 100 |
	jq -c '.refund_window_days = 365')"
merchant_create shop1
SINK=$SIM/_sim/sink/shop1

declare -A TOK
TOK[admin]=$TOKEN
for spec in alice:operator bob:operator vera:viewer; do
	name=${spec%%:*}
	send POST /admin/v1/operators "{\"name\":\"$name\",\"roles\":[\"${spec#*:}\"]}"
	expect_code 201 "create $name"
	send POST "/admin/v1/operators/$name/tokens" '{"label":"t_approvals"}'
	expect_code 201 "a token for $name"
	TOK[$name]=$(json .token)
done
# as NAME METHOD PATH [BODY]: an admin request with NAME's token.
as() {
	local keep=$TOKEN

	TOKEN=${TOK[$1]}
	send "$2" "$3" "${4-}"
	TOKEN=$keep
}
pass "operators alice, bob (operator) and vera (viewer)"

# unknown NO AMOUNT: a payment the channel never answers (left unknown,
# its check 300 s away); sets P.
unknown() {
	sim_script '{"order":"*","rate":1,"faults":{"timeout":true,"callback":"drop"}}'
	pay "{\"merchant_order_no\":\"$1\",\"amount\":$2,\"currency\":\"CNY\",\"method\":\"wechat_pay\",\"environment\":\"native_qr\",\"notify_url\":\"$SINK\"}"
	expect_code 201 "payment $1"
	P=$(json .id)
	[ "$(json .status)" = unknown ] || fail "$1 is not unknown: $RESP_BODY"
	clear_script
}
SB='{"outcome":"succeeded","note":"the statement shows it paid","evidence":"4200001234202611010000001"}'
events() { pq -c "SELECT count(*) FROM order_events WHERE order_id = '$1' AND event = 'settle'"; }
notes() { pq -c "SELECT count(*) FROM merchant_notifications WHERE order_id = '$1'"; }
astate() { pq -c "SELECT state FROM approvals WHERE id = $1"; }

# ----------------------------------------------- request, own, viewer
unknown u-1 5000
P1=$P
as alice POST "/admin/v1/payments/$P1/settle" "$SB"
expect_code 202 "alice settles 5000 as succeeded"
A1=$(json .approval.id)
[ "$(json '.approval | [.state, .kind, .target, .amount, .currency, .requested_by, .request.outcome, .request.evidence] | join(",")')" = "pending,payment.settle,$P1,5000,CNY,alice,succeeded,4200001234202611010000001" ] ||
	fail "the approval: $RESP_BODY"
[ "$(pq -c "SELECT status FROM payments WHERE id = '$P1'"):$(events "$P1"):$(notes "$P1")" = unknown:0:0 ] ||
	fail "a pending approval applied something"
[ "$(pq -c "SELECT actor FROM audit_log WHERE action = 'approval_requested' AND object_id = '$A1'")" = alice ] ||
	fail "the request is not audited"
wait_log "payment.settle of $P1 by alice waits for a second operator" 5 || fail "the request is not logged"
as alice POST "/admin/v1/payments/$P1/settle" "$SB"
expect_code 409 "a second request for the same payment"
[ "$(json .error.code)" = approval_pending ] || fail "second request: $RESP_BODY"
pass "settling 5000 (threshold 1000) as succeeded: 202 pending, nothing applied, audited; a second request 409"

as alice POST "/admin/v1/approvals/$A1/approve"
expect_code 403 "alice approves her own"
[ "$(json .error.code)" = own_request ] || fail "own approval: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'approval_refused' AND actor = 'alice' AND object_id = '$A1'")" = 1 ] ||
	fail "the refusal is not audited"
as alice POST "/admin/v1/approvals/$A1/reject" '{"reason":"changed my mind"}'
expect_code 403 "alice rejects her own"
as vera POST "/admin/v1/approvals/$A1/approve"
expect_code 403 "a viewer approves"
[ "$(json .error.code)" = forbidden ] || fail "viewer: $RESP_BODY"
as vera GET "/admin/v1/approvals?state=pending"
expect_code 200 "a viewer lists the pending approvals"
[ "$(json '[.items[].id] | join(",")')" = "$A1" ] || fail "pending list: $RESP_BODY"
[ "$(astate "$A1"):$(pq -c "SELECT status FROM payments WHERE id = '$P1'")" = pending:unknown ] ||
	fail "a refused decision changed something"
pass "own request: 403 own_request (audited); a viewer: 403 forbidden, but may list"

for i in $(seq 50); do
	[ "$(metric 'payroute_approvals_pending{kind="payment.settle"}')" = 1 ] && break
	sleep 0.2
done
[ "$(metric 'payroute_approvals_pending{kind="payment.settle"}')" = 1 ] ||
	fail "the pending gauge: $(metric 'payroute_approvals_pending{kind="payment.settle"}')"
pass "payroute_approvals_pending{kind=\"payment.settle\"} 1"

# ------------------------------------------------- approve: once
as bob POST "/admin/v1/approvals/$A1/approve"
expect_code 200 "bob approves"
[ "$(json '[.approval.state, .approval.decided_by, .result.status, .result.code] | join(",")')" = applied,bob,succeeded,SETTLED_SUCCEEDED ] ||
	fail "approved: $RESP_BODY"
[ "$(pq -c "SELECT status || ':' || paid_amount FROM payments WHERE id = '$P1'")" = succeeded:5000 ] ||
	fail "the payment after approval: $(pq -c "SELECT status, paid_amount FROM payments WHERE id = '$P1'")"
[ "$(pq -c "SELECT actor || ':' || from_status || '>' || to_status || ':' || (detail->>'approval') || ':' || (detail->>'requested_by') || ':' || (detail->>'evidence') FROM order_events WHERE order_id = '$P1' AND event = 'settle'")" = "bob:unknown>succeeded:$A1:alice:4200001234202611010000001" ] ||
	fail "the settle event: $(pq -c "SELECT * FROM order_events WHERE order_id = '$P1'")"
wait_sql "SELECT state FROM merchant_notifications WHERE order_id = '$P1' AND event = 'payment.succeeded'" delivered 15
[ "$(pq -c "SELECT string_agg(action || ':' || actor, ',' ORDER BY id) FROM audit_log WHERE object_kind = 'approval' AND object_id = '$A1'")" = "approval_requested:alice,approval_refused:alice,approval_refused:alice,approval_approved:bob,approval_applied:bob" ] ||
	fail "the approval's audit: $(pq -c "SELECT action, actor FROM audit_log WHERE object_id = '$A1'")"
[ "$(pq -c "SELECT actor || ':' || (after->>'requested_by') || ':' || (after->'order'->>'status') FROM audit_log WHERE action = 'settle' AND object_kind = 'payment' AND object_id = '$P1'")" = bob:alice:succeeded ] ||
	fail "the settle audit row: $(pq -c "SELECT * FROM audit_log WHERE object_id = '$P1'")"
as bob POST "/admin/v1/approvals/$A1/approve"
expect_code 409 "approving again"
[ "$(json .error.code)" = not_pending ] && json .error.message | grep -q "is applied by bob" || fail "again: $RESP_BODY"
as admin POST "/admin/v1/approvals/$A1/approve"
expect_code 409 "a third operator approving again"
sleep 1
[ "$(events "$P1"):$(notes "$P1")" = 1:1 ] ||
	fail "applied more than once: $(events "$P1") events, $(notes "$P1") notifications"
as admin GET "/admin/v1/approvals/$A1"
expect_code 200 "read the approval"
[ "$(json '.approval | [.state, .requested_by, .decided_by, (.applied_at != null)] | join(",")')" = applied,alice,bob,true ] ||
	fail "the approval read back: $RESP_BODY"
pass "bob approves: applied once (succeeded, one event by bob naming approval $A1 and alice, one notification delivered), audited; again 409 not_pending"

# ---------------------------------- below the threshold, or not money in
unknown u-2 999
as alice POST "/admin/v1/payments/$P/settle" "$SB"
expect_code 200 "settling 999 (below 1000)"
[ "$(json .status)" = succeeded ] || fail "999: $RESP_BODY"
unknown u-3 5000
as alice POST "/admin/v1/payments/$P/settle" '{"outcome":"failed","note":"not in the statement","evidence":"stmt-1"}'
expect_code 200 "settling 5000 as failed"
[ "$(json .status)" = failed ] || fail "failed: $RESP_BODY"
[ "$(pq -c "SELECT count(*) FROM approvals")" = 1 ] || fail "an approval for an action under the rule"
pass "below the threshold, or settled as failed: applied at once (no approval)"

# ------------------------------------------------------------- reject
unknown u-4 2000
P4=$P
as alice POST "/admin/v1/payments/$P4/settle" "$SB"
expect_code 202 "u-4"
A4=$(json .approval.id)
as bob POST "/admin/v1/approvals/$A4/reject" '{}'
expect_field "reject without a reason" reason "required"
as bob POST "/admin/v1/approvals/$A4/reject" '{"reason":"no such line in the statement"}'
expect_code 200 "bob rejects"
[ "$(json '[.approval.state, .approval.decided_by, .approval.reason] | join(",")')" = "rejected,bob,no such line in the statement" ] ||
	fail "rejected: $RESP_BODY"
[ "$(pq -c "SELECT status FROM payments WHERE id = '$P4'"):$(events "$P4")" = unknown:0 ] || fail "a rejection applied something"
[ "$(pq -c "SELECT actor || ':' || note FROM audit_log WHERE action = 'approval_rejected' AND object_id = '$A4'")" = "bob:no such line in the statement" ] ||
	fail "the rejection is not audited"
as admin POST "/admin/v1/approvals/$A4/approve"
expect_code 409 "approving a rejected one"
[ "$(json .error.code)" = not_pending ] || fail "approve rejected: $RESP_BODY"
pass "reject: 400 without a reason; rejected with it, nothing applied, audited; then 409"

# ---------------------------------------------- the target moved meanwhile
as alice POST "/admin/v1/payments/$P4/settle" "$SB"
expect_code 202 "u-4 asked again (the rejected one is no longer pending)"
A5=$(json .approval.id)
as alice POST "/admin/v1/payments/$P4/settle" '{"outcome":"closed","note":"the buyer never paid","evidence":"stmt-2"}'
expect_code 200 "u-4 closed meanwhile"
as bob POST "/admin/v1/approvals/$A5/approve"
expect_code 409 "approving after the payment moved"
[ "$(json .error.code)" = approval_failed ] && json .error.message | grep -q "closed, a final state" ||
	fail "moved meanwhile: $RESP_BODY"
[ "$(pq -c "SELECT state || ':' || decided_by || ':' || (error LIKE '%closed, a final state%') FROM approvals WHERE id = $A5")" = failed:bob:true ] ||
	fail "the failed approval: $(pq -c "SELECT * FROM approvals WHERE id = $A5")"
[ "$(pq -c "SELECT status FROM payments WHERE id = '$P4'"):$(events "$P4")" = closed:1 ] || fail "u-4 after the failed approval"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'approval_failed' AND actor = 'bob' AND object_id = '$A5'")" = 1 ] ||
	fail "the failure is not audited"
pass "the payment closed meanwhile: 409 approval_failed saying why, the approval marked failed (audited), nothing applied"

# ----------------------------------------------------- overdue refunds
overdue() { # NO AMOUNT: a paid payment past its refund window, refunded: overdue; sets R
	paid "$2" "$1"
	pq -c "UPDATE payments SET finished_at = now() - interval '400 days' WHERE id = '$PID'" >/dev/null
	refund "$PID" "r-$1" "$2"
	expect_code 201 "refund of $1"
	R=$(json .id)
	[ "$(json .status)" = overdue ] || fail "r-$1 is not overdue: $RESP_BODY"
}
overdue p-r1 3000
R1=$R
as alice POST "/admin/v1/refunds/$R1/resolve" '{"outcome":"refunded_offline","note":"paid in cash at the counter"}'
expect_code 202 "resolving 3000 as refunded_offline"
A6=$(json .approval.id)
[ "$(json '.approval | [.kind, .amount, .request.outcome] | join(",")')" = refund.resolve,3000,refunded_offline ] ||
	fail "the refund's approval: $RESP_BODY"
[ "$(pq -c "SELECT status FROM refunds WHERE id = '$R1'")" = overdue ] || fail "a pending resolve applied"
as bob POST "/admin/v1/approvals/$A6/approve"
expect_code 200 "bob approves the resolve"
[ "$(json '[.approval.state, .result.status, .result.resolution] | join(",")')" = applied,resolved,refunded_offline ] ||
	fail "resolve approved: $RESP_BODY"
[ "$(pq -c "SELECT actor || ':' || (detail->>'approval') || ':' || (detail->>'requested_by') FROM order_events WHERE order_id = '$R1' AND event = 'resolve'")" = "bob:$A6:alice" ] ||
	fail "the resolve event: $(pq -c "SELECT * FROM order_events WHERE order_id = '$R1'")"
[ "$(pq -c "SELECT actor FROM audit_log WHERE action = 'resolve' AND object_kind = 'refund' AND object_id = '$R1'")" = bob ] ||
	fail "the resolve is not audited"
overdue p-r2 3000
as alice POST "/admin/v1/refunds/$R/resolve" '{"outcome":"buyer_contacted","note":"the buyer withdrew the claim"}'
expect_code 200 "resolving as buyer_contacted (no money out)"
overdue p-r3 3000
R3=$R
as alice POST "/admin/v1/refunds/$R3/settle" '{"outcome":"succeeded","note":"the channel paid it late","evidence":"RFD-3"}'
expect_code 202 "settling a refund of 3000 as succeeded"
A11=$(json .approval.id)
[ "$(json .approval.kind)" = refund.settle ] || fail "the refund settlement's approval: $RESP_BODY"
as bob POST "/admin/v1/approvals/$A11/approve"
expect_code 200 "bob approves the refund's settlement"
[ "$(json '[.approval.state, .result.status] | join(",")')" = applied,succeeded ] || fail "refund settled: $RESP_BODY"
[ "$(pq -c "SELECT actor || ':' || (detail->>'approval') FROM order_events WHERE order_id = '$R3' AND event = 'settle'")" = "bob:$A11" ] ||
	fail "the refund's settle event"
pass "overdue refunds of 3000: resolved as refunded_offline and settled as succeeded, each approved by bob and applied once, audited; buyer_contacted applied at once"

# ---------------------------------------------------------- policy import
send POST /admin/v1/operators '{"name":"boss","roles":["admin"]}'
expect_code 201 "create boss"
send POST /admin/v1/operators/boss/tokens '{"label":"t_approvals"}'
TOK[boss]=$(json .token)
send GET /admin/v1/policy
expect_code 200 "export"
DOC=$(json '.channels |= map(if .code == "wx_native" then .weight = 77 else . end)')
as admin PUT '/admin/v1/policy?dry_run=1' "$DOC"
expect_code 200 "a dry run is not held for approval"
as admin PUT /admin/v1/policy "$DOC"
expect_code 202 "an import"
A8=$(json .approval.id)
[ "$(json '.approval | [.kind, (.target | test("^[0-9a-f]{64}$")), .request.channels, .amount] | map(tostring) | join(",")')" = policy.import,true,1,null ] ||
	fail "the import's approval: $RESP_BODY"
grep <<<"$RESP_BODY" -q driver_config && fail "the approval shows the document: $RESP_BODY"
[ "$(pq -c "SELECT weight FROM channels WHERE code = 'wx_native'")" = 100 ] || fail "a pending import changed the policy"
as admin PUT /admin/v1/policy "$DOC"
expect_code 409 "the same document again"
[ "$(json .error.code)" = approval_pending ] || fail "the same import again: $RESP_BODY"
as bob POST "/admin/v1/approvals/$A8/approve"
expect_code 403 "an operator approving an import"
[ "$(json .error.code)" = forbidden ] && json .error.message | grep -q policy.write || fail "operator approves an import: $RESP_BODY"
[ "$(astate "$A8")" = pending ] || fail "a refused approval of an import decided it"
as boss POST "/admin/v1/approvals/$A8/approve"
expect_code 200 "boss approves the import"
[ "$(json '[.approval.state, .approval.decided_by, (.result.generation | type)] | join(",")')" = applied,boss,number ] ||
	fail "the import approved: $RESP_BODY"
[ "$(pq -c "SELECT weight FROM channels WHERE code = 'wx_native'")" = 77 ] || fail "the approved import is not in the store"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'import' AND object_kind = 'policy' AND actor = 'boss'"):$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'approval_applied' AND object_id = '$A8'")" = 1:1 ] ||
	fail "the import's audit: $(pq -c "SELECT action, actor, object_kind, object_id FROM audit_log WHERE id > (SELECT max(id) - 8 FROM audit_log)")"
as boss POST "/admin/v1/approvals/$A8/approve"
expect_code 409 "approving the import again"
pass "a policy import: 202 (summary, no secrets), 409 twice, an operator may not approve it, an admin does: imported once, audited"

# --------------------------------------------------------- payroutectl
# pctl NAME ARGS...: payroutectl with NAME's token (OUT, ERR, RC).
pctl() {
	local name=$1

	shift
	OUT=$(PAYROUTE_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT \
		PAYROUTE_ADMIN_TOKEN=${TOK[$name]} timeout 60 "$CTL" "$@" \
		2>"$TEST_DIR/ctl.err" </dev/null)
	RC=$?
	ERR=$(cat "$TEST_DIR/ctl.err")
}
unknown u-6 6000
P6=$P
pctl alice settle payments "$P6" --outcome succeeded --note "the statement shows it" --evidence stmt-6
[ "$RC" = 0 ] || fail "ctl settle: $RC $ERR"
[[ $OUT =~ ^approval\ ([0-9]+)\ pending:\ payment.settle\ of\ $P6,\ asked\ by\ alice ]] || fail "ctl settle: $OUT"
A9=${BASH_REMATCH[1]}
pctl bob approvals list pending
[ "$RC" = 0 ] && grep <<<"$OUT" -Eq "^$A9 +pending +payment.settle +$P6 +60\.00 CNY +alice +- " || fail "ctl approvals list: $RC $OUT $ERR"
pctl alice approvals approve "$A9"
[ "$RC" = 1 ] && grep <<<"$ERR" -q "403 own_request" || fail "ctl approve own: $RC $OUT $ERR"
pctl bob approvals reject "$A9"
[ "$RC" = 2 ] && grep <<<"$ERR" -q -- "--reason is required" || fail "ctl reject without --reason: $RC $ERR"
pctl bob approvals reject "$A9" --reason "not in the statement"
[ "$RC:$OUT" = "0:approval $A9 rejected: payment.settle of $P6, asked by alice" ] || fail "ctl reject: $RC $OUT $ERR"
pctl alice settle payments "$P6" --outcome succeeded --note "found it after all" --evidence stmt-6b
A10=$(sed -E 's/^approval ([0-9]+) pending.*/\1/' <<<"$OUT")
pctl bob approvals approve "$A10"
[ "$RC:$OUT" = "0:approval $A10 applied: payment.settle of $P6, asked by alice" ] || fail "ctl approve: $RC $OUT $ERR"
[ "$(pq -c "SELECT status FROM payments WHERE id = '$P6'")" = succeeded ] || fail "ctl approve did not settle"
pctl bob approvals list bogus
[ "$RC" = 1 ] && grep <<<"$ERR" -q "400 invalid_field" || fail "ctl list bogus: $RC $ERR"
pass "payroutectl: settle answered 'approval N pending', approvals list, approve (own refused 403), reject (--reason required)"

# ----------------------------------------------------------------- expiry
TOP_EXTRA=${TOP_EXTRA/\"expire_s\": 600/\"expire_s\": 1}
write_conf
reload_hup
[ "$RELOAD_RESULT" = ok ] || fail "reload with expire_s 1: $RELOAD_LINE"
unknown u-5 4000
P5=$P
as alice POST "/admin/v1/payments/$P5/settle" "$SB"
expect_code 202 "u-5"
A7=$(json .approval.id)
sleep 1.5
as bob POST "/admin/v1/approvals/$A7/approve"
expect_code 409 "approving an expired one"
case $(json .error.code) in approval_expired | not_pending) ;; *) fail "expired: $RESP_BODY" ;; esac
[ "$(astate "$A7"):$(pq -c "SELECT status FROM payments WHERE id = '$P5'")" = expired:unknown ] ||
	fail "after expiry: $(astate "$A7")"
[ "$(pq -c "SELECT count(*) FROM audit_log WHERE action = 'approval_expired' AND actor = 'payrouted' AND object_id = '$A7'")" = 1 ] ||
	fail "the expiry is not audited"
as admin GET "/admin/v1/approvals?state=expired"
[ "$(json '[.items[].id] | join(",")')" = "$A7" ] || fail "expired list: $RESP_BODY"
as admin GET "/admin/v1/approvals?state=maybe"
expect_field "a state that is none" state "pending, approved"
pass "approvals.expire_s 1 (by reload): expired after it, audited, approving refused 409, nothing applied"

# --------------------------------------------------- the store's rules
refused() { # WHAT SQL
	if pq -c "$2" >/dev/null 2>&1; then
		fail "the store let $1"
	fi
}
pq -c "INSERT INTO approvals (kind, target, payload, amount, currency, requested_by, expires_at) VALUES ('payment.settle', '$P5', '{}', 1, 'CNY', 'alice', now() + interval '1 hour')" >/dev/null
AX=$(pq -c "SELECT id FROM approvals WHERE state = 'pending'")
refused "an approval be decided by its requester" "UPDATE approvals SET state = 'approved', decided_by = 'alice', decided_at = now() WHERE id = $AX"
refused "two pending approvals of one target" "INSERT INTO approvals (kind, target, payload, amount, currency, requested_by, expires_at) VALUES ('payment.settle', '$P5', '{}', 1, 'CNY', 'bob', now() + interval '1 hour')"
refused "an applied approval go back to pending" "UPDATE approvals SET state = 'pending' WHERE id = $A1"
refused "an applied approval be failed" "UPDATE approvals SET state = 'failed', error = 'x' WHERE id = $A1"
refused "a pending approval skip to applied" "UPDATE approvals SET state = 'applied', applied_at = now() WHERE id = $AX"
refused "a request be changed" "UPDATE approvals SET amount = 1 WHERE id = $A1"
refused "an approval be deleted" "DELETE FROM approvals WHERE id = $A1"
refused "a rejection without a reason" "UPDATE approvals SET state = 'rejected', decided_by = 'bob', decided_at = now() WHERE id = $AX"
pq -c "UPDATE approvals SET state = 'rejected', decided_by = 'bob', decided_at = now(), reason = 'x' WHERE id = $AX" >/dev/null ||
	fail "the store refused a good rejection"
pass "the store refuses: a decision by the requester, two pending for one target, backward or skipped states, a changed request, a delete"
