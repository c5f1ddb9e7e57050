/*-------------------------------------------------------------------------
 *
 * consumer.c
 *		Consumers (SPEC section 8): sequenced_consumer_create, _drop,
 *		_rewind, sequenced_ack, sequenced_nack, the sequenced_consumers
 *		view, and what purging tombstones must leave for consumers.
 *		sequenced_receive is receive.c; the tables are delivery.c's.
 *
 * A consumer reads a table's changes feed (changes.c) on the server's
 * behalf.  Its state: a head (every change at or below it is recorded --
 * acknowledged, or a row in _sequenced.deliveries), an acked_through, and a
 * row per key in flight, waiting, or acknowledged above acked_through.  A
 * change is acknowledged by updating its row in the transaction of the
 * caller's work, so a rollback takes the acknowledgement back: that is the
 * exactly-once contract.  A rewind gives the consumer a new incarnation:
 * rows of the old one (some perhaps still being written by a receive in
 * progress) are ignored by everything from then on, and removed.
 *
 * Rights.  Creating a consumer needs SELECT on the table; using one (receive,
 * ack, nack, rewind, drop) needs SELECT on it and membership in the role
 * that created the consumer.  The feed is read as the caller, so privileges
 * and row-level security apply to what a consumer hands out and to the
 * view's counts; the consumers' tables are touched only as the extension's
 * owner, by statements that run no user code (delivery.c).
 *
 * Locking: acknowledgements and nacks update delivery rows by ack_id with a
 * statement; they never wait for a receive, except for one that hands the
 * same expired delivery out again (then they find the ack_id gone).  Rewind
 * and drop wait for the consumer's row, which a receive holds from moving
 * the head on until its transaction ends.  Nothing here locks anything a
 * writer of the table waits for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_consumer_create);
PG_FUNCTION_INFO_V1(sequenced_consumer_drop);
PG_FUNCTION_INFO_V1(sequenced_consumer_rewind);
PG_FUNCTION_INFO_V1(sequenced_ack);
PG_FUNCTION_INFO_V1(sequenced_nack);
PG_FUNCTION_INFO_V1(sequenced_consumer_status);
PG_FUNCTION_INFO_V1(sequenced_consumers_delete);

/* the feed is counted in reads of this many changes (the view) */
#define SEQ_STATUS_PAGE 10000

/* ----------------------------------------------------------------
 * arguments, rights
 * ---------------------------------------------------------------- */

/*
 * An interval argument (visibility_timeout, wait_for, retry_after): not
 * negative, and at most 1000 years -- one that far would take the times it
 * is added to (an expiry, a deadline) out of timestamptz's range, and fail
 * every receive of the consumer later instead of the call now.
 */
void
consumer_check_interval(Datum v, const char *name)
{
	Interval   *zero = palloc0(sizeof(Interval));
	Interval   *most = palloc0(sizeof(Interval));

	most->month = 1000 * MONTHS_PER_YEAR;
	if (DatumGetBool(DirectFunctionCall2(interval_lt, v, IntervalPGetDatum(zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", name),
				 errdetail("It is %s.", DatumGetCString(DirectFunctionCall1(interval_out, v)))));
	if (DatumGetBool(DirectFunctionCall2(interval_gt, v, IntervalPGetDatum(most))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most 1000 years", name),
				 errdetail("It is %s.", DatumGetCString(DirectFunctionCall1(interval_out, v)))));
}

/* An interval argument: not null, and as consumer_check_interval says */
static Datum
interval_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	Datum		v;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	v = PG_GETARG_DATUM(n);
	consumer_check_interval(v, name);
	return v;
}

/* SPI connected, and a GUC nest level for the settings of the statements */
static int
consumer_call_begin(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return NewGUCNestLevel();
}

static void
consumer_call_end(int level)
{
	AtEOXact_GUC(true, level);
	SPI_finish();
}

/* The consumer named so, or 42704 */
static void
consumer_find(const char *name, ConsumerRow *c)
{
	if (!consumer_read(name, c))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" does not exist", name),
				 errhint("Create it with sequenced_consumer_create().")));
}

/*
 * What using a consumer needs: to be (a member of) the role that created it,
 * and SELECT on its table.  Checked without locking the table.
 */
