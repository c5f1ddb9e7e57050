/*-------------------------------------------------------------------------
 *
 * apply.c
 *		Applying a batch: the newer-wins rule, locking, and the writes.
 *
 * The rule.  For every key, the message with the highest sequence wins: in
 * the call (dedup.c), and against what is stored.  What is stored for a key
 * is kept in the table's state table (one row per key: its sequence, its
 * change position, whether it is a tombstone); the target row carries the
 * same sequence in its sequence column.  A message is applied only when its
 * sequence is greater than the stored one (or equal, under on_equal
 * 'replace').
 *
 * One call runs these steps, each one statement over the whole batch:
 *
 *	1. lock: INSERT ... ON CONFLICT DO UPDATE on the state table, in key
 *	   order.  A NOT EXISTS filter first drops messages that are stale
 *	   against the stored sequence as seen by the statement's snapshot:
 *	   sequences only grow, so such a message is stale for good, and it
 *	   costs an index probe, no lock and no WAL.  Every other message takes
 *	   the key's state row (inserting it, or locking and updating it) and
 *	   the ON CONFLICT WHERE clause decides again on the latest committed
 *	   version.  Rows it returns are the accepted messages; the rest lost a
 *	   race and are stale.
 *	2. write the target as the caller: UPDATE the rows that exist, INSERT
 *	   the rest, DELETE (or mark) for deletes.  The target statements carry
 *	   the same guard against the row's own sequence, so a row written
 *	   around the functions with a newer sequence is not overwritten.
 *	3. fix up: an accepted message that the target refused (a row written
 *	   around the functions) is stale, and its state row is corrected.
 *	4. max_sequence: one insert into the max log when the call raised it.
 *
 * Concurrency.  Every writer of a key holds that key's state row lock (or
 * its uncommitted insert, which makes a concurrent inserter wait) from step
 * 1 to commit, and takes these in key order.  So all calls that touch a key
 * are serialized on it, decide against the latest committed state, and can
 * never wait on each other in a cycle: overlapping calls do not deadlock,
 * and disjoint calls share no lock at all (the max log is insert-only).  A
 * delete racing an older upsert: whichever locks the key second sees the
 * other's committed sequence, so the older one is stale and a deleted row
 * never comes back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "storage/bufmgr.h"
#include "access/xact.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/readfuncs.h"
#include "optimizer/optimizer.h"
#include "tcop/utility.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_upsert_data);
PG_FUNCTION_INFO_V1(sequenced_upsert_messages);
PG_FUNCTION_INFO_V1(sequenced_delete);

static int	max_log_inserts = 0;
static FullTransactionId max_log_xact = {0};	/* last transaction that inserted */

const char *
apply_outcome_name(Outcome o)
{
	switch (o)
	{
		case OUT_INSERTED:
			return "inserted";
		case OUT_UPDATED:
			return "updated";
		case OUT_DELETED:
			return "deleted";
		case OUT_STALE:
			return "stale";
		case OUT_SUPERSEDED:
			return "superseded";
		default:
			return NULL;
	}
}

/* ----------------------------------------------------------------
 * SQL generation
 * ---------------------------------------------------------------- */

static const char *
target_from(SeqTable *st)
{
	return get_rel_relkind(st->relid) == RELKIND_PARTITIONED_TABLE ?
		st->qualname : psprintf("ONLY %s", st->qualname);
}

/* t.k1 = r.k1 AND ... over the target's key columns */
static void
append_target_keymatch(StringInfo s, SeqTable *st, const char *l, const char *r)
{
	for (int k = 0; k < st->nkeys; k++)
	{
		const char *name = quote_identifier(st->key_names[k]);

		appendStringInfo(s, "%s%s.%s %s %s.%s", k ? " AND " : "", l, name,
						 st->keys[k].eqopr_sql, r, name);
	}
}

static void
append_state_keymatch(StringInfo s, SeqTable *st, const char *l, const char *r)
{
	for (int k = 0; k < st->nkeys; k++)
		appendStringInfo(s, "%s%s.k%d %s %s.k%d", k ? " AND " : "", l, k + 1,
						 st->keys[k].eqopr_sql, r, k + 1);
}

static void
append_key_list(StringInfo s, SeqTable *st, const char *alias)
{
	for (int k = 0; k < st->nkeys; k++)
		appendStringInfo(s, "%s%s.%s", k ? ", " : "", alias, quote_identifier(st->key_names[k]));
}

/* A column the apply statements write: not dropped, generated or a non-key identity */
static bool
col_written(SeqColumn *c)
{
	return !c->dropped && !c->generated && !(c->identity && c->keyno < 0);
}

static const char *
older_guard(SeqTable *st, const char *t, const char *r)
{
	const char *seq = quote_identifier(st->cols[st->seqatt - 1].name);

	return psprintf("(%s.%s IS NULL OR %s.%s OPERATOR(pg_catalog.%s) %s.%s)",
					t, seq, t, seq, st->on_equal == ON_EQUAL_REPLACE ? "<=" : "<", r, seq);
}

static SPIPlanPtr
prepare_plan_n(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	catalog_pin_path();
	if (*slot == NULL)
	{
		/*
		 * A generic plan: the batch arrives as one array parameter, so a
		 * custom plan would only re-plan every call for nothing.
		 */
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "failed to prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = p;
	}
	return *slot;
}

static SPIPlanPtr
prepare_plan(SPIPlanPtr *slot, const char *sql, Oid argtype)
{
	return prepare_plan_n(slot, sql, 1, &argtype);
}

static SPIPlanPtr
plan_update(SeqTable *st)
{
	StringInfoData s;
	bool		first = true;

	if (st->plan_update)
		return st->plan_update;
	initStringInfo(&s);
	appendStringInfo(&s, "UPDATE %s AS t SET ", target_from(st));
	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];

		if (!col_written(c) || c->keyno >= 0)
			continue;
		appendStringInfo(&s, "%s%s = r.%s", first ? "" : ", ",
						 quote_identifier(c->name), quote_identifier(c->name));
		first = false;
	}
	appendStringInfoString(&s, " FROM pg_catalog.unnest($1) AS r WHERE ");
	append_target_keymatch(&s, st, "t", "r");
	appendStringInfo(&s, " AND %s RETURNING ", older_guard(st, "t", "r"));
	append_key_list(&s, st, "r");
	return prepare_plan(&st->plan_update, s.data, st->relarraytype);
}

static void
append_insert(StringInfo s, SeqTable *st)
{
	bool		first = true;

	appendStringInfo(s, "INSERT INTO %s AS t (", st->qualname);
	for (int i = 0; i < st->natts; i++)
	{
		if (!col_written(&st->cols[i]))
			continue;
		appendStringInfo(s, "%s%s", first ? "" : ", ", quote_identifier(st->cols[i].name));
		first = false;
	}
	appendStringInfoString(s, ") SELECT ");
	first = true;
	for (int i = 0; i < st->natts; i++)
	{
		if (!col_written(&st->cols[i]))
			continue;
		appendStringInfo(s, "%sr.%s", first ? "" : ", ", quote_identifier(st->cols[i].name));
		first = false;
	}
	appendStringInfoString(s, " FROM pg_catalog.unnest($1) AS r");
}

static SPIPlanPtr
plan_insert(SeqTable *st)
{
	StringInfoData s;

	if (st->plan_insert)
		return st->plan_insert;
	initStringInfo(&s);
	append_insert(&s, st);
	appendStringInfoString(&s, " ON CONFLICT (");
	for (int k = 0; k < st->nkeys; k++)
		appendStringInfo(&s, "%s%s", k ? ", " : "", quote_identifier(st->key_names[k]));
	appendStringInfoString(&s, ") DO NOTHING RETURNING ");
	append_key_list(&s, st, "t");
	return prepare_plan(&st->plan_insert, s.data, st->relarraytype);
}

static SPIPlanPtr
plan_delete(SeqTable *st)
{
	StringInfoData s;

	if (st->soft_deletes ? st->plan_softdelete != NULL : st->plan_delete != NULL)
		return st->soft_deletes ? st->plan_softdelete : st->plan_delete;
	initStringInfo(&s);
	if (st->soft_deletes)
	{
		const char *seq = quote_identifier(st->cols[st->seqatt - 1].name);

		appendStringInfo(&s, "UPDATE %s AS t SET %s = r.%s, %s = pg_catalog.now() "
						 "FROM pg_catalog.unnest($1) AS r WHERE ",
						 target_from(st), seq, seq, quote_identifier(SEQ_DELETED_AT_COLUMN));
	}
	else
		appendStringInfo(&s, "DELETE FROM %s AS t USING pg_catalog.unnest($1) AS r WHERE ",
						 target_from(st));
	append_target_keymatch(&s, st, "t", "r");
	appendStringInfo(&s, " AND %s RETURNING ", older_guard(st, "t", "r"));
	append_key_list(&s, st, "r");
	return prepare_plan(st->soft_deletes ? &st->plan_softdelete : &st->plan_delete,
						s.data, st->relarraytype);
}

static SPIPlanPtr
plan_fixup_read(SeqTable *st)
{
	StringInfoData s;

	if (st->plan_fixup_read)
		return st->plan_fixup_read;
	initStringInfo(&s);
	appendStringInfoString(&s, "SELECT ");
	append_key_list(&s, st, "t");
	appendStringInfo(&s, ", t.%s, %s FROM pg_catalog.unnest($1) AS r JOIN %s AS t ON ",
					 quote_identifier(st->cols[st->seqatt - 1].name),
					 st->delatt ? psprintf("t.%s IS NOT NULL", quote_identifier(SEQ_DELETED_AT_COLUMN)) : "false",
					 target_from(st));
	append_target_keymatch(&s, st, "t", "r");
	return prepare_plan(&st->plan_fixup_read, s.data, st->relarraytype);
}

