/*-------------------------------------------------------------------------
 *
 * changes.c
 *		sequenced_changes: the changes feed of a registered table.
 *
 * Every change pg_sequenced applies gets a position: (id of the applying
 * transaction << 24) | counter (positions.c), written with the key and the
 * sequence into the change log (changelog.c); registration gives the rows
 * already there 1, 2, ..., below any later position.  The feed returns, in
 * position order, the current state of every key whose current change is
 * above `after`: the log's entries that are still their key's current state
 * (the key state row's position, or else the row's sequence: changelog.c),
 * with the key's row.  An append-only table's changes are its key state's
 * rows.
 *
 * Why a consumer that resumes from the last position it saw never misses a
 * change: the feed hands out only positions below a watermark, computed
 * before the snapshot it reads with is taken; positions.c has the proof.
 *
 * The read: the log's entries above `after` through its index on "last" and
 * the key state rows of their keys, in C; then the current rows of those
 * keys by one statement as the caller (privileges and row-level security
 * apply: a live key whose row the caller cannot see is left out), one index
 * probe per entry.  It takes no lock that writers wait on.
 *
 * The reader is shared: changes_read hands every change it reads to a sink
 * (sequenced_changes' puts the shown ones in its result; receive.c's claims
 * them for a consumer), and changes_resolve / changes_resolve_appends judge
 * given entries (a consumer's deliveries due again) exactly as the feed
 * would, so that a consumer sees what the feed shows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/genam.h"
#include "access/stratnum.h"
#include "executor/tuptable.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/objectaddress.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_changes);

/* positions one read takes at least when row-level security hides rows */
#define SEQ_FEED_READ 1000

typedef struct Change
{
	int64		pos;
	int64		seq;
	bool		seqnull;
	bool		deleted;
	Datum		record;			/* jsonb, or 0 */
	Datum		staterow;		/* for the row lookup */
	int64		eseq;			/* keyed: the log entry's sequence */
	bool		sfound;			/* keyed: the key state row's ... */
	int64		sseq;
	bool		sseqnull;
	int64		spos;
	bool		sposnull;
	bool		sdeleted;
	Datum		tableoid;		/* append-only: where the row was inserted */
	ItemPointerData tid;
	bool		tidnull;
	bool		hidden;			/* append-only: row-level security hides it */
} Change;

static int
compare_row_ids(Change *c, Oid tableoid, ItemPointer tid)
{
	if (DatumGetObjectId(c->tableoid) != tableoid)
		return DatumGetObjectId(c->tableoid) < tableoid ? -1 : 1;
	return ItemPointerCompare(&c->tid, tid);
}

static int
sort_row_ids(const void *a, const void *b, void *arg)
{
	Change	   *changes = (Change *) arg;
	Change	   *cb = &changes[*(const int *) b];

	return compare_row_ids(&changes[*(const int *) a], DatumGetObjectId(cb->tableoid), &cb->tid);
}

/*
 * Mark the append-only changes whose rows the caller cannot see: the rows
 * are looked up by (tableoid, ctid) as the caller, so that row-level
 * security applies to them as to a SELECT, and must still hold what was
 * inserted (a change whose row was since updated, deleted or moved is left
 * out).
 */