void
consumer_check_rights(ConsumerRow *c)
{
	Oid			roleid = GetUserId();

	if (!is_member_of_role(roleid, c->creator))
	{
		char	   *creator = GetUserNameFromId(c->creator, true);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for consumer \"%s\"", c->name),
				 errdetail("Only the role that created it%s%s%s, and its members, may use it.",
						   creator ? " (\"" : "", creator ? creator : "", creator ? "\")" : "")));
	}
	rights_precheck(c->target, RIGHTS_READ);
	if (pg_class_aclcheck(c->target, roleid, ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(c->target)),
					   get_rel_name(c->target));
}

/* An append-only change's identity among a consumer's deliveries: its position */
Datum
consumer_pos_ident(int64 pos)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(pos);
	return JsonbPGetDatum(JsonbValueToJsonb(&v));
}

static Datum
now_plus(Datum interval)
{
	return DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(GetCurrentTimestamp()), interval);
}

/* ----------------------------------------------------------------
 * create, drop, rewind
 * ---------------------------------------------------------------- */

Datum
sequenced_consumer_create(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "consumer");
	char	   *start;
	Datum		timeout;
	CallSession s;
	int64		head = 0;
	int64		id;
	int64		processed;
	Oid			types[7] = {TEXTOID, INT8OID, OIDOID, OIDOID, TEXTOID, INTERVALOID, INT8OID};
	Datum		values[7];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	start = text_arg(fcinfo, 2, "start");
	timeout = interval_arg(fcinfo, 3, "visibility_timeout");
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a consumer's name must not be empty")));
	/* (a name is a key of the consumers' index, whose entries have a limit) */
	if (strlen(name) > SEQ_CONSUMER_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a consumer's name must be at most %d bytes long", SEQ_CONSUMER_NAME_MAX),
				 errdetail("It is %zu bytes long.", strlen(name))));
	if (strcmp(start, "beginning") != 0 && strcmp(start, "end") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid start \"%s\"", start),
				 errhint("start is 'beginning' (the whole table first) or 'end' (changes from now on).")));
	PreventCommandIfReadOnly("sequenced_consumer_create()");

	call_begin(&s, PG_GETARG_OID(1), AccessShareLock, RIGHTS_READ);
	rights_check_read(s.st);
	if (strcmp(start, "end") == 0)
	{
		/* where the feed stands: a change still held back is delivered */
		changes_settings();
		head = changes_begin_read(s.st) - 1;
		changes_end_read();
	}
	id = consumer_next_id(false);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(id);
	values[2] = ObjectIdGetDatum(s.st->relid);
	values[3] = ObjectIdGetDatum(GetUserId());
	values[4] = CStringGetTextDatum(start);
	values[5] = timeout;
	values[6] = Int64GetDatum(head);
	(void) delivery_exec(CSTMT_CREATE,
						 "INSERT INTO _sequenced.consumers (name, id, target, creator, start, "
						 "visibility_timeout, incarnation, head, acked_through) "
						 "VALUES ($1, $2, $3::pg_catalog.regclass, $4::pg_catalog.regrole, $5, $6, "
						 "$2, $7, $7) ON CONFLICT (name) DO NOTHING",
						 7, types, values, NULL, &processed);
	if (processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("consumer \"%s\" already exists", name)));
	(void) delivery_gc();
	call_end(&s);
	PG_RETURN_VOID();
}

Datum
sequenced_consumer_drop(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "consumer");
	ConsumerRow c;
	int			level;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	int64		processed;

	PreventCommandIfReadOnly("sequenced_consumer_drop()");
	level = consumer_call_begin();
	consumer_find(name, &c);
	consumer_check_rights(&c);
	values[0] = Int64GetDatum(c.id);
	/* (its deliveries go with it: _sequenced.on_consumers_delete) */
	(void) delivery_exec(CSTMT_DROP, "DELETE FROM _sequenced.consumers WHERE id OPERATOR(pg_catalog.=) $1",
						 1, types, values, NULL, &processed);
	if (processed == 0)
		consumer_find(name, &c);	/* dropped meanwhile: 42704 */
	consumer_call_end(level);
	PG_RETURN_VOID();
}

/*
 * Replay: every key changed after `after` is delivered again.  The
 * consumer takes a new incarnation, so the deliveries in flight are
 * dropped at once (their ack_ids match nothing any more); their rows are
 * removed now, or later where a transaction in progress still holds them.
 */