static SPIPlanPtr
plan_fixup_state(SeqTable *st)
{
	StringInfoData s;

	if (st->plan_fixup_state)
		return st->plan_fixup_state;
	initStringInfo(&s);
	appendStringInfo(&s, "UPDATE %s AS s SET sequence = r.sequence, deleted = r.deleted "
					 "FROM pg_catalog.unnest($1) AS r WHERE ", st->state_qualname);
	append_state_keymatch(&s, st, "s", "r");
	return prepare_plan(&st->plan_fixup_state, s.data, st->statearraytype);
}

/* ----------------------------------------------------------------
 * building rows
 * ---------------------------------------------------------------- */

typedef struct DefaultState
{
	EState	   *estate;
	ExprContext *econtext;
	ExprState **exprs;			/* by attnum - 1, NULL: no default */
	bool		ready;
} DefaultState;

static void
defaults_init(DefaultState *ds, SeqTable *st)
{
	Relation	rel;

	if (ds->ready)
		return;
	ds->estate = CreateExecutorState();
	ds->econtext = GetPerTupleExprContext(ds->estate);
	ds->exprs = palloc0(sizeof(ExprState *) * st->natts);
	rel = relation_open(st->relid, NoLock);
	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];
		Node	   *expr;

		if (!col_written(c) || !c->has_default || c->guard != COLGUARD_NONE)
			continue;
		expr = build_column_default(rel, i + 1);
		if (expr)
			ds->exprs[i] = ExecPrepareExpr((Expr *) expr, ds->estate);
	}
	relation_close(rel, NoLock);
	ds->ready = true;
}

static void
defaults_done(DefaultState *ds)
{
	if (ds->ready)
		FreeExecutorState(ds->estate);
}

/*
 * The target row for an accepted upsert: the record's values, DEFAULT for
 * the columns it omits (the message is the whole record), its sequence, and
 * no soft-delete mark.
 */
static void
target_values(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, bool keys_only,
			  Datum *values, bool *nulls)
{
	SeqTable   *st = b->st;

	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];

		values[i] = (Datum) 0;
		nulls[i] = true;
		if (c->dropped)
			continue;
		if (i == st->seqatt - 1)
		{
			values[i] = Int64GetDatum(m->seq);
			nulls[i] = false;
		}
		else if (keys_only && c->keyno < 0)
			continue;
		else if (c->guard != COLGUARD_NONE || !col_written(c))
			continue;
		else if (MSG_PRESENT(m, st->natts)[i])
		{
			values[i] = m->values[i];
			nulls[i] = MSG_ISNULL(m, st->natts)[i];
		}
		else if (c->has_default)
		{
			defaults_init(ds, st);
			if (ds->exprs[i])
			{
				bool		isnull;
				Datum		d;

				input_set_error_position(m->ord, c->name);
				d = ExecEvalExprSwitchContext(ds->exprs[i], ds->econtext, &isnull);
				input_set_error_position(0, NULL);
				nulls[i] = isnull;
				if (!isnull)
				{
					Form_pg_attribute att = TupleDescAttr(desc, i);

					values[i] = datumCopy(d, att->attbyval, att->attlen);
				}
				ResetExprContext(ds->econtext);
			}
		}
	}
}

static Datum
target_row(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, bool keys_only)
{
	SeqTable   *st = b->st;
	Datum	   *values = palloc(sizeof(Datum) * st->natts);
	bool	   *nulls = palloc(sizeof(bool) * st->natts);
	HeapTuple	tup;

	target_values(b, m, desc, ds, keys_only, values, nulls);
	/* the descriptor is the type cache's own: it stamps type and version */
	tup = heap_form_tuple(desc, values, nulls);
	pfree(values);
	pfree(nulls);
	return HeapTupleGetDatum(tup);
}

static Datum
state_row(SeqTable *st, TupleDesc sdesc, Message *m, int64 seq, bool seqnull, bool deleted)
{
	Datum	   *values = palloc(sizeof(Datum) * sdesc->natts);
	bool	   *nulls = palloc0(sizeof(bool) * sdesc->natts);
	HeapTuple	tup;

	for (int k = 0; k < st->nkeys; k++)
		values[k] = m->values[st->keys[k].attnum - 1];
	values[st->nkeys] = Int64GetDatum(seq);
	nulls[st->nkeys] = seqnull;
	values[st->nkeys + 1] = Int64GetDatum(m->pos);
	values[st->nkeys + 2] = BoolGetDatum(deleted);
	tup = heap_form_tuple(sdesc, values, nulls);
	return HeapTupleGetDatum(tup);
}

static Datum
make_array(Datum *elems, int n, Oid elemtype)
{
	return PointerGetDatum(construct_array(elems, n, elemtype, -1, false, TYPALIGN_DOUBLE));
}

static int
exec_plan(SPIPlanPtr plan, Datum arg, int expected)
{
	Datum		args[1] = {arg};
	int			rc;

	catalog_pin_path();
	/* the previous statement's result has been read: free it now, not at SPI_finish */
	SPI_freetuptable(SPI_tuptable);
	rc = SPI_execute_plan(plan, args, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "pg_sequenced statement failed: %s", SPI_result_code_string(rc));
	return rc;
}

/* ----------------------------------------------------------------
 * locating messages by key or position
 * ---------------------------------------------------------------- */

/* cand[] holds message indexes in key order; find the one with this key */
static Message *
find_by_key(Batch *b, int *cand, int ncand, Datum *keyvals)
{
	SeqTable   *st = b->st;
	int			lo = 0,
				hi = ncand - 1;
	Datum	   *probe = palloc0(sizeof(Datum) * st->natts);

	for (int k = 0; k < st->nkeys; k++)
		probe[st->keys[k].attnum - 1] = keyvals[k];
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		Message    *m = &b->msgs[cand[mid]];
		int			cmp = dedup_compare_keys(st, m->values, probe);

		if (cmp == 0)
		{
			pfree(probe);
			return m;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	elog(ERROR, "pg_sequenced: a returned key matches no message");
	return NULL;
}

/* Mark each message whose key the last statement returned (columns 1..nkeys) */
static void
mark_returned(Batch *b, int *cand, int ncand, Outcome outcome)
{
	SeqTable   *st = b->st;
	Datum	   *keyvals = palloc(sizeof(Datum) * st->nkeys);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, k + 1, &isnull);
		find_by_key(b, cand, ncand, keyvals)->outcome = outcome;
	}
	pfree(keyvals);
}

static char *
key_text(Batch *b, Message *m)
{
	Jsonb	   *jb = input_key_jsonb(b->st, m);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* ----------------------------------------------------------------
 * naming the record behind a constraint error
 * ---------------------------------------------------------------- */

/*
 * Does the target row (a composite of the target's row type) fail the CHECK
 * constraint?  Only asked of constraints made of immutable operations on
 * the columns the rows carry (state: the prepared check, or NULL when the
 * constraint is not one of those); NULL counts as passing, as for the
 * executor.
 */
static ExprState *
prepare_check(SeqTable *st, Relation rel, const char *conname, EState *estate)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;

	for (int i = 0; constr && i < constr->num_check; i++)
	{
		Node	   *e;
		Bitmapset  *atts = NULL;
		int			a = -1;

		if (strcmp(constr->check[i].ccname, conname) != 0)
			continue;
		e = stringToNode(constr->check[i].ccbin);
		if (contain_mutable_functions(e))
			return NULL;
		pull_varattnos(e, 1, &atts);
		while ((a = bms_next_member(atts, a)) >= 0)
		{
			AttrNumber	att = a + FirstLowInvalidHeapAttributeNumber;

			if (att <= 0 || att > st->natts || !col_written(&st->cols[att - 1]))
				return NULL;	/* a column our rows do not carry */
		}
		return ExecPrepareCheck(list_make1(e), estate);
	}
	return NULL;
}

static HeapTupleData *
row_tuple(Relation rel, Datum row, HeapTupleData *tup)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(row);

	tup->t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tup->t_self);
	tup->t_tableOid = RelationGetRelid(rel);
	tup->t_data = th;
	return tup;
}

static bool
row_fails_check(Relation rel, ExprState *check, Datum row, EState *estate, TupleTableSlot *slot)
{
	ExprContext *econtext = GetPerTupleExprContext(estate);
	HeapTupleData tup;
	bool		ok;

	ExecStoreHeapTuple(row_tuple(rel, row, &tup), slot, false);
	econtext->ecxt_scantuple = slot;
	ok = ExecCheck(check, econtext);
	ExecClearTuple(slot);
	ResetPerTupleExprContext(estate);
	return !ok;
}

/*
 * Does the row carry the key a unique violation's DETAIL names?  The
 * server builds "Key (cols)=(values) already exists." with
 * BuildIndexValueDescription; so do we, for the index named in the error.
 */
static bool
row_matches_key(Relation rel, Relation irel, const char *detail, Datum row)
{
	HeapTupleData tup;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			nkeys = irel->rd_index->indnkeyatts;
	char	   *desc;

	row_tuple(rel, row, &tup);
	for (int k = 0; k < nkeys; k++)
	{
		AttrNumber	att = irel->rd_index->indkey.values[k];

		if (att <= 0 || att > RelationGetDescr(rel)->natts)
			return false;		/* an expression index: not ours to guess */
		values[k] = heap_getattr(&tup, att, RelationGetDescr(rel), &isnull[k]);
	}
	desc = BuildIndexValueDescription(irel, values, isnull);
	return desc != NULL && strstr(detail, desc) != NULL;
}

/*
 * Does the row carry the key a foreign key violation's DETAIL names?  The
 * server's RI trigger writes "Key (a, b)=(1, 2) is not present in ...", the
 * column names as they are and the values through their output functions.
 */
