/*-------------------------------------------------------------------------
 *
 * unchanged.c
 *		unchanged => 'skip' (SPEC section 6): an accepted upsert that holds
 *		the stored values writes no row.
 *
 * A message that would be applied (it beats the stored sequence, or ties
 * it under on_equal 'replace') and whose record, converted as it would be
 * written, holds in every column it writes the same value as the stored
 * row gets the outcome 'unchanged': the row is not written and the feed
 * gets no position for it, while the key's stored sequence (its key state
 * row: a table registered with 'skip' keeps one for every key, catalog.c)
 * advances to the message's, and max_sequence with it.
 *
 * "The same value" is the same binary representation after conversion
 * (datum_image_eq, which looks through TOAST and compression): jsonb 1 and
 * 1.0, numeric 1.0 and 1.00 differ.  A column the record omits counts with
 * the value its DEFAULT gives in this transaction; one whose DEFAULT is
 * volatile is a change, without evaluating it (a nextval() would be used
 * up).  The key columns are equal by definition (the row was found by
 * them) and the sequence column is no value.  A soft-deleted row brought
 * back is a change.
 *
 * Why the decision holds: it is made while the call holds the key's lock
 * (its key state row, updated or locked first: keystate.c, direct.c), and
 * pg_sequenced changes a row only under that lock -- so the row compared is
 * the row there is.  The key state row keeps its position: the log entry
 * at that position still shows the row (changelog.c), so the feed goes on
 * showing the key once, with the row's (older) sequence, as SPEC section 6
 * says.
 *
 * Two callers: direct.c decides per key with the row its probe read;
 * unchanged_statements decides for the calls whose rows statements write,
 * reading the rows of its chunk as the caller (privileges and row-level
 * security apply, as to the statements that would otherwise write them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

/*
 * Does the accepted upsert m hold the stored row's values (stored: the row,
 * of the table's row type desc)?  ds: the call's DEFAULTs.
 */
bool
unchanged_same(Batch *b, Message *m, TupleDesc desc, DefaultState *ds, TupleTableSlot *stored)
{
	SeqTable   *st = b->st;
	Datum	   *values;
	bool	   *nulls;
	bool		same = true;

	slot_getallattrs(stored);
	if (st->delatt != InvalidAttrNumber && !stored->tts_isnull[st->delatt - 1])
		return false;			/* a soft-deleted row comes back */
	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];

		if (!target_col_written(c) || c->guard != COLGUARD_NONE || c->keyno >= 0 ||
			i == st->seqatt - 1 || MSG_PRESENT(m, st->natts)[i] || !c->has_default)
			continue;
		target_defaults_init(ds, st);
		if (ds->volatile_default[i])
			return false;
	}
	values = palloc(sizeof(Datum) * st->natts);
	nulls = palloc(sizeof(bool) * st->natts);
	target_values(b, m, desc, ds, false, values, nulls);
	for (int i = 0; same && i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!target_col_written(c) || (c->guard != COLGUARD_NONE && c->guard != COLGUARD_EXTRA) ||
			c->keyno >= 0 || i == st->seqatt - 1 ||
			(st->omitted_keep && !MSG_PRESENT(m, st->natts)[i]))
			continue;			/* (under omitted => 'keep' an omitted column is kept: the same) */
		if (nulls[i] != stored->tts_isnull[i])
			same = false;
		else if (!nulls[i] &&
				 !datum_image_eq(values[i], stored->tts_values[i], att->attbyval, att->attlen))
			same = false;
	}
	pfree(values);
	pfree(nulls);
	return same;
}

/*
 * The stored rows of the chunk's keys, as the caller.  Under row-level
 * security, only the rows the caller may update (FOR UPDATE applies the
 * UPDATE policies, as the UPDATE would): a row it may only see must not
 * become 'unchanged' -- which moves the key's stored sequence -- where
 * 'write' would have been refused.  (Not cached: the policies are the
 * caller's.)
 */
static SPIPlanPtr
plan_rows(SeqTable *st, bool rls)
{
	StringInfoData s;
	SPIPlanPtr	plan = NULL;

	if (st->plan_unchanged_rows && !rls)
		return st->plan_unchanged_rows;
	initStringInfo(&s);
	appendStringInfoString(&s, "SELECT ");
	target_append_key_list(&s, st, "t");
	appendStringInfo(&s, ", t FROM pg_catalog.unnest($1) AS r JOIN %s AS t ON ",
					 target_from_clause(st));
	target_append_keymatch(&s, st, "t", "r");
	if (rls)
	{
		appendStringInfoString(&s, " FOR UPDATE OF t");
		return target_prepare_plan(&plan, s.data, st->relarraytype);
	}
	return target_prepare_plan(&st->plan_unchanged_rows, s.data, st->relarraytype);
}

static SPIPlanPtr
plan_keep_position(SeqTable *st)
{
	StringInfoData s;

	if (st->plan_unchanged_state)
		return st->plan_unchanged_state;
	initStringInfo(&s);
	appendStringInfo(&s, "UPDATE %s AS s SET position = r.position "
					 "FROM pg_catalog.unnest($1) AS r WHERE ", st->state_qualname);
	target_append_state_keymatch(&s, st, "s", "r");
	return target_prepare_plan(&st->plan_unchanged_state, s.data, st->statearraytype);
}

/*
 * omitted => 'keep' (patch semantics): the columns the record omits take
 * the stored row's values, as if the record had named them -- for an
 * update only: a new key's omitted columns take their DEFAULT.
 */