Datum
sequenced_consumer_rewind(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "consumer");
	int64		after;
	ConsumerRow c;
	int			level;
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3];
	int64		processed;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("after must not be null")));
	after = PG_GETARG_INT64(1);
	if (after < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after must not be negative"),
				 errhint("Positions are those of sequenced_receive() and sequenced_changes(); 0 replays everything.")));
	PreventCommandIfReadOnly("sequenced_consumer_rewind()");
	level = consumer_call_begin();
	consumer_find(name, &c);
	consumer_check_rights(&c);
	values[0] = Int64GetDatum(c.id);
	values[1] = Int64GetDatum(consumer_next_id(false));
	values[2] = Int64GetDatum(after);
	(void) delivery_exec(CSTMT_REWIND,
						 "UPDATE _sequenced.consumers SET incarnation = $2, head = $3, acked_through = $3, pruned_through = $3 "
						 "WHERE id OPERATOR(pg_catalog.=) $1",
						 3, types, values, NULL, &processed);
	if (processed == 0)
		consumer_find(name, &c);	/* dropped meanwhile: 42704 */
	(void) delivery_gc();
	consumer_call_end(level);
	PG_RETURN_VOID();
}

/* The AFTER DELETE statement trigger of _sequenced.consumers: remove their deliveries */
Datum
sequenced_consumers_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	int			level;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager", "on_consumers_delete")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER DELETE FOR EACH STATEMENT", "on_consumers_delete")));
	level = consumer_call_begin();
	(void) delivery_gc();
	consumer_call_end(level);
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * ack, nack
 * ---------------------------------------------------------------- */

static Datum
settle(FunctionCallInfo fcinfo, bool ack)
{
	char	   *name = text_arg(fcinfo, 0, "consumer");
	ConsumerRow c;
	int			level;
	Oid			types[3] = {INT8OID, INT8ARRAYOID, TIMESTAMPTZOID};
	Datum		values[3];
	int64		processed;
	Datum		retry = (Datum) 0;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ack_ids must not be null")));
	if (!ack)
		retry = interval_arg(fcinfo, 2, "retry_after");
	PreventCommandIfReadOnly(ack ? "sequenced_ack()" : "sequenced_nack()");
	level = consumer_call_begin();
	consumer_find(name, &c);
	consumer_check_rights(&c);
	values[0] = Int64GetDatum(c.incarnation);
	values[1] = PG_GETARG_DATUM(1);
	if (ack)
		/*
		 * Kept until acked_through passes it (delivery.c), with its ack_id:
		 * no indexed column changes, so the update can stay on its page
		 * (HOT), and a receive probing the key meanwhile finds it.  Found
		 * through the ack_id index alone (the incarnation is a filter, in a
		 * form no index matches): a plan that read the consumer's rows by
		 * incarnation would read all of them, and the dead ones vacuum has
		 * not yet removed, at every acknowledgement.
		 */
		(void) delivery_exec(CSTMT_ACK,
							 "UPDATE _sequenced.deliveries SET acked = true, deliveries = 0 "
							 "WHERE ack_id OPERATOR(pg_catalog.=) ANY ($2) "
							 "AND (incarnation OPERATOR(pg_catalog.=) $1) IS TRUE AND NOT acked",
							 2, types, values, NULL, &processed);
	else
	{
		values[2] = now_plus(retry);
		(void) delivery_exec(CSTMT_NACK,
							 "UPDATE _sequenced.deliveries SET ack_id = NULL, visible_at = $3 "
							 "WHERE ack_id OPERATOR(pg_catalog.=) ANY ($2) "
							 "AND (incarnation OPERATOR(pg_catalog.=) $1) IS TRUE AND NOT acked",
							 3, types, values, NULL, &processed);
	}
	consumer_call_end(level);
	PG_RETURN_INT64(processed);
}

Datum
sequenced_ack(PG_FUNCTION_ARGS)
{
	return settle(fcinfo, true);
}

Datum
sequenced_nack(PG_FUNCTION_ARGS)
{
	return settle(fcinfo, false);
}

/* ----------------------------------------------------------------
 * the view
 * ---------------------------------------------------------------- */

typedef struct IdentSet
{
	Jsonb	  **idents;
	int			n;
	int			cap;
} IdentSet;