static bool
row_matches_fkey(Relation rel, AttrNumber *conkey, int nconkey, const char *detail, Datum row)
{
	HeapTupleData tup;
	StringInfoData names,
				vals;

	row_tuple(rel, row, &tup);
	initStringInfo(&names);
	initStringInfo(&vals);
	for (int i = 0; i < nconkey; i++)
	{
		Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), conkey[i] - 1);
		bool		isnull;
		Datum		d = heap_getattr(&tup, conkey[i], RelationGetDescr(rel), &isnull);
		Oid			out;
		bool		varlena;

		appendStringInfo(&names, "%s%s", i ? ", " : "", NameStr(a->attname));
		if (isnull)
			appendStringInfo(&vals, "%snull", i ? ", " : "");
		else
		{
			getTypeOutputInfo(a->atttypid, &out, &varlena);
			appendStringInfo(&vals, "%s%s", i ? ", " : "", OidOutputFunctionCall(out, d));
		}
	}
	return strstr(detail, psprintf("Key (%s)=(%s) ", names.data, vals.data)) != NULL;
}

/* The columns of a foreign key constraint; false if it is not one of rel's */
static bool
fkey_columns(Relation rel, Oid conoid, AttrNumber *conkey, int *nconkey)
{
	HeapTuple	ctup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Datum		d;
	bool		isnull;
	Datum	   *elems;
	int			n;

	*nconkey = 0;
	if (!HeapTupleIsValid(ctup))
		return false;
	d = SysCacheGetAttr(CONSTROID, ctup, Anum_pg_constraint_conkey, &isnull);
	if (!isnull)
	{
		deconstruct_array(DatumGetArrayTypeP(d), INT2OID, 2, true, TYPALIGN_SHORT, &elems, NULL, &n);
		for (int i = 0; i < n && i < INDEX_MAX_KEYS; i++)
		{
			AttrNumber	att = DatumGetInt16(elems[i]);

			if (att <= 0 || att > RelationGetDescr(rel)->natts)
			{
				ReleaseSysCache(ctup);
				return false;
			}
			conkey[(*nconkey)++] = att;
		}
	}
	ReleaseSysCache(ctup);
	return *nconkey > 0;
}

/*
 * A set-based write statement failed: if it is a CHECK, unique or foreign
 * key violation on the target, find the record whose row fails it.  Runs in
 * the error's aftermath (before the abort), so it only reads: the relcache,
 * the syscache, output functions and immutable checks; anything going wrong
 * here (an error, a cancel) gives up and the original error is reported.
 * Two records sharing a value of another unique index: the second one (the
 * first was written).
 */
static int
failing_record(Batch *b, ErrorData *edata, Datum *rows, int *msgidx, int n)
{
	SeqTable   *st = b->st;
	Relation	rel;
	int			found = 0;
	int			nmatch = 0;
	MemoryContext rowcxt;
	MemoryContext old;

	if (edata->constraint_name == NULL || edata->table_name == NULL ||
		edata->schema_name == NULL ||
		(edata->sqlerrcode != ERRCODE_CHECK_VIOLATION &&
		 edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION &&
		 edata->sqlerrcode != ERRCODE_FOREIGN_KEY_VIOLATION))
		return 0;
	rel = RelationIdGetRelation(st->relid);
	if (rel == NULL)
		return 0;
	if (strcmp(edata->table_name, RelationGetRelationName(rel)) != 0 ||
		strcmp(edata->schema_name, get_namespace_name(RelationGetNamespace(rel))) != 0)
	{
		RelationClose(rel);
		return 0;
	}
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced failing row",
								   ALLOCSET_DEFAULT_SIZES);
	if (edata->sqlerrcode == ERRCODE_CHECK_VIOLATION)
	{
		EState	   *estate = CreateExecutorState();
		ExprState  *check = prepare_check(st, rel, edata->constraint_name, estate);
		TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);

		for (int i = 0; i < n && check != NULL && found == 0; i++)
		{
			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(rowcxt);
			if (row_fails_check(rel, check, rows[i], estate, slot))
				found = b->msgs[msgidx[i]].ord;
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		ExecDropSingleTupleTableSlot(slot);
		FreeExecutorState(estate);
	}
	else if (edata->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION && edata->detail != NULL)
	{
		Oid			conoid = get_relation_constraint_oid(st->relid, edata->constraint_name, true);
		AttrNumber	conkey[INDEX_MAX_KEYS];
		int			nconkey;

		if (OidIsValid(conoid) && fkey_columns(rel, conoid, conkey, &nconkey))
		{
			for (int i = 0; i < n && found == 0; i++)
			{
				CHECK_FOR_INTERRUPTS();
				old = MemoryContextSwitchTo(rowcxt);
				if (row_matches_fkey(rel, conkey, nconkey, edata->detail, rows[i]))
					found = b->msgs[msgidx[i]].ord;
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
			}
		}
	}
	else if (edata->detail != NULL)
	{
		Oid			indexid = get_relname_relid(edata->constraint_name, RelationGetNamespace(rel));
		Relation	irel = OidIsValid(indexid) ? index_open(indexid, AccessShareLock) : NULL;

		if (irel != NULL && irel->rd_index->indrelid == st->relid)
		{
			for (int i = 0; i < n && nmatch < 2; i++)
			{
				CHECK_FOR_INTERRUPTS();
				old = MemoryContextSwitchTo(rowcxt);
				if (row_matches_key(rel, irel, edata->detail, rows[i]))
				{
					found = b->msgs[msgidx[i]].ord;
					nmatch++;
				}
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
			}
		}
		if (irel != NULL)
			index_close(irel, AccessShareLock);
	}
	MemoryContextDelete(rowcxt);
	RelationClose(rel);
	return found;
}

/* Does evaluating the expression raise an error of this SQLSTATE? */
static bool
expr_raises(ExprState *state, ExprContext *econtext, int sqlerrcode)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool raised = false;

	PG_TRY();
	{
		bool		isnull;

		(void) ExecEvalExprSwitchContext(state, econtext, &isnull);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		raised = e->sqlerrcode == sqlerrcode;
		FreeErrorData(e);
	}
	PG_END_TRY();
	return raised;
}

/*
 * A data exception (an overflow, say) in a write statement of a table with
 * stored generated columns: the first row whose generation expressions
 * raise the same error.  Generated columns are computed from the row's own
 * columns by immutable expressions, so evaluating them again is safe.
 */
static int
failing_generated(Batch *b, ErrorData *edata, Datum *rows, int *msgidx, int n)
{
	Relation	rel = RelationIdGetRelation(b->st->relid);
	TupleDesc	desc;
	int			found = 0;

	if (rel == NULL)
		return 0;
	desc = RelationGetDescr(rel);
	if (desc->constr != NULL && desc->constr->has_generated_stored)
	{
		EState	   *estate = CreateExecutorState();
		ExprContext *econtext = GetPerTupleExprContext(estate);
		ExprState **exprs = palloc0(sizeof(ExprState *) * desc->natts);
		TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);

		for (int a = 0; a < desc->natts; a++)
		{
			if (TupleDescAttr(desc, a)->attgenerated == ATTRIBUTE_GENERATED_STORED)
			{
				Node	   *e = build_column_default(rel, a + 1);

				if (e != NULL)
					exprs[a] = ExecPrepareExpr(expression_planner((Expr *) e), estate);
			}
		}
		for (int i = 0; i < n && found == 0; i++)
		{
			HeapTupleData tup;

			CHECK_FOR_INTERRUPTS();
			ExecStoreHeapTuple(row_tuple(rel, rows[i], &tup), slot, false);
			econtext->ecxt_scantuple = slot;
			for (int a = 0; a < desc->natts && found == 0; a++)
				if (exprs[a] != NULL && expr_raises(exprs[a], econtext, edata->sqlerrcode))
					found = b->msgs[msgidx[i]].ord;
			ExecClearTuple(slot);
			ResetPerTupleExprContext(estate);
		}
		ExecDropSingleTupleTableSlot(slot);
		FreeExecutorState(estate);
	}
	RelationClose(rel);
	return found;
}

/*
 * Run a write statement over rows (msgidx[i]: the message of rows[i]).  A
 * constraint the rows break is reported by the statement as a whole; this
 * adds which record it was.
 */