static void
filter_visible_appends(SeqTable *st, Change *changes, uint64 n)
{
	Datum	   *oids = palloc(sizeof(Datum) * n);
	Datum	   *tids = palloc(sizeof(Datum) * n);
	Oid			argtypes[2] = {OIDARRAYOID, TIDARRAYOID};
	Datum		args[2];
	char	   *sql;
	int			m = 0;

	int		   *byrow = palloc(sizeof(int) * n);

	for (uint64 i = 0; i < n; i++)
	{
		changes[i].hidden = true;
		if (changes[i].tidnull)
			continue;
		oids[m] = changes[i].tableoid;
		tids[m] = PointerGetDatum(&changes[i].tid);
		byrow[m++] = i;
	}
	if (m == 0)
		return;
	qsort_arg(byrow, m, sizeof(int), sort_row_ids, changes);
	args[0] = PointerGetDatum(construct_array(oids, m, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(tids, m, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
	/*
	 * The row at that place must still be the row that was inserted: a
	 * place is reused (VACUUM frees it, VACUUM FULL and CLUSTER renumber
	 * rows), and another row found there is not the one this change is of.
	 */
	sql = psprintf("SELECT t.tableoid, t.ctid, pg_catalog.to_jsonb(t.*) FROM %s%s AS t "
				   "WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($2) "
				   "AND t.tableoid OPERATOR(pg_catalog.=) ANY ($1)",
				   get_rel_relkind(st->relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
				   st->qualname);
	if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "failed to read the rows of table %s", st->relname);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Oid			toid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		ItemPointer tid = (ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		uint64		lo = 0,
					hi = m;

		/* byrow[] is sorted by (tableoid, tid); a row is found once */
		while (lo < hi)
		{
			uint64		mid = (lo + hi) / 2;

			if (compare_row_ids(&changes[byrow[mid]], toid, tid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < (uint64) m && compare_row_ids(&changes[byrow[lo]], toid, tid) == 0)
		{
			bool		recnull;
			Datum		rec = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &recnull);
			Change	   *c = &changes[byrow[lo]];

			if (!recnull && c->record != (Datum) 0 &&
				DatumGetBool(DirectFunctionCall2(jsonb_eq, rec, c->record)))
				c->hidden = false;
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The key state row of each change's key (keystate.c), read in C: its
 * position decides which change is current (changelog.c).
 */
static void
lookup_states(SeqTable *st, Change *changes, uint64 n, Datum *keys)
{
	Relation	srel = table_open(st->staterelid, AccessShareLock);
	Relation	sirel = index_open(st->stateindexid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(srel, NULL);
	IndexScanDesc scan = index_beginscan(srel, sirel, GetActiveSnapshot(), st->nkeys, 0);
	ScanKeyData skeys[INDEX_MAX_KEYS];

	for (uint64 i = 0; i < n; i++)
	{
		for (int k = 0; k < st->nkeys; k++)
			ScanKeyEntryInitializeWithInfo(&skeys[k], 0, k + 1, BTEqualStrategyNumber,
										   InvalidOid, st->keys[k].ssup.ssup_collation,
										   &st->keys[k].eqproc, keys[i * st->nkeys + k]);
		index_rescan(scan, skeys, st->nkeys, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			Datum		d;

			changes[i].sfound = true;
			d = slot_getattr(slot, st->nkeys + 1, &changes[i].sseqnull);
			changes[i].sseq = changes[i].sseqnull ? 0 : DatumGetInt64(d);
			d = slot_getattr(slot, st->nkeys + 2, &changes[i].sposnull);
			changes[i].spos = changes[i].sposnull ? 0 : DatumGetInt64(d);
			changes[i].sdeleted = DatumGetBool(slot_getattr(slot, st->nkeys + 3, &isnull));
			ExecClearTuple(slot);
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(sirel, NoLock);
	table_close(srel, NoLock);
}

/*
 * Log entries of a keyed table, each judged current only when it is its
 * key's current state -- the key state row's position, when it has one,
 * else the row's sequence (changelog.c) -- with the key's current row, read
 * as the caller (privileges and row-level security apply: a live key whose
 * row the caller cannot see is not shown).  Every entry goes to sink, which
 * says whether it counts; until *emitted reaches max_emit (when limited);
 * *last: the highest position passed over.  True: stopped at max_emit.
 */
static bool
resolve_keyed(SeqTable *st, LogEntry *e, int n, bool limited, int64 max_emit, bool hidden_rls,
			  FeedSink sink, void *arg, int64 *last, int64 *emitted)
{
	Change	   *changes;
	Datum	   *keys;
	TupleDesc	sdesc;
	StringInfoData sql;
	Datum	   *rows;
	Oid			argtype = st->statearraytype;
	Datum		rowsarg;
	const char *seqcol = quote_identifier(st->cols[st->seqatt - 1].name);

	changes = palloc0(sizeof(Change) * n);
	keys = palloc(sizeof(Datum) * n * st->nkeys);
	rows = palloc(sizeof(Datum) * n);
	sdesc = lookup_rowtype_tupdesc(st->statetype, -1);
	for (int i = 0; i < n; i++)
	{
		Datum		v[INDEX_MAX_KEYS + 3];
		bool		nl[INDEX_MAX_KEYS + 3] = {0};

		changes[i].pos = e[i].pos;
		changes[i].eseq = e[i].seq;
		for (int k = 0; k < st->nkeys; k++)
			v[k] = keys[i * st->nkeys + k] = e[i].keys[k];
		/* (for the join below: k1..kn, sequence, position = the entry's index) */
		v[st->nkeys] = Int64GetDatum(e[i].seq);
		v[st->nkeys + 1] = Int64GetDatum(i);
		v[st->nkeys + 2] = BoolGetDatum(false);
		rows[i] = HeapTupleGetDatum(heap_form_tuple(sdesc, v, nl));
	}
	ReleaseTupleDesc(sdesc);
	lookup_states(st, changes, n, keys);

	/* the current rows of those keys, as the caller */
	rowsarg = PointerGetDatum(construct_array(rows, n, st->statetype, -1, false, TYPALIGN_DOUBLE));
	initStringInfo(&sql);
	/*
	 * One look-up of the key index per entry (OFFSET 0 keeps the subquery
	 * apart, so the plan is a nested loop over the entries, whatever the
	 * estimates: a hash join would read the whole table for a page of ten)
	 */
	appendStringInfo(&sql, "SELECT r.position, t.s, t.d, t.j FROM pg_catalog.unnest($1) AS r, "
					 "LATERAL (SELECT t.%s AS s, %s AS d, pg_catalog.to_jsonb(t.*) AS j FROM %s%s AS t WHERE ",
					 seqcol,
					 st->delatt ? psprintf("t.%s IS NOT NULL", quote_identifier(SEQ_DELETED_AT_COLUMN)) : "false",
					 get_rel_relkind(st->relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					 st->qualname);
	for (int k = 0; k < st->nkeys; k++)
		appendStringInfo(&sql, "%st.%s %s r.k%d", k ? " AND " : "",
						 quote_identifier(st->key_names[k]), st->keys[k].eqopr_sql, k + 1);
	appendStringInfoString(&sql, " OFFSET 0) AS t");
	if (SPI_execute_with_args(sql.data, 1, &argtype, &rowsarg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "failed to read the rows of table %s", st->relname);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		i = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		d = SPI_getbinval(tup, desc, 2, &changes[i].seqnull);
		Datum		rec;

		changes[i].seq = changes[i].seqnull ? 0 : DatumGetInt64(d);
		changes[i].deleted = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		rec = SPI_getbinval(tup, desc, 4, &isnull);
		if (!isnull)
			changes[i].record = PointerGetDatum(PG_DETOAST_DATUM_COPY(rec));
	}
	SPI_freetuptable(SPI_tuptable);

	for (int i = 0; i < n; i++)
	{
		Change	   *c = &changes[i];
		FeedItem	item;
		bool		row = c->record != (Datum) 0;
		bool		current;

		if (limited && *emitted >= max_emit)
			return true;		/* what is left is read again from *last */
		*last = c->pos;
		if (c->sfound && !c->sposnull)
			current = c->spos == c->pos;
		else
			current = row && (c->seqnull ? PG_INT64_MIN : c->seq) == c->eseq;
		item.index = i;
		item.pos = c->pos;
		item.eseq = c->eseq;
		if (row)
		{
			item.seq = c->seq;
			item.seqnull = c->seqnull;
		}
		else
		{
			/* a tombstone's, or a key whose row was removed around the functions */
			item.seq = c->sseq;
			item.seqnull = c->sseqnull;
		}
		/*
		 * the key, as JSON, as the caller (rights.c) -- only of a current
		 * entry: every sink uses the key of a change the feed shows, and a
		 * log holds many entries its keys have moved on from
		 */
		item.key = current ? JsonbPGetDatum(input_keyvals_jsonb(st, keys + i * st->nkeys)) : (Datum) 0;
		item.deleted = !row || c->deleted;
		item.record = c->record;
		item.current = current;
		/*
		 * Under row-level security a key without a row the caller may see is
		 * left out: a live key whose row the policies hide is no delete, and
		 * a tombstone has no row for the policies to judge, so its key is not
		 * the caller's to see (README: use soft deletes with row security).
		 */
		item.visible = row || !hidden_rls;
		item.shown = current && item.visible;
		if (sink(arg, &item))
			(*emitted)++;
	}
	return false;
}

/*
 * One read of a keyed table's feed: the log's entries above `after` and
 * below the watermark (at least want of them, when limited), resolved as
 * above.  True: more may follow.
 */
static bool
read_keyed(SeqTable *st, int64 after, int64 watermark, bool limited, int64 want, int64 max_emit,
		   bool hidden_rls, FeedSink sink, void *arg, int64 *last, int64 *emitted)
{
	LogEntry   *e;
	bool		more;
	int			n;

	n = changelog_read(st, after, watermark, limited ? (int) Min(want, INT_MAX) : 0,
					   GetActiveSnapshot(), &e, &more);
	if (n == 0)
		return false;
	if (resolve_keyed(st, e, n, limited, max_emit, hidden_rls, sink, arg, last, emitted))
		return true;
	return more;
}

/*
 * The current state of given log entries (changelog_read's), as the feed
 * would show them, handed to sink one by one (every entry, current or not:
 * FeedItem says), under the active snapshot.
 */
void
changes_resolve(SeqTable *st, LogEntry *e, int n, bool hidden_rls, FeedSink sink, void *arg)
{
	int64		last = 0;
	int64		emitted = 0;

	if (n > 0)
		(void) resolve_keyed(st, e, n, false, 0, hidden_rls, sink, arg, &last, &emitted);
}

/*
 * Append-only changes as the state table holds them: those above `after`
 * and below the watermark in position order (at most max_rows, when
 * limited), or, positions given, those at the n positions (sorted).  As
 * the extension's owner: positions, sequences and records as inserted.
 */
static Change *
fetch_appends(SeqTable *st, int64 after, int64 watermark, bool limited, int64 max_rows,
			  int64 *positions, int npositions, uint64 *count)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	Oid			save_userid;
	int			save_sec;
	Change	   *changes;
	uint64		n;
	MemoryContext callcxt = CurrentMemoryContext;
	int			rc;

	rights_begin_internal(&save_userid, &save_sec);
	if (positions != NULL)
	{
		Datum	   *pd = palloc(sizeof(Datum) * Max(npositions, 1));

		for (int i = 0; i < npositions; i++)
			pd[i] = Int64GetDatum(positions[i]);
		argtypes[0] = INT8ARRAYOID;
		args[0] = PointerGetDatum(construct_array(pd, npositions, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		rc = SPI_execute_with_args(psprintf("SELECT s.position, s.sequence, s.record, s.row_table, s.row_tid "
											"FROM %s s WHERE s.position OPERATOR(pg_catalog.=) ANY ($1) "
											"ORDER BY s.position", st->state_qualname),
								   1, argtypes, args, NULL, true, 0);
	}
	else
	{
		args[0] = Int64GetDatum(after);
		args[1] = Int64GetDatum(max_rows);
		args[2] = Int64GetDatum(watermark);
		if (!limited)
			nulls[1] = 'n';
		rc = SPI_execute_with_args(psprintf("SELECT s.position, s.sequence, s.record, s.row_table, s.row_tid "
											"FROM %s s WHERE s.position OPERATOR(pg_catalog.>) $1 "
											"AND s.position OPERATOR(pg_catalog.<) $3 "
											"ORDER BY s.position LIMIT $2", st->state_qualname),
								   3, argtypes, args, nulls, true, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "failed to read the changes of table %s", st->relname);
	rights_end_internal(save_userid, save_sec);

	n = SPI_processed;
	changes = MemoryContextAllocZero(callcxt, sizeof(Change) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		changes[i].pos = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		d = SPI_getbinval(tup, desc, 2, &changes[i].seqnull);
		changes[i].seq = changes[i].seqnull ? 0 : DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		changes[i].record = isnull ? (Datum) 0 :
			PointerGetDatum(DatumGetJsonbPCopy(d));
		changes[i].tableoid = SPI_getbinval(tup, desc, 4, &isnull);
		d = SPI_getbinval(tup, desc, 5, &changes[i].tidnull);
		if (!changes[i].tidnull)
			changes[i].tid = *(ItemPointer) DatumGetPointer(d);
	}
	SPI_freetuptable(SPI_tuptable);
	*count = n;
	return changes;
}

/*
 * Hand append-only changes to sink in order, until *emitted reaches
 * max_emit (when limited).  *last is the highest position passed over.
 * True: stopped at max_emit.  Under row-level security, only the rows the
 * caller may see now are shown (filter_visible_appends).
 */
static bool
sink_appends(SeqTable *st, Change *changes, uint64 n, bool limited, int64 max_emit,
			 bool hidden_rls, FeedSink sink, void *arg, int64 *last, int64 *emitted)
{
	if (n > 0 && hidden_rls)
		filter_visible_appends(st, changes, n);

	for (uint64 i = 0; i < n; i++)
	{
		FeedItem	item;

		if (limited && *emitted >= max_emit)
			return true;		/* what is left is read again from *last */
		*last = changes[i].pos;
		item.index = (int) i;
		item.pos = changes[i].pos;
		item.seq = changes[i].seq;
		item.seqnull = changes[i].seqnull;
		item.eseq = 0;
		item.key = (Datum) 0;
		item.deleted = false;
		item.record = changes[i].record;
		item.current = true;
		item.visible = !changes[i].hidden;
		item.shown = item.visible;
		if (sink(arg, &item))
			(*emitted)++;
	}
	return false;
}

/*
 * One read of an append-only table's feed: the changes above `after` and
 * below the watermark (at most max_rows of them, when limited), each with
 * the record as inserted, handed to sink until *emitted reaches max_emit
 * (when limited).  *last is the highest position passed over.  True: the
 * read was limited and took all it asked for, so more may follow.
 */
static bool
read_appends(SeqTable *st, int64 after, int64 watermark, bool limited, int64 max_rows,
			 int64 max_emit, bool hidden_rls, FeedSink sink, void *arg, int64 *last, int64 *emitted)
{
	uint64		n;
	Change	   *changes = fetch_appends(st, after, watermark, limited, max_rows, NULL, 0, &n);

	if (sink_appends(st, changes, n, limited, max_emit, hidden_rls, sink, arg, last, emitted))
		return false;
	/* more may follow: this read took all it asked for */
	return limited && n == (uint64) max_rows;
}

/*
 * The append-only changes at the given positions (ascending), as the feed
 * would show them, handed to sink; a position the table no longer has is
 * left out.
 */
void
changes_resolve_appends(SeqTable *st, int64 *positions, int n, bool hidden_rls, FeedSink sink, void *arg)
{
	uint64		count;
	int64		last = 0;
	int64		emitted = 0;
	Change	   *changes;

	if (n == 0)
		return;
	changes = fetch_appends(st, 0, 0, false, 0, positions, n, &count);
	(void) sink_appends(st, changes, count, false, 0, hidden_rls, sink, arg, &last, &emitted);
}

/*
 * Settings for the feed's reads, at the caller's GUC nest level (undone
 * with it): search_path pinned, the planner kept to index probes, and the
 * positions read in order from their index, the read stopping at max_rows:
 * a bitmap scan and a sort (what the planner picks when it expects many
 * rows above `after`) would read every change above `after` for each page
 * a consumer asks for.
 */
void
changes_settings(void)
{
	rights_pin_path();
	rights_guc_planner();		/* the reads below are planned */
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * The watermark first, then the snapshot every read of a call uses
 * (positions.c): under READ COMMITTED a new one, which sees every
 * transaction that ended before the watermark was computed.  The snapshot
 * is pushed as the active one; changes_end_read pops it.
 */
int64
changes_begin_read(SeqTable *st)
{
	Watermark	wm;
	int64		watermark;

	if (IsolationUsesXactSnapshot())
	{
		watermark = positions_watermark(SEQ_POSREL(st), GetTransactionSnapshot(), &wm);
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	else
	{
		watermark = positions_watermark(SEQ_POSREL(st), NULL, &wm);
		PushActiveSnapshot(GetLatestSnapshot());
	}
	return watermark;
}

void
changes_end_read(void)
{
	PopActiveSnapshot();
}

/*
 * The feed of a table after `after`, below the watermark, under the active
 * snapshot (changes_begin_read): every change read goes to sink, in
 * position order, until sink has counted max_rows of them (when limited)
 * or none are left.  Returns how many sink counted; *lastp: the highest
 * position passed over (`after` if none).  What sink is handed lives until
 * it returns.
 *
 * Changes left out for row-level security (or not counted by sink) still
 * count against a read's LIMIT, so read on from the last position passed
 * over until max_rows changes are counted or none are left: a page of
 * hidden rows must not read as the end of the feed to a consumer.  Such
 * reads take at least SEQ_FEED_READ positions (a long run of hidden rows
 * costs a statement pair per thousand, not per row) in a memory context of
 * their own.
 */
int64
changes_read(SeqTable *st, int64 after, int64 watermark, bool limited, int64 max_rows,
			 bool hidden_rls, FeedSink sink, void *arg, int64 *lastp)
{
	int64		emitted = 0;
	int64		last = after;
	MemoryContext passcxt;

	passcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced changes read",
									ALLOCSET_DEFAULT_SIZES);
	for (int pass = 0;; pass++)
	{
		int64		want = limited ? max_rows - emitted : 0;
		MemoryContext old = MemoryContextSwitchTo(passcxt);
		bool		more;

		last = after;

		/*
		 * A keyed table's log has entries its keys have moved on from: the
		 * first read takes a few more than are wanted, and reads after it
		 * (the page was not filled) a thousand at least.
		 */
		if (limited && (hidden_rls || pass > 0))
			want = Max(want, SEQ_FEED_READ);
		else if (limited && st->nkeys > 0)
			want = want + want / 8 + 4;
		if (st->nkeys > 0)
			more = read_keyed(st, after, watermark, limited, want, max_rows, hidden_rls, sink, arg, &last, &emitted);
		else
			more = read_appends(st, after, watermark, limited, want, max_rows, hidden_rls, sink, arg, &last, &emitted);
		MemoryContextSwitchTo(old);
		MemoryContextReset(passcxt);
		if (!more || emitted >= max_rows)
			break;
		after = last;
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(passcxt);
	*lastp = last;
	return emitted;
}

/* sequenced_changes' sink: the shown changes, as rows of its result */
static bool
feed_row(void *arg, FeedItem *item)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[5];
	bool		isnull[5] = {false, false, false, false, false};

	if (!item->shown)
		return false;
	values[0] = Int64GetDatum(item->pos);
	values[1] = Int64GetDatum(item->seq);
	isnull[1] = item->seqnull;
	values[2] = item->key;
	isnull[2] = item->key == (Datum) 0;
	values[3] = BoolGetDatum(item->deleted);
	values[4] = item->record;
	isnull[4] = item->record == (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	return true;
}

Datum
sequenced_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CallSession s;
	SeqTable   *st;
	int64		after = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	bool		limited = !PG_ARGISNULL(2);
	int32		max_rows = limited ? PG_GETARG_INT32(2) : 0;
	bool		hidden_rls;
	int64		watermark;
	int64		last;

	call_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	if (limited && max_rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must not be negative")));

	call_begin(&s, PG_GETARG_OID(0), AccessShareLock, RIGHTS_READ);
	changes_settings();
	st = s.st;
	rights_check_read(st);
	hidden_rls = check_enable_rls(st->relid, InvalidOid, false) == RLS_ENABLED;

	watermark = changes_begin_read(st);
	(void) changes_read(st, after, watermark, limited, max_rows, hidden_rls, feed_row, rsinfo, &last);
	changes_end_read();
	call_end(&s);
	PG_RETURN_NULL();
}