static void
ident_add(IdentSet *set, Datum ident)
{
	if (set->n == set->cap)
	{
		set->cap = Max(64, set->cap * 2);
		set->idents = set->idents ? repalloc_huge(set->idents, sizeof(Jsonb *) * set->cap) :
			palloc(sizeof(Jsonb *) * set->cap);
	}
	set->idents[set->n++] = DatumGetJsonbPCopy(ident);
}

static int
ident_cmp(const void *a, const void *b)
{
	Jsonb	   *x = *(Jsonb *const *) a;
	Jsonb	   *y = *(Jsonb *const *) b;

	return compareJsonbContainers(&x->root, &y->root);
}

/* How many distinct idents */
static int64
ident_count(IdentSet *set)
{
	int64		distinct = 0;

	if (set->n == 0)
		return 0;
	qsort(set->idents, set->n, sizeof(Jsonb *), ident_cmp);
	for (int i = 0; i < set->n; i++)
		if (i == 0 || ident_cmp(&set->idents[i - 1], &set->idents[i]) != 0)
			distinct++;
	return distinct;
}

typedef struct StatusScan
{
	SeqTable   *st;
	IdentSet   *pending;
	MemoryContext cxt;
	/* the delivery rows' keys under row-level security */
	bool	   *visible;		/* by row: the caller sees the key */
	int		   *of;				/* keyed: the row of each entry resolved */
	int64	   *positions;		/* append-only: the rows' positions, ascending */
	int64		nrows;
} StatusScan;

/* the feed after the head: the keys it shows */
static bool
status_feed(void *arg, FeedItem *item)
{
	StatusScan *ss = (StatusScan *) arg;
	MemoryContext old;

	if (!item->shown)
		return false;
	old = MemoryContextSwitchTo(ss->cxt);
	ident_add(ss->pending, ss->st->nkeys > 0 ? item->key : consumer_pos_ident(item->pos));
	MemoryContextSwitchTo(old);
	return true;
}

/* a delivery row's key: does the caller see it (row-level security)? */
static bool
status_row(void *arg, FeedItem *item)
{
	StatusScan *ss = (StatusScan *) arg;

	if (ss->of != NULL)
		ss->visible[ss->of[item->index]] = item->visible;
	else
	{
		int64	   *at = bsearch(&item->pos, ss->positions, ss->nrows, sizeof(int64), delivery_cmp_int64);

		if (at != NULL)
			ss->visible[at - ss->positions] = item->visible;
	}
	return false;
}

/*
 * Which delivery rows' keys the caller sees under row-level security, as
 * the feed would judge them: a keyed change from its log entry (one the
 * log no longer has, its key changed since and the log compacted, counts
 * as seen), an append-only change from its row (one the table no longer
 * has does not).
 */
static void
status_visible(StatusScan *ss, int64 *rowpos, int64 n)
{
	SeqTable   *st = ss->st;

	ss->nrows = n;
	ss->visible = palloc(sizeof(bool) * Max(n, 1));
	if (st->nkeys > 0)
	{
		LogEntry   *entries = palloc(sizeof(LogEntry) * Max(n, 1));
		int			m = 0;

		ss->of = palloc(sizeof(int) * Max(n, 1));
		for (int64 i = 0; i < n; i++)
		{
			LogEntry   *e;
			bool		more;

			ss->visible[i] = true;
			if (changelog_read(st, rowpos[i] - 1, rowpos[i] + 1, 1, GetActiveSnapshot(), &e, &more) == 1)
			{
				entries[m] = e[0];
				ss->of[m++] = (int) i;
			}
		}
		changes_resolve(st, entries, m, true, status_row, ss);
	}
	else
	{
		ss->of = NULL;
		ss->positions = rowpos;
		for (int64 i = 0; i < n; i++)
			ss->visible[i] = false;
		changes_resolve_appends(st, rowpos, (int) n, true, status_row, ss);
	}
}

/*
 * pending, in_flight and acked_through of one consumer, as the caller's
 * row-level security shows them: the keys of its deliveries not yet
 * acknowledged (those the caller sees, under row security) and of the
 * feed after its head.
 */