static void
exec_write(Batch *b, SPIPlanPtr plan, Datum *rows, int *msgidx, int n, Oid rowtype, int expected)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		arr = make_array(rows, n, rowtype);

	PG_TRY();
	{
		exec_plan(plan, arr, expected);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		volatile int ord;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ord = 0;
		PG_TRY();
		{
			ord = failing_record(b, edata, rows, msgidx, n);
			if (ord == 0 && ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION)
				ord = failing_generated(b, edata, rows, msgidx, n);
		}
		PG_CATCH();
		{
			/* could not tell: the original error it is */
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
			ord = 0;
		}
		PG_END_TRY();
		if (ord == 0)
			ReThrowError(edata);
		edata->context = edata->context
			? psprintf("record %d\n%s", ord, edata->context)
			: psprintf("record %d", ord);
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/* ----------------------------------------------------------------
 * the steps
 * ---------------------------------------------------------------- */

/*
 * The max log (_sequenced.max_log, one index on (relid, seq)) is read and
 * written here straight through its heap and index, not with statements:
 * at one record per call, three planned statements per call were a quarter
 * of the time, and a generic plan that chose a bitmap scan for the
 * compaction walked every dead entry of the log on every pass (bitmap scans
 * never mark index entries dead; this plain index scan does).
 */
typedef struct MaxLog
{
	Relation	rel;
	Relation	irel;
	ScanKeyData skeys[2];
	Snapshot	snap;
} MaxLog;

typedef struct MaxFound
{
	int64		seq;
	bool		found;
} MaxFound;

static void
maxlog_open(MaxLog *ml, Oid relid, LOCKMODE mode)
{
	Oid			nsp = get_namespace_oid("_sequenced", false);
	Oid			logid = get_relname_relid("max_log", nsp);
	Oid			idxid = get_relname_relid("max_log_relid_seq", nsp);

	if (!OidIsValid(logid) || !OidIsValid(idxid))
		elog(ERROR, "failed to find _sequenced.max_log and its index");
	/* see what earlier statements of this transaction wrote, as a statement would */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	ml->snap = GetActiveSnapshot();
	ml->rel = table_open(logid, mode);
	ml->irel = index_open(idxid, mode);
	ScanKeyInit(&ml->skeys[0], 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
}

static void
maxlog_close(MaxLog *ml)
{
	index_close(ml->irel, NoLock);
	table_close(ml->rel, NoLock);
	PopActiveSnapshot();
}

/*
 * Visit the log rows of the table whose sequence compares with seq as
 * strategy says, in index order (dir), until visit returns false.
 */
static void
maxlog_scan(MaxLog *ml, StrategyNumber strategy, RegProcedure proc, int64 seq,
			ScanDirection dir, bool (*visit) (MaxLog *, TupleTableSlot *, void *), void *arg)
{
	TupleTableSlot *slot = table_slot_create(ml->rel, NULL);
	IndexScanDesc scan;
	int			nkeys = 1;

	if (strategy != InvalidStrategy)
	{
		ScanKeyInit(&ml->skeys[1], 2, strategy, proc, Int64GetDatum(seq));
		nkeys = 2;
	}
	/* the scan copies as many keys as it was begun with */
	scan = index_beginscan(ml->rel, ml->irel, ml->snap, nkeys, 0);
	index_rescan(scan, ml->skeys, nkeys, NULL, 0);
	while (index_getnext_slot(scan, dir, slot))
	{
		CHECK_FOR_INTERRUPTS();
		if (!visit(ml, slot, arg))
			break;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
}

static bool
maxlog_take_first(MaxLog *ml, TupleTableSlot *slot, void *arg)
{
	MaxFound   *r = (MaxFound *) arg;
	bool		isnull;

	r->seq = DatumGetInt64(slot_getattr(slot, 2, &isnull));
	r->found = true;
	return false;
}

/* drop one superseded row, unless another transaction holds it: never wait */
static bool
maxlog_drop(MaxLog *ml, TupleTableSlot *slot, void *arg)
{
	TM_FailureData tmfd;

	(void) table_tuple_delete(ml->rel, &slot->tts_tid, GetCurrentCommandId(true),
							  ml->snap, InvalidSnapshot, false, &tmfd, false);
	return true;
}

static bool
read_max(SeqTable *st, int64 *max)
{
	MaxLog		ml;
	MaxFound	r = {0, false};

	maxlog_open(&ml, st->relid, AccessShareLock);
	maxlog_scan(&ml, InvalidStrategy, InvalidOid, 0, BackwardScanDirection, maxlog_take_first, &r);
	maxlog_close(&ml);
	*max = r.seq;
	return r.found;
}

static void
raise_max(SeqTable *st, int64 callmax)
{
	MaxLog		ml;
	MaxFound	r = {0, false};

	maxlog_open(&ml, st->relid, RowExclusiveLock);
	/* a row as high already (committed, or this transaction's) */
	maxlog_scan(&ml, BTGreaterEqualStrategyNumber, F_INT8GE, callmax, ForwardScanDirection,
				maxlog_take_first, &r);
	if (!r.found)
	{
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		EState	   *estate = CreateExecutorState();
		TupleTableSlot *slot = table_slot_create(ml.rel, NULL);

		estate->es_output_cid = GetCurrentCommandId(true);
		InitResultRelInfo(rri, ml.rel, 0, NULL, 0);
		ExecOpenIndices(rri, false);
		slot->tts_values[0] = ObjectIdGetDatum(st->relid);
		slot->tts_isnull[0] = false;
		slot->tts_values[1] = Int64GetDatum(callmax);
		slot->tts_isnull[1] = false;
		ExecStoreVirtualTuple(slot);
		table_tuple_insert(ml.rel, slot, estate->es_output_cid, 0, NULL);
		list_free(ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL));
		ExecDropSingleTupleTableSlot(slot);
		ExecCloseIndices(rri);
		FreeExecutorState(estate);

		/*
		 * Now and then, drop older log rows: at a backend's first insert
		 * (so that sessions making one call each keep the log short too) and
		 * every 32nd after.  Only before this transaction's first insert (the
		 * one just made aside): deleting rows a transaction inserted itself
		 * costs it memory for every such row (combo command ids), which would
		 * grow without bound in a long transaction.
		 */
		if (!FullTransactionIdEquals(max_log_xact, GetTopFullTransactionId()) &&
			(max_log_inserts++ % 32) == 0)
			maxlog_scan(&ml, BTLessStrategyNumber, F_INT8LT, callmax, ForwardScanDirection,
						maxlog_drop, NULL);
		max_log_xact = GetTopFullTransactionId();
	}
	maxlog_close(&ml);
}

/* What the executor raises for a row changed after a transaction's snapshot */
static void
pg_attribute_noreturn()
serialization_failure(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent update")));
}

/*
 * Insert slot as INSERT ... ON CONFLICT does: speculatively, so that others
 * wait on our token, not our transaction, until we know whether we won.
 * False: the arbiter index had the key already (the tuple is withdrawn).
 */
static bool
insert_speculative(Relation rel, ResultRelInfo *rri, EState *estate, TupleTableSlot *slot,
				   CommandId cid, List *arbiters)
{
	TransactionId xid = GetCurrentTransactionId();
	uint32		token = SpeculativeInsertionLockAcquire(xid);
	bool		specconflict = false;

	table_tuple_insert_speculative(rel, slot, cid, 0, NULL, token);
	list_free(ExecInsertIndexTuples(rri, slot, estate, false, true, &specconflict, arbiters));
	table_tuple_complete_speculative(rel, slot, token, !specconflict);
	SpeculativeInsertionLockRelease(xid);
	return !specconflict;
}

/* Update the row version at tid to slot, waiting for a concurrent writer, and its index entries */
static TM_Result
update_row(Relation rel, ItemPointer tid, ResultRelInfo *rri, EState *estate, TupleTableSlot *slot,
		   CommandId cid, Snapshot snap)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	res;

	res = table_tuple_update(rel, tid, slot, cid, snap, InvalidSnapshot, true,
							 &tmfd, &lockmode, &update_indexes);
	if (res == TM_Ok && update_indexes)
		list_free(ExecInsertIndexTuples(rri, slot, estate, true, false, NULL, NIL));
	return res;
}

/*
 * Does a message of sequence seq beat a stored sequence (stored_null: the
 * stored one is NULL, older than any message)?  Ties: on_equal.
 */
static inline bool
message_wins(SeqTable *st, int64 seq, int64 stored, bool stored_null)
{
	return stored_null || stored < seq ||
		(stored == seq && st->on_equal == ON_EQUAL_REPLACE);
}

/*
 * Step 0: read each candidate's stored state straight from the state table's
 * unique index, under a fresh snapshot, locking and writing nothing.  A
 * message already older than what is stored is stale for good (a key's
 * stored sequence never goes down), so it leaves the batch here: a stale
 * message costs one index probe and no statement at all.  The others are
 * decided again, under lock, by lock_phase.  Returns how many remain.
 */
static int
probe_phase(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	Relation	srel;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skeys[INDEX_MAX_KEYS];
	AttrNumber	seqattno = st->nkeys + 1;	/* k1..kn, sequence, ... */
	int			nkept = 0;
	bool		covering;
	Buffer		vmbuffer = InvalidBuffer;
	LeafProbe  *lp = NULL;
	Datum		keyvals[INDEX_MAX_KEYS];

	/* see what earlier statements of this transaction wrote */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	srel = table_open(st->staterelid, RowExclusiveLock);
	irel = index_open(st->stateindexid, RowExclusiveLock);
	slot = table_slot_create(srel, NULL);
	scan = index_beginscan(srel, irel, GetActiveSnapshot(), st->nkeys, 0);
	for (int k = 0; k < st->nkeys; k++)
		ScanKeyEntryInitializeWithInfo(&skeys[k], 0, k + 1, BTEqualStrategyNumber,
									   InvalidOid, st->keys[k].ssup.ssup_collation,
									   &st->keys[k].eqproc, (Datum) 0);
	/*
	 * With the sequence in the index (INCLUDE), a key whose heap page is
	 * all-visible is answered by the index alone, as an index-only scan
	 * does: after a VACUUM, a replay touches no heap page at all.
	 */
	covering = irel->rd_index->indnatts > st->nkeys &&
		irel->rd_index->indkey.values[st->nkeys] == seqattno;
	scan->xs_want_itup = covering;
	/* keys come sorted: most are answered on the leaf page of the one before */
	if (covering)
		lp = leafprobe_begin(srel, irel, st->keys, st->nkeys, GetActiveSnapshot());
	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];
		bool		stale = false;
		bool		isnull = true;
		Datum		d = (Datum) 0;
		ItemPointer tid;
		LeafResult	r = LEAF_UNSURE;

#ifdef __GNUC__

		/*
		 * Candidates come in key order, their messages in input order: ask
		 * for the message a few keys ahead, and for its key values once the
		 * message itself has had time to arrive, so that the probe does not
		 * wait on them.
		 */
		if (i + 8 < ncand)
			__builtin_prefetch(&b->msgs[cand[i + 8]]);
		if (i + 4 < ncand)
			__builtin_prefetch(&b->msgs[cand[i + 4]].values[st->keys[0].attnum - 1]);
#endif

		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = m->values[st->keys[k].attnum - 1];
		m->found = false;
		m->exact = false;
		if (lp != NULL)
		{
			int64		stored;

			CHECK_FOR_INTERRUPTS();
			r = leafprobe_get(lp, keyvals, slot, &m->tid, &m->exact, &stored, &isnull);
			if (r == LEAF_FOUND)
			{
				d = Int64GetDatum(stored);
				m->found = true;
			}
		}
		if (r == LEAF_UNSURE)
		{
			for (int k = 0; k < st->nkeys; k++)
				skeys[k].sk_argument = keyvals[k];
			index_rescan(scan, skeys, st->nkeys, NULL, 0);
		}
		while (r == LEAF_UNSURE && (tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			if (covering && VM_ALL_VISIBLE(srel, ItemPointerGetBlockNumber(tid), &vmbuffer))
			{
				d = index_getattr(scan->xs_itup, st->nkeys + 1, scan->xs_itupdesc, &isnull);
				m->tid = *tid;
				m->exact = false;
				m->found = true;
				break;
			}
			if (index_fetch_heap(scan, slot))
			{
				d = slot_getattr(slot, seqattno, &isnull);
				m->tid = slot->tts_tid;
				m->exact = true;
				m->found = true;
				break;
			}
		}
		/* ties under 'error' are decided (and raised) under lock */
		m->wins = m->found && message_wins(st, m->seq, DatumGetInt64(d), isnull);
		if (m->found && !m->wins &&
			!(st->on_equal == ON_EQUAL_ERROR && DatumGetInt64(d) == m->seq))
			stale = true;
		ExecClearTuple(slot);
		if (stale)
			m->outcome = OUT_STALE;
		else
			cand[nkept++] = cand[i];
	}
	if (vmbuffer != InvalidBuffer)
		ReleaseBuffer(vmbuffer);
	leafprobe_end(lp);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, NoLock);
	table_close(srel, NoLock);
	PopActiveSnapshot();
	return nkept;
}