static void
keep_omitted(Batch *b, Message *m, TupleTableSlot *stored)
{
	SeqTable   *st = b->st;

	slot_getallattrs(stored);
	for (int i = 0; i < st->natts; i++)
	{
		SeqColumn  *c = &st->cols[i];

		if (MSG_PRESENT(m, st->natts)[i] || c->keyno >= 0 || !target_col_written(c) ||
			(c->guard != COLGUARD_NONE && c->guard != COLGUARD_EXTRA))
			continue;
		m->values[i] = stored->tts_isnull[i] ? (Datum) 0 :
			datumCopy(stored->tts_values[i], c->typbyval, c->typlen);
		MSG_ISNULL(m, st->natts)[i] = stored->tts_isnull[i];
		MSG_PRESENT(m, st->natts)[i] = true;
	}
}

/*
 * The accepted upserts among cand[0..ncand-1] (key order) of a call whose
 * rows statements write, after keystate_lock locked their keys, read
 * against their stored rows (as the caller): under omitted => 'keep' they
 * take the stored values of what they omit; under unchanged => 'skip'
 * those that hold the stored values become 'unchanged', and their key
 * state rows get back the position they had (keystate_lock gave them the
 * call's).
 */
void
unchanged_statements(Batch *b, int *cand, int ncand)
{
	SeqTable   *st = b->st;
	TupleDesc	desc = lookup_rowtype_tupdesc(st->reltype, -1);
	TupleDesc	sdesc;
	DefaultState ds = {0};
	Datum	   *rows = palloc(sizeof(Datum) * Max(ncand, 1));
	Datum	   *fix;
	int			nrows = 0;
	int			nfix = 0;
	TupleTableSlot *slot;
	Datum		keyvals[INDEX_MAX_KEYS];
	uint64		nfound;
	SPITupleTable *found;
	Oid			save_userid;
	int			save_sec;
	bool		rls;
	SPIPlanPtr	plan;

	for (int i = 0; i < ncand; i++)
	{
		Message    *m = &b->msgs[cand[i]];

		if (m->outcome == OUT_NONE && m->action == MSG_UPSERT && (m->pos != 0 || !st->skip_unchanged))
			rows[nrows++] = target_row_datum(b, m, desc, NULL, true);
	}
	if (nrows == 0)
	{
		ReleaseTupleDesc(desc);
		return;
	}
	rls = check_enable_rls(st->relid, InvalidOid, true) == RLS_ENABLED;
	plan = plan_rows(st, rls);
	target_exec_plan(plan, target_make_array(rows, nrows, st->reltype), SPI_OK_SELECT);
	if (rls)
		SPI_freeplan(plan);
	found = SPI_tuptable;
	nfound = SPI_processed;
	SPI_tuptable = NULL;		/* ours now: the statements below must not free it */
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	sdesc = lookup_rowtype_tupdesc(st->statetype, -1);
	fix = palloc(sizeof(Datum) * Max(nfound, 1));
	for (uint64 r = 0; r < nfound; r++)
	{
		bool		isnull;
		Message    *m;
		HeapTupleHeader rec;
		HeapTupleData tup;

		for (int k = 0; k < st->nkeys; k++)
			keyvals[k] = SPI_getbinval(found->vals[r], found->tupdesc, k + 1, &isnull);
		m = target_find_by_key(b, cand, ncand, keyvals);
		if (m->outcome != OUT_NONE || m->action != MSG_UPSERT)
			continue;
		rec = DatumGetHeapTupleHeader(SPI_getbinval(found->vals[r], found->tupdesc, st->nkeys + 1, &isnull));
		tup.t_len = HeapTupleHeaderGetDatumLength(rec);
		ItemPointerSetInvalid(&tup.t_self);
		tup.t_tableOid = InvalidOid;
		tup.t_data = rec;
		ExecStoreHeapTuple(&tup, slot, false);
		if (st->omitted_keep)
			keep_omitted(b, m, slot);
		if (st->skip_unchanged && m->pos != 0 && unchanged_same(b, m, desc, &ds, slot))
		{
			/* k1..kn, sequence, position, deleted */
			Datum		v[INDEX_MAX_KEYS + 3];
			bool		n[INDEX_MAX_KEYS + 3] = {0};

			for (int k = 0; k < st->nkeys; k++)
				v[k] = m->values[st->keys[k].attnum - 1];
			v[st->nkeys] = Int64GetDatum(m->seq);
			v[st->nkeys + 1] = Int64GetDatum(m->oldpos);
			n[st->nkeys + 1] = m->oldpos == 0;
			v[st->nkeys + 2] = BoolGetDatum(false);
			fix[nfix++] = HeapTupleGetDatum(heap_form_tuple(sdesc, v, n));
			m->outcome = OUT_UNCHANGED;
			m->pos = 0;
		}
		ExecClearTuple(slot);
	}
	ExecDropSingleTupleTableSlot(slot);
	SPI_freetuptable(found);
	if (nfix > 0)
	{
		rights_begin_internal(&save_userid, &save_sec);
		target_exec_plan(plan_keep_position(st), target_make_array(fix, nfix, st->statetype), SPI_OK_UPDATE);
		rights_end_internal(save_userid, save_sec);
	}
	target_defaults_done(&ds);
	ReleaseTupleDesc(sdesc);
	ReleaseTupleDesc(desc);
}