static void
consumer_counts(ConsumerRow *c, int64 *pending, int64 *in_flight, int64 *acked_through)
{
	CallSession s;
	SeqTable   *st;
	bool		hidden_rls;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(c->incarnation)};
	int64		n;
	Datum	   *idents;
	int64	   *rowpos;
	bool	   *flying;
	IdentSet	set = {0};
	StatusScan	ss = {0};
	int64		watermark;
	int64		after = c->head;

	call_begin(&s, c->target, AccessShareLock, RIGHTS_READ);
	st = s.st;
	changes_settings();
	hidden_rls = check_enable_rls(st->relid, InvalidOid, false) == RLS_ENABLED;
	ss.st = st;
	ss.pending = &set;
	ss.cxt = CurrentMemoryContext;

	/* (rows in position order: append-only positions ascending, for status_row) */
	(void) delivery_exec(CSTMT_UNACKED,
						 "SELECT ident, pos, ack_id IS NOT NULL "
						 "AND visible_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() "
						 "AND visible_at OPERATOR(pg_catalog.<) 'infinity'::pg_catalog.timestamptz "
						 "FROM _sequenced.deliveries WHERE incarnation OPERATOR(pg_catalog.=) $1 AND NOT acked "
						 "ORDER BY pos",
						 1, types, values, NULL, &n);
	idents = palloc(sizeof(Datum) * Max(n, 1));
	rowpos = palloc(sizeof(int64) * Max(n, 1));
	flying = palloc(sizeof(bool) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;

		idents[i] = PointerGetDatum(DatumGetJsonbPCopy(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull)));
		rowpos[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		flying[i] = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	watermark = changes_begin_read(st);
	if (hidden_rls && n > 0)
		status_visible(&ss, rowpos, n);
	*in_flight = 0;
	for (int64 i = 0; i < n; i++)
	{
		if (ss.visible != NULL && !ss.visible[i])
			continue;
		ident_add(&set, idents[i]);
		if (flying[i])
			(*in_flight)++;
	}

	/* the feed after the head, a page at a time */
	for (;;)
	{
		int64		last;
		int64		got = changes_read(st, after, watermark, true, SEQ_STATUS_PAGE, hidden_rls,
									   status_feed, &ss, &last);

		if (got < SEQ_STATUS_PAGE)
			break;
		after = last;
	}
	changes_end_read();
	*pending = ident_count(&set);
	*acked_through = consumer_acked_through(c, c->head);
	call_end(&s);
}

/*
 * consumer_counts, without ever running code attached to the table's types
 * (a cast to json, a policy's functions) with more rights than the table's
 * owner has.  Counting reads the table's keys and rows as JSON, as the
 * feed does; the view reads every consumer the caller may use, so a
 * superuser (a member of every role) reading it would otherwise run the
 * code of every role's types.  The consumer's creator (who chose the table,
 * and reads it at every receive) and a caller whose privileges the table's
 * owner has count as themselves; another counts as the table's owner under
 * SECURITY_RESTRICTED_OPERATION (as VACUUM and ANALYZE do) -- which shows
 * what the caller's row-level security would show only where none applies
 * to the caller: else, and where the owner may not read its own table,
 * pending and in_flight are not counted (false: NULL in the view).
 */
static bool
consumer_counts_safely(ConsumerRow *c, int64 *pending, int64 *in_flight, int64 *acked_through)
{
	Oid			owner = rights_rel_owner(c->target);
	OwnerSwitch sw;

	if (GetUserId() == c->creator || has_privs_of_role(owner, GetUserId()))
	{
		consumer_counts(c, pending, in_flight, acked_through);
		return true;
	}
	*acked_through = consumer_acked_through(c, c->head);
	if (check_enable_rls(c->target, InvalidOid, true) == RLS_ENABLED ||
		pg_class_aclcheck(c->target, owner, ACL_SELECT) != ACLCHECK_OK)
		return false;
	rights_begin_owner(c->target, &sw);
	consumer_counts(c, pending, in_flight, acked_through);
	rights_end_owner(&sw);
	return true;
}