/*
 * Step 1: take the per-key locks and decide against the stored state.
 * Accepted candidates keep OUT_NONE; the others become stale.
 *
 * This is INSERT ... ON CONFLICT DO UPDATE ... WHERE on the state table,
 * done straight on the heap and its indexes with the executor's own
 * building blocks, for every candidate in key order (the one lock order
 * every call shares).  A key the probe found is locked through the tuple
 * the probe saw; a key it did not find is inserted speculatively, as ON
 * CONFLICT does, so that two calls inserting one new key never raise a
 * unique violation: the loser sees a conflict, forgets its tuple and starts
 * over on the winner's.  Only a lost race pays the pre-check probe.
 */
static void
lock_phase(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	Relation	srel = table_open(st->staterelid, RowExclusiveLock);
	TupleTableSlot *slot;
	TupleTableSlot *existing;
	List	   *arbiters = list_make1_oid(st->stateindexid);
	CommandId	cid = GetCurrentCommandId(true);
	Snapshot	snap;
	ErrorContextCallback errcb;
	int			seqno = st->nkeys;	/* 0-based: k1..kn, sequence, position, deleted */

	/* an error here (an oversized key, say) is about the record at hand */
	input_push_context(&errcb);
	PushActiveSnapshot(GetTransactionSnapshot());
	snap = GetActiveSnapshot();
	estate->es_output_cid = cid;
	InitResultRelInfo(rri, srel, 0, NULL, 0);
	ExecOpenIndices(rri, true);
	slot = table_slot_create(srel, NULL);
	existing = table_slot_create(srel, NULL);

	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];

		/*
		 * Only a row version itself is locked; an index entry (an
		 * index-only answer) is looked up again, like a lost race.
		 */
		bool		from_probe = m->found && m->exact;
		bool		precheck = m->found && !m->exact;

		input_set_error_position(m->ord, NULL);
		m->pos = positions_next(st->staterelid);
		for (;;)
		{
			ItemPointerData conflict;
			TM_FailureData tmfd;
			TM_Result	res;
			bool		isnull;
			Datum		stored;

			CHECK_FOR_INTERRUPTS();
			ResetPerTupleExprContext(estate);
			ExecClearTuple(slot);
			for (int k = 0; k < st->nkeys; k++)
			{
				slot->tts_values[k] = m->values[st->keys[k].attnum - 1];
				slot->tts_isnull[k] = false;
			}
			slot->tts_values[seqno] = Int64GetDatum(m->seq);
			slot->tts_isnull[seqno] = false;
			slot->tts_values[seqno + 1] = Int64GetDatum(m->pos);
			slot->tts_isnull[seqno + 1] = false;
			slot->tts_values[seqno + 2] = BoolGetDatum(m->action == MSG_DELETE);
			slot->tts_isnull[seqno + 2] = false;
			ExecStoreVirtualTuple(slot);

			if (from_probe && m->wins)
			{
				/*
				 * The probe saw this row version and the message beats it:
				 * update it without locking it first (a lock is a WAL record
				 * of its own).  If another transaction changed it since, the
				 * update says so (having waited for it) and the key is looked
				 * up again and locked, as below.
				 */
				from_probe = false;
				res = update_row(srel, &m->tid, rri, estate, slot, cid, snap);
				if (res == TM_Ok)
				{
					m->fresh = false;
					break;
				}
				if (res != TM_Updated && res != TM_Deleted)
					elog(ERROR, "failed to update the state of a key of table %s (%d)", st->relname, (int) res);
				if (IsolationUsesXactSnapshot())
					serialization_failure();
				precheck = true;
				continue;
			}
			else if (from_probe)
			{
				/* the probe saw a row: lock that one */
				conflict = m->tid;
				from_probe = false;
			}
			else if (!precheck || ExecCheckIndexConstraints(rri, slot, estate, &conflict, arbiters))
			{
				/* no row for the key, as far as anyone can tell: insert it */
				if (!insert_speculative(srel, rri, estate, slot, cid, arbiters))
				{
					/* lost the race: from the top, where the pre-check finds the winner */
					precheck = true;
					continue;
				}
				m->fresh = true;	/* a key never seen: its upsert goes straight to INSERT */
				break;
			}

			res = table_tuple_lock(srel, &conflict, snap, existing, cid,
								   LockTupleExclusive, LockWaitBlock, 0, &tmfd);
			if (res == TM_Updated || res == TM_Deleted)
			{
				ExecClearTuple(existing);	/* no pin kept while we wait on the next try */
				if (IsolationUsesXactSnapshot())
					serialization_failure();
				precheck = true;	/* changed under us: look again */
				continue;
			}
			if (res != TM_Ok)
				elog(ERROR, "failed to lock the state of a key of table %s (%d)", st->relname, (int) res);

			/* as ON CONFLICT: under REPEATABLE READ, a row our snapshot misses is a conflict */
			if (IsolationUsesXactSnapshot() && !table_tuple_satisfies_snapshot(srel, existing, snap))
			{
				Datum		xmin = slot_getsysattr(existing, MinTransactionIdAttributeNumber, &isnull);

				if (!TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin)))
					serialization_failure();
			}

			stored = slot_getattr(existing, seqno + 1, &isnull);
			if (!message_wins(st, m->seq, DatumGetInt64(stored), isnull))
			{
				if (st->on_equal == ON_EQUAL_ERROR && !isnull && DatumGetInt64(stored) == m->seq)
				{
					input_set_error_position(0, NULL);	/* the message names it */
					ereport(ERROR,
							(errcode(ERRCODE_CARDINALITY_VIOLATION),
							 errmsg("record %d has sequence " INT64_FORMAT ", the same as the stored sequence of key %s",
									m->ord, m->seq, key_text(b, m)),
							 errdetail("Table %s is registered with on_equal => 'error'.", st->relname)));
				}
				m->outcome = OUT_STALE; /* the row stays locked, as under ON CONFLICT */
				ExecClearTuple(existing);
				break;
			}
			res = update_row(srel, &existing->tts_tid, rri, estate, slot, cid, snap);
			if (res != TM_Ok)
				elog(ERROR, "failed to update the state of a key of table %s (%d)", st->relname, (int) res);
			m->fresh = false;
			ExecClearTuple(existing);
			break;
		}
	}

	ExecDropSingleTupleTableSlot(slot);
	ExecDropSingleTupleTableSlot(existing);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(srel, NoLock);
	PopActiveSnapshot();
	input_pop_context(&errcb);
}

/*
 * A delete that found no row the caller can see: is there one it cannot see
 * (row-level security)?  Asked through the key index (keyprobe.c: no query
 * as anyone but the caller), and answered with an error, never with data.
 */
static void
hidden_rows_check(Batch *b, int *todo, int ntodo)
{
	SeqTable   *st = b->st;
	KeyProbe   *kp;
	Datum		keyvals[INDEX_MAX_KEYS];

	if (check_enable_rls(st->relid, InvalidOid, true) != RLS_ENABLED)
		return;
	kp = keyprobe_begin(st);
	PushActiveSnapshot(GetLatestSnapshot());
	for (int i = 0; i < ntodo; i++)
	{
		Message    *m = &b->msgs[todo[i]];

		if (m->outcome != OUT_NONE)
			continue;
		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = m->values[st->keys[k].attnum - 1];
		if (keyprobe_exists(kp, keyvals, GetActiveSnapshot()))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("record %d deletes a row of table %s that the current role cannot see",
							m->ord, st->relname),
					 errdetail("Key %s exists, hidden by row-level security.", key_text(b, m))));
	}
	PopActiveSnapshot();
	keyprobe_end(kp);
}

/*
 * Step 3: accepted messages the target refused.  Of the messages of a write
 * step (msgs), those still without an outcome: a row is there (written
 * around the functions, or hidden by row-level security): read it as the
 * caller; if found, the message is stale and the state row takes the row's
 * sequence.  For deletes, no row means the delete left only a tombstone.
 */
static void
fixup(Batch *b, int *cand, int ncand, int *msgs, int nmsgs, TupleDesc desc, bool deletes)
{
	SeqTable   *st = b->st;
	int		   *todo = palloc(sizeof(int) * Max(nmsgs, 1));
	int			ntodo = 0;
	Datum	   *rows;
	Datum	   *keyvals;
	TupleDesc	sdesc;
	Datum	   *fix;
	int			nfix = 0;
	Oid			save_userid;
	int			save_sec;

	for (int i = 0; i < nmsgs; i++)
		if (b->msgs[msgs[i]].outcome == OUT_NONE)
			todo[ntodo++] = msgs[i];
	if (ntodo == 0)
		return;					/* the usual case: the target took them all */

	rows = palloc(sizeof(Datum) * ntodo);
	keyvals = palloc(sizeof(Datum) * st->nkeys);
	for (int i = 0; i < ntodo; i++)
		rows[i] = target_row(b, &b->msgs[todo[i]], desc, NULL, true);
	exec_plan(plan_fixup_read(st), make_array(rows, ntodo, st->reltype), SPI_OK_SELECT);

	sdesc = lookup_rowtype_tupdesc(st->statetype, -1);
	fix = palloc(sizeof(Datum) * (SPI_processed + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull,
					seqnull;
		int64		seq;
		bool		del;
		Message    *m;

		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, k + 1, &isnull);
		seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, st->nkeys + 1, &seqnull));
		del = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, st->nkeys + 2, &isnull));
		m = find_by_key(b, cand, ncand, keyvals);
		m->outcome = OUT_STALE;
		fix[nfix++] = state_row(st, sdesc, m, seq, seqnull, del);
	}
	if (deletes)
		hidden_rows_check(b, todo, ntodo);
	for (int i = 0; i < ntodo; i++)
	{
		Message    *m = &b->msgs[todo[i]];

		if (m->outcome != OUT_NONE)
			continue;
		if (deletes)
			m->outcome = OUT_DELETED;	/* no row: the tombstone is the delete */
		else
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("record %d conflicts with a row of table %s that the current role cannot see",
							m->ord, st->relname),
					 errdetail("Key %s exists, hidden by row-level security.", key_text(b, m))));
	}
	if (nfix > 0)
	{
		catalog_begin_internal(&save_userid, &save_sec);
		exec_plan(plan_fixup_state(st), make_array(fix, nfix, st->statetype), SPI_OK_UPDATE);
		catalog_end_internal(save_userid, save_sec);
	}
	ReleaseTupleDesc(sdesc);
}

/*
 * Can upserts be written into the target straight through its heap and
 * indexes, as the executor's INSERT and UPDATE would write them?  Only when
 * nothing else would run or apply: no trigger (foreign keys are triggers),
 * rule, row-level security, generated or non-key identity column,
 * deferrable index, partitioning, or serializable transaction (its
 * predicate locks), and the caller holds INSERT, UPDATE and SELECT on the
 * whole table (column privileges are checked by the statements).  Anything
 * else takes the statements.
 */
static bool
direct_target_ok(SeqTable *st, Relation rel)
{
	AclMode		need = ACL_INSERT | ACL_UPDATE | ACL_SELECT;

	TriggerDesc *td = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		rel->rd_rules != NULL || rel->rd_rel->relhasrules ||
		IsolationIsSerializable() || !OidIsValid(st->keyindexid))
		return false;
	/* registration's own TRUNCATE trigger is no reason */
	if (td != NULL &&
		(td->trig_insert_before_row || td->trig_insert_after_row || td->trig_insert_instead_row ||
		 td->trig_insert_before_statement || td->trig_insert_after_statement ||
		 td->trig_update_before_row || td->trig_update_after_row || td->trig_update_instead_row ||
		 td->trig_update_before_statement || td->trig_update_after_statement ||
		 td->trig_insert_new_table || td->trig_update_old_table || td->trig_update_new_table))
		return false;
	for (int i = 0; i < st->natts; i++)
		if (!st->cols[i].dropped &&
			(!col_written(&st->cols[i]) ||
			 TupleDescAttr(RelationGetDescr(rel), i)->attidentity == ATTRIBUTE_IDENTITY_ALWAYS))
			return false;			/* INSERT would refuse a value for an ALWAYS identity */
	if (check_enable_rls(st->relid, InvalidOid, true) == RLS_ENABLED)
		return false;
	return pg_class_aclmask(st->relid, GetUserId(), need, ACLMASK_ALL) == need;
}

/*
 * Look again under the newest snapshot (READ COMMITTED, after waiting for a
 * concurrent writer): what it committed is then visible.
 */
static void
retry_snapshot(IndexScanDesc *scan, Relation rel, Relation irel, int nkeys, Snapshot *snap)
{
	index_endscan(*scan);		/* before the snapshot it uses goes */
	PopActiveSnapshot();
	PushActiveSnapshot(GetLatestSnapshot());
	*scan = index_beginscan(rel, irel, GetActiveSnapshot(), nkeys, 0);
	*snap = GetActiveSnapshot();
}

/*
 * The accepted upserts ups[0..nups-1] (key order), written directly: each
 * key's row is looked up by the target's key index under a fresh snapshot;
 * a row there is updated when it is older (the same guard as the UPDATE
 * statement), else left for the fix-up; no row, and the record is
 * inserted.  Constraints are checked and indexes maintained as by the
 * executor (ExecConstraints, ExecInsertIndexTuples); an error names the
 * record.  Returns false, having written nothing, when the target has an
 * index that needs the statements (deferrable).
 */
static bool
direct_upserts(Batch *b, int *ups, int nups, TupleDesc desc, DefaultState *ds)
{
	SeqTable   *st = b->st;
	Relation	rel = table_open(st->relid, NoLock);	/* locked by the session */
	Relation	irel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	IndexScanDesc scan;
	ScanKeyData skeys[INDEX_MAX_KEYS];
	int			keyof[INDEX_MAX_KEYS];	/* index column -> key number */
	CommandId	cid;
	ErrorContextCallback errcb;
	List	   *arbiters = list_make1_oid(st->keyindexid);
	bool		checked_identity = false;
	bool		has_constraints = rel->rd_att->constr != NULL &&
		(rel->rd_att->constr->has_not_null || rel->rd_att->constr->num_check > 0);
	bool		usable = false; /* until the key index is found as registered */
	bool		deferrable = false;

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, true);	/* with what the ON CONFLICT pre-check needs */
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	ir = rri->ri_IndexRelationDescs[i];
		Form_pg_index ind = ir->rd_index;

		if (!ind->indimmediate)
		{
			deferrable = true;
			continue;
		}
		if (ind->indexrelid != st->keyindexid || !ind->indisvalid || ind->indnkeyatts != st->nkeys)
			continue;
		/* the key index, as registration found it: its columns, in its order */
		usable = true;
		for (int c = 0; usable && c < st->nkeys; c++)
		{
			int			k = 0;

			while (k < st->nkeys && st->keys[k].attnum != ind->indkey.values[c])
				k++;
			if (k == st->nkeys)
				usable = false;
			else
				keyof[c] = k;
		}
	}
	if (!usable || deferrable)
	{
		ExecCloseIndices(rri);
		FreeExecutorState(estate);
		table_close(rel, NoLock);
		return false;
	}

	/* see what earlier statements and steps of this call wrote */
	CommandCounterIncrement();
	cid = GetCurrentCommandId(true);
	estate->es_output_cid = cid;
	PushActiveSnapshot(GetTransactionSnapshot());
	irel = index_open(st->keyindexid, RowExclusiveLock);
	for (int c = 0; c < st->nkeys; c++)
		ScanKeyEntryInitializeWithInfo(&skeys[c], 0, c + 1, BTEqualStrategyNumber,
									   InvalidOid, st->keys[keyof[c]].ssup.ssup_collation,
									   &st->keys[keyof[c]].eqproc, (Datum) 0);
	scan = index_beginscan(rel, irel, GetActiveSnapshot(), st->nkeys, 0);
	oldslot = table_slot_create(rel, NULL);
	newslot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	input_push_context(&errcb);

	for (int i = 0; i < nups; i++)
	{
		Message    *m = &b->msgs[ups[i]];
		Snapshot	snap = GetActiveSnapshot();
		bool		lookup = !m->fresh; /* a key the functions know: its row first */

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		ExecClearTuple(newslot);
		target_values(b, m, desc, ds, false, newslot->tts_values, newslot->tts_isnull);
		ExecStoreVirtualTuple(newslot);
		input_set_error_position(m->ord, NULL);

		for (;;)
		{
			TM_Result	res;
			bool		isnull;
			Datum		stored;

			ItemPointerData conflict;

			if (lookup)
			{
				for (int c = 0; c < st->nkeys; c++)
					skeys[c].sk_argument = m->values[st->keys[keyof[c]].attnum - 1];
				index_rescan(scan, skeys, st->nkeys, NULL, 0);
			}
			if (!lookup || !index_getnext_slot(scan, ForwardScanDirection, oldslot))
			{
				/*
				 * No row this snapshot sees (a key with a tombstone), or a
				 * key the functions never saw (most new keys), which has no
				 * row unless one was written around them: insert as INSERT
				 * ... ON CONFLICT DO NOTHING does.  The pre-check asks the
				 * index with a dirty snapshot, waiting for an uncommitted
				 * insert of the key; a row there is looked up (under a new
				 * snapshot in READ COMMITTED, after one look with this one;
				 * REPEATABLE READ cannot write over a row it does not see).
				 * A key the functions never saw skips the pre-check: it
				 * almost never has a row, and the speculative insertion
				 * finds one anyway, after which the key takes this path
				 * from the top, pre-check included.
				 */
				if (lookup && !ExecCheckIndexConstraints(rri, newslot, estate, &conflict, arbiters))
				{
					if (IsolationUsesXactSnapshot())
						serialization_failure();
					retry_snapshot(&scan, rel, irel, st->nkeys, &snap);
					continue;
				}
				if (has_constraints)
					ExecConstraints(rri, newslot, estate);
				if (insert_speculative(rel, rri, estate, newslot, cid, arbiters))
				{
					m->outcome = OUT_INSERTED;
					break;
				}
				/* lost a race with an insert around the functions: look again */
				lookup = true;
				continue;
			}
			stored = slot_getattr(oldslot, st->seqatt, &isnull);
			if (!isnull && !message_wins(st, m->seq, DatumGetInt64(stored), false))
				break;			/* a newer row written around the functions: fix-up */

			/* the key is kept as stored (equal is not always identical) */
			slot_getallattrs(oldslot);
			for (int k = 0; k < st->nkeys; k++)
			{
				int			a = st->keys[k].attnum - 1;

				newslot->tts_values[a] = oldslot->tts_values[a];
				newslot->tts_isnull[a] = oldslot->tts_isnull[a];
			}
			if (!checked_identity)
			{
				CheckCmdReplicaIdentity(rel, CMD_UPDATE);	/* as UPDATE: published tables need one */
				checked_identity = true;
			}
			if (has_constraints)
				ExecConstraints(rri, newslot, estate);
			res = update_row(rel, &oldslot->tts_tid, rri, estate, newslot, cid, snap);
			if (res == TM_Ok)
			{
				m->outcome = OUT_UPDATED;
				break;
			}
			if ((res == TM_Updated || res == TM_Deleted) && !IsolationUsesXactSnapshot())
			{
				/*
				 * Changed by a concurrent writer around the functions (every
				 * call holds the key's state lock), which has finished: look
				 * again at what it left, as UPDATE's recheck would.
				 */
				ExecClearTuple(oldslot);
				retry_snapshot(&scan, rel, irel, st->nkeys, &snap);
				continue;
			}
			if (res == TM_Updated || res == TM_Deleted)
				serialization_failure();
			elog(ERROR, "failed to update a row of table %s (%d)", st->relname, (int) res);
		}
		ExecClearTuple(oldslot);
		input_set_error_position(0, NULL);
	}

	input_pop_context(&errcb);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(oldslot);
	ExecDropSingleTupleTableSlot(newslot);
	index_close(irel, NoLock);
	PopActiveSnapshot();
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	return true;
}