Datum
sequenced_consumer_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			level;
	int64		n;
	char	  **names;
	Oid			roleid = GetUserId();

	InitMaterializedSRF(fcinfo, 0);
	level = consumer_call_begin();
	(void) delivery_exec(CSTMT_LIST, "SELECT name FROM _sequenced.consumers ORDER BY name",
						 0, NULL, NULL, NULL, &n);
	names = palloc(sizeof(char *) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);

	for (int64 i = 0; i < n; i++)
	{
		ConsumerRow c;
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};
		int64		pending;
		int64		in_flight;
		int64		acked_through;
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced consumer status",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		/*
		 * The consumers this role may use, on tables it may read (one whose
		 * table is being dropped right now is gone with it)
		 */
		if (!consumer_read(names[i], &c) ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c.target)) ||
			!is_member_of_role(roleid, c.creator) ||
			pg_class_aclcheck(c.target, roleid, ACL_SELECT) != ACLCHECK_OK)
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			continue;
		}
		if (!consumer_counts_safely(&c, &pending, &in_flight, &acked_through))
			nulls[4] = nulls[5] = true;
		values[0] = CStringGetTextDatum(c.name);
		values[1] = ObjectIdGetDatum(c.target);
		values[2] = CStringGetTextDatum(c.start);
		values[3] = c.timeout;
		values[4] = Int64GetDatum(pending);
		values[5] = Int64GetDatum(in_flight);
		values[6] = Int64GetDatum(acked_through);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
	}
	consumer_call_end(level);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * what purging tombstones leaves for consumers
 * ---------------------------------------------------------------- */

struct ConsumerHold
{
	SeqTable   *st;
	bool		any;			/* the table has consumers */
	int64		min_head;		/* the lowest head among them */
	IdentSet	keys;			/* keys some of them have not acknowledged */
};

/*
 * What a purge of st's tombstones must leave: a tombstone above some
 * consumer's head (not yet received), or of a key some consumer has a
 * delivery of not yet acknowledged (in flight, or waiting to be handed
 * out again: it is read back from the key's state).  SPI connected.
 */
ConsumerHold *
consumer_hold_begin(SeqTable *st)
{
	ConsumerHold *h = palloc0(sizeof(ConsumerHold));
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(st->relid)};
	int64		n;
	Datum		d;

	/*
	 * Only consumers whose creator may still read the table hold its
	 * tombstones: one whose SELECT was revoked (or whose role was dropped)
	 * can receive nothing more, and must not keep the table's owner from
	 * purging (and so from changing its key) for ever.
	 */
	h->st = st;
	d = delivery_exec(CSTMT_HOLD_HEADS, "SELECT pg_catalog.min(head) FROM _sequenced.consumers "
					  "WHERE target OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					  "AND pg_catalog.has_table_privilege(creator::pg_catalog.oid, target::pg_catalog.oid, 'SELECT')",
					  1, types, values, NULL, &n);
	if (n == 0 || SPI_tuptable == NULL)
		return h;
	{
		bool		isnull;

		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			return h;
	}
	h->any = true;
	h->min_head = DatumGetInt64(d);
	(void) delivery_exec(CSTMT_HOLD_KEYS, "SELECT DISTINCT d.ident FROM _sequenced.deliveries d "
						 "JOIN _sequenced.consumers c ON c.incarnation OPERATOR(pg_catalog.=) d.incarnation "
						 "WHERE c.target OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND NOT d.acked "
						 "AND pg_catalog.has_table_privilege(c.creator::pg_catalog.oid, c.target::pg_catalog.oid, 'SELECT')",
						 1, types, values, NULL, &n);
	for (int64 i = 0; i < n; i++)
	{
		bool		isnull;

		ident_add(&h->keys, SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	if (h->keys.n > 0)
		qsort(h->keys.idents, h->keys.n, sizeof(Jsonb *), ident_cmp);
	return h;
}

/* Must the tombstone of this key, at this position, stay? */
bool
consumer_hold_keeps(ConsumerHold *h, int64 pos, Datum *keyvals)
{
	Jsonb	   *key;

	if (!h->any)
		return false;
	if (pos > h->min_head)
		return true;
	if (h->keys.n == 0)
		return false;
	{
		/*
		 * The key as JSON (a cast to json of its type may run): as the
		 * table's owner, whoever purges (see consumer_counts_safely)
		 */
		OwnerSwitch sw;

		rights_begin_owner(h->st->relid, &sw);
		key = input_keyvals_jsonb(h->st, keyvals);
		rights_end_owner(&sw);
	}
	return bsearch(&key, h->keys.idents, h->keys.n, sizeof(Jsonb *), ident_cmp) != NULL;
}

void
consumer_hold_end(ConsumerHold *h)
{
	if (h->keys.idents)
		pfree(h->keys.idents);
	pfree(h);
}