/* Step 2: write the accepted messages into the target, as the caller. */
static void
write_phase(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	TupleDesc	desc = lookup_rowtype_tupdesc(st->reltype, -1);
	DefaultState ds = {0};
	int		   *ups = palloc(sizeof(int) * ncand);
	int		   *dels = palloc(sizeof(int) * ncand);
	int		   *todo = palloc(sizeof(int) * ncand);
	Datum	   *rows = palloc(sizeof(Datum) * ncand);
	Datum	   *irows = palloc(sizeof(Datum) * ncand);
	int		   *rowmsg = palloc(sizeof(int) * ncand);	/* the message of rows[i] */
	int			nups = 0,
				ndels = 0,
				ntodo;

	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];

		if (m->outcome != OUT_NONE)
			continue;
		if (m->action == MSG_UPSERT)
			ups[nups++] = cand[i];
		else
			dels[ndels++] = cand[i];
	}

	if (nups > 0 && b->direct && direct_upserts(b, ups, nups, desc, &ds))
	{
		/* what the target refused (a newer row written around the functions) */
		fixup(b, cand, ncand, ups, nups, desc, false);
	}
	else if (nups > 0)
	{
		int			nexisting = 0;

		/* keys seen before: UPDATE first */
		for (int i = 0; i < nups; i++)
			if (!b->msgs[ups[i]].fresh)
			{
				rowmsg[nexisting] = ups[i];
				rows[nexisting++] = target_row(b, &b->msgs[ups[i]], desc, &ds, false);
			}
		if (nexisting > 0)
		{
			exec_write(b, plan_update(st), rows, rowmsg, nexisting, st->reltype, SPI_OK_UPDATE_RETURNING);
			mark_returned(b, cand, ncand, OUT_UPDATED);
		}

		/* new keys, and keys that had no row (tombstones): INSERT */
		ntodo = 0;
		for (int i = 0, j = 0; i < nups; i++)
		{
			Message    *m = &b->msgs[ups[i]];
			Datum		row = (Datum) 0;

			if (m->fresh)
				row = target_row(b, m, desc, &ds, false);
			else
				row = rows[j++];	/* made for the UPDATE, in the same order */
			if (m->outcome == OUT_NONE)
			{
				irows[ntodo] = row;
				todo[ntodo++] = ups[i];
			}
		}
		if (ntodo > 0)
		{
			int			nretry = 0;

			exec_write(b, plan_insert(st), irows, todo, ntodo, st->reltype, SPI_OK_INSERT_RETURNING);
			mark_returned(b, cand, ncand, OUT_INSERTED);

			/*
			 * A key guessed new that the INSERT found taken never had its
			 * UPDATE: try it now, so a wrong guess costs a statement, never
			 * a wrong outcome.
			 */
			for (int i = 0; i < ntodo; i++)
				if (b->msgs[todo[i]].outcome == OUT_NONE && b->msgs[todo[i]].fresh)
				{
					rowmsg[nretry] = todo[i];
					rows[nretry++] = irows[i];
				}
			if (nretry > 0)
			{
				exec_write(b, plan_update(st), rows, rowmsg, nretry, st->reltype, SPI_OK_UPDATE_RETURNING);
				mark_returned(b, cand, ncand, OUT_UPDATED);
			}
			fixup(b, cand, ncand, todo, ntodo, desc, false);
		}
	}

	if (ndels > 0)
	{
		for (int i = 0; i < ndels; i++)
			rows[i] = target_row(b, &b->msgs[dels[i]], desc, NULL, true);
		exec_write(b, plan_delete(st), rows, dels, ndels, st->reltype,
				   st->soft_deletes ? SPI_OK_UPDATE_RETURNING : SPI_OK_DELETE_RETURNING);
		mark_returned(b, cand, ncand, OUT_DELETED);
		fixup(b, cand, ncand, dels, ndels, desc, true);
	}
	defaults_done(&ds);
	ReleaseTupleDesc(desc);
}

/* Append-only tables: every message is a new row. */
static void
apply_append(Batch *b, bool have_max, int64 startmax)
{
	SeqTable   *st = b->st;
	TupleDesc	desc = lookup_rowtype_tupdesc(st->reltype, -1);
	DefaultState ds = {0};
	Datum	   *rows = palloc(sizeof(Datum) * Max(b->nmsgs, 1));
	int		   *idx = palloc(sizeof(int) * Max(b->nmsgs, 1));
	int			n = 0;

	for (int i = 0; i < b->nmsgs; i++)
	{
		Message    *m = &b->msgs[i];

		if (st->per_table && have_max && m->seq <= startmax)
		{
			m->outcome = OUT_STALE;
			continue;
		}
		idx[n] = i;
		rows[n++] = target_row(b, m, desc, &ds, false);
	}
	if (n > 0)
	{
		StringInfoData s;
		Datum	   *records = palloc(sizeof(Datum) * n);
		Datum	   *positions = palloc(sizeof(Datum) * n);
		Datum	   *seqs = palloc(sizeof(Datum) * n);
		Datum	   *oids = palloc(sizeof(Datum) * n);
		Datum	   *tids = palloc(sizeof(Datum) * n);
		Oid			argtypes[5] = {INT8ARRAYOID, INT8ARRAYOID, JSONBARRAYOID, OIDARRAYOID, TIDARRAYOID};
		Datum		args[5];
		Oid			save_userid;
		int			save_sec;

		if (st->plan_append == NULL)
		{
			initStringInfo(&s);
			append_insert(&s, st);
			appendStringInfoString(&s, " RETURNING pg_catalog.to_jsonb(t.*), t.tableoid, t.ctid");
			prepare_plan(&st->plan_append, s.data, st->relarraytype);
		}
		exec_write(b, st->plan_append, rows, idx, n, st->reltype, SPI_OK_INSERT_RETURNING);
		if (SPI_processed != (uint64) n)
			elog(ERROR, "pg_sequenced: expected %d inserted rows, got " UINT64_FORMAT, n, SPI_processed);
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Message    *m = &b->msgs[idx[i]];

			records[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			oids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
			tids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);
			m->outcome = OUT_INSERTED;
			m->pos = positions_next(st->staterelid);
			positions[i] = Int64GetDatum(m->pos);
			seqs[i] = Int64GetDatum(m->seq);
		}
		args[0] = PointerGetDatum(construct_array(positions, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(seqs, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[2] = PointerGetDatum(construct_array(records, n, JSONBOID, -1, false, TYPALIGN_INT));
		args[3] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
		args[4] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));

		catalog_begin_internal(&save_userid, &save_sec);
		if (st->plan_append_state == NULL)
		{
			initStringInfo(&s);
			appendStringInfo(&s, "INSERT INTO %s (position, sequence, record, row_table, row_tid) "
							 "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
							 "pg_catalog.unnest($4), pg_catalog.unnest($5))", st->state_qualname);
			prepare_plan_n(&st->plan_append_state, s.data, 5, argtypes);
		}
		if (SPI_execute_plan(st->plan_append_state, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "failed to write the state of table %s", st->relname);
		catalog_end_internal(save_userid, save_sec);
	}
	defaults_done(&ds);
	ReleaseTupleDesc(desc);
}

/*
 * Before the first statement of a call: the planner settings, and fresh
 * plans if the state table has grown much since they were made.  A call
 * whose messages are all stale runs no statement and skips both.
 */
static void
apply_sql_ready(Batch *b)
{
	if (b->sql_ready)
		return;
	catalog_pin_path();
	catalog_guc_planner();
	catalog_check_plans(b->st);
	b->sql_ready = true;
}

void
apply_batch(Batch *b)
{
	SeqTable   *st = b->st;
	MemoryContext old = MemoryContextSwitchTo(b->mcxt);
	int64		startmax = 0;
	bool		have_max = false;
	int		   *cand;
	int			ncand = 0;
	bool		any = false;
	int64		callmax = PG_INT64_MIN;

	if (b->nmsgs == 0)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	/* read now: it may run statements, and positions are handed out in loops over SPI results */
	(void) positions_offset();
	positions_lock(st->staterelid);
	if (st->per_table)
	{
		apply_sql_ready(b);
		have_max = read_max(st, &startmax);
	}

	if (st->nkeys == 0)
	{
		int			level = apply_caller_path_begin(b);

		for (int i = 0; i < b->nmsgs; i++)
			input_materialize(b, &b->msgs[i], b->mcxt);
		apply_caller_path_end(level);
		apply_sql_ready(b);
		apply_append(b, have_max, startmax);
	}
	else
	{
		dedup_sort(b);
		cand = palloc(sizeof(int) * b->nmsgs);
		for (int i = 0; i < b->nmsgs;)
		{
			Message    *w = &b->msgs[b->order[i]];
			int			j = i + 1;

			while (j < b->nmsgs &&
				   (b->samekey != NULL ? b->samekey[j] :
					dedup_compare_keys(st, w->values, b->msgs[b->order[j]].values) == 0))
				j++;
			if (st->on_equal == ON_EQUAL_ERROR && j > i + 1 &&
				b->msgs[b->order[i + 1]].seq == w->seq)
			{
				Message    *o = &b->msgs[b->order[i + 1]];

				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("records %d and %d have the same sequence " INT64_FORMAT " for key %s",
								Min(w->ord, o->ord), Max(w->ord, o->ord), w->seq, key_text(b, w)),
						 errdetail("Table %s is registered with on_equal => 'error'.", st->relname)));
			}
			for (int k = i + 1; k < j; k++)
				b->msgs[b->order[k]].outcome = OUT_SUPERSEDED;
			if (st->per_table && have_max && w->seq <= startmax)
				w->outcome = OUT_STALE;
			else
				cand[ncand++] = b->order[i];
			i = j;
		}
		if (ncand > 0)
			ncand = probe_phase(b, cand, ncand);
		if (ncand > 0)
		{
			MemoryContext chunkcxt = AllocSetContextCreate(b->mcxt, "pg_sequenced chunk",
														   ALLOCSET_DEFAULT_SIZES);

			/* the state table is written directly: refuse as INSERT would */
			PreventCommandIfReadOnly("pg_sequenced writes");
			apply_sql_ready(b);
			{
				Relation	rel = table_open(st->relid, NoLock);	/* locked by the session */

				b->direct = direct_target_ok(st, rel);
				table_close(rel, NoLock);
			}

			/*
			 * Lock and write the candidates a chunk at a time, in key order
			 * still (so the one lock order holds): what writing needs (the
			 * values of a lazy batch, formed rows, statement results) then
			 * exists for one chunk at a time, not for a million records.
			 */
			for (int off = 0; off < ncand; off += SEQ_WRITE_CHUNK)
			{
				int			n = Min(SEQ_WRITE_CHUNK, ncand - off);
				MemoryContext old = MemoryContextSwitchTo(chunkcxt);
				int			level = apply_caller_path_begin(b);

				for (int i = off; i < off + n; i++)
					if (b->msgs[cand[i]].action == MSG_UPSERT)
						input_materialize(b, &b->msgs[cand[i]], chunkcxt);
				apply_caller_path_end(level);
				lock_phase(b, cand + off, n);
				write_phase(b, cand + off, n);
				SPI_freetuptable(SPI_tuptable);
				MemoryContextSwitchTo(old);
				MemoryContextReset(chunkcxt);
			}
			MemoryContextDelete(chunkcxt);
		}
	}

	for (int i = 0; i < b->nmsgs; i++)
	{
		Outcome		o = b->msgs[i].outcome;

		if (o == OUT_INSERTED || o == OUT_UPDATED || o == OUT_DELETED)
		{
			any = true;
			callmax = Max(callmax, b->msgs[i].seq);
		}
	}
	if (any)
		raise_max(st, callmax);
	MemoryContextSwitchTo(old);
}

void
apply_emit(Batch *b, FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "pg_sequenced output row",
												 ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(rowcxt);
	Datum		outcomes[OUT_SUPERSEDED + 1];

	/* five words for a million rows: made once */
	MemoryContextSwitchTo(b->mcxt);
	for (int o = OUT_INSERTED; o <= OUT_SUPERSEDED; o++)
		outcomes[o] = CStringGetTextDatum(apply_outcome_name((Outcome) o));
	MemoryContextSwitchTo(rowcxt);

	for (int i = 0; i < b->nmsgs; i++)
	{
		Message    *m = &b->msgs[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		/* the tuplestore copies the row: nothing of it has to outlive it */
		MemoryContextReset(rowcxt);
		values[0] = Int32GetDatum(m->ord);
		if (b->st->nkeys > 0)
			values[1] = JsonbPGetDatum(input_key_jsonb(b->st, m));
		else
			nulls[1] = true;
		values[2] = Int64GetDatum(m->seq);
		if (m->outcome < OUT_INSERTED || m->outcome > OUT_SUPERSEDED)
			elog(ERROR, "failed to decide the outcome of record %d", m->ord);
		values[3] = outcomes[m->outcome];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(rowcxt);
}

/* ----------------------------------------------------------------
 * SQL-callable functions
 * ---------------------------------------------------------------- */

typedef enum CallKind
{
	CALL_UPSERT_DATA,
	CALL_UPSERT_MESSAGES,
	CALL_DELETE
} CallKind;

/*
 * What every call that applies records does around the batch: lock the
 * target, connect SPI, pin search_path, open the cached table description.
 */
void
apply_session_begin(ApplySession *s, Oid relid, LOCKMODE lockmode)
{
	s->rel = catalog_open_target(relid, lockmode);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	s->guclevel = NewGUCNestLevel();	/* search_path is pinned before the first statement */
	s->caller_path = namespace_search_path ? pstrdup(namespace_search_path) : NULL;
	s->st = catalog_open(relid);
}

/*
 * Values are converted under the caller's search_path, as an INSERT would
 * convert them, whether or not a statement has pinned it already (reading
 * the registration does, on a cold cache; so does a chunk's writing before
 * the next chunk's records are converted again): the same record converts
 * the same way in every call.  Costs nothing when the path is the caller's.
 */
int
apply_caller_path_begin(Batch *b)
{
	int			level = NewGUCNestLevel();

	if (b->caller_path != NULL &&
		(namespace_search_path == NULL || strcmp(namespace_search_path, b->caller_path) != 0))
		(void) set_config_option("search_path", b->caller_path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
apply_caller_path_end(int level)
{
	AtEOXact_GUC(true, level);
}

void
apply_session_end(ApplySession *s)
{
	catalog_close(s->st);
	AtEOXact_GUC(true, s->guclevel);
	SPI_finish();
	table_close(s->rel, NoLock);
}

/* The first delete of a batch sent to an append-only table is an error. */
void
apply_check_deletes(Batch *b)
{
	bool		has_delete = false;

	for (int i = 0; i < b->nmsgs; i++)
	{
		if (b->msgs[i].action != MSG_DELETE)
			continue;
		if (b->st->nkeys == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d is a delete, but table %s is append-only",
							b->msgs[i].ord, b->st->relname)));
		has_delete = true;
	}
	if (has_delete && !b->st->soft_deletes)
		catalog_check_privileges(b->st, true);
}

/*
 * InitMaterializedSRF, taking the result row type the executor already
 * expects when it gives one: looking it up again reads the function's
 * pg_proc row and builds a descriptor from its OUT arguments, a tenth of a
 * one-record call.
 */
void
apply_init_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		expected = rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->expectedDesc != NULL;

	InitMaterializedSRF(fcinfo, expected ? MAT_SRF_USE_EXPECTED_DESC : 0);
}

static Datum
run_call(FunctionCallInfo fcinfo, CallKind kind)
{
	ApplySession s;
	Batch	   *b;
	Jsonb	   *input;
	int64		seq = 0;

	apply_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null",
						kind == CALL_UPSERT_DATA ? "data" : kind == CALL_DELETE ? "keys" : "messages")));
	if (kind != CALL_UPSERT_MESSAGES)
	{
		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the sequence must not be null"),
					 errhint("Pass the sequence of the records as the argument seq.")));
		seq = PG_GETARG_INT64(2);
	}
	input = PG_GETARG_JSONB_P(1);

	apply_session_begin(&s, PG_GETARG_OID(0), RowExclusiveLock);
	if (kind == CALL_DELETE && s.st->nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table %s is append-only: it takes no deletes", s.st->relname)));
	catalog_check_privileges(s.st, kind == CALL_DELETE && !s.st->soft_deletes);

	b = input_new_batch(s.st, 16);
	b->caller_path = s.caller_path;
	{
		int			level = apply_caller_path_begin(b);

		if (kind == CALL_UPSERT_MESSAGES)
			input_parse_messages(b, input);
		else
			input_parse_data(b, input, seq, kind == CALL_DELETE ? MSG_DELETE : MSG_UPSERT);
		apply_caller_path_end(level);
	}
	apply_check_deletes(b);

	apply_batch(b);
	apply_emit(b, fcinfo);
	apply_session_end(&s);
	return (Datum) 0;
}

Datum
sequenced_upsert_data(PG_FUNCTION_ARGS)
{
	return run_call(fcinfo, CALL_UPSERT_DATA);
}

Datum
sequenced_upsert_messages(PG_FUNCTION_ARGS)
{
	return run_call(fcinfo, CALL_UPSERT_MESSAGES);
}

Datum
sequenced_delete(PG_FUNCTION_ARGS)
{
	return run_call(fcinfo, CALL_DELETE);
}
