/*-------------------------------------------------------------------------
 *
 * changelog.c
 *		The change log of a registered table: which key changed at which
 *		position (positions.c), written once per chunk, read by the feed.
 *
 * A table with a key has a log (_sequenced.log_<n>, the table owner's, as
 * its key state is): one row per chunk of changes a call applied, holding
 * the chunk's positions (first and last; the positions themselves when they
 * are not first, first + 1, ..., last), and per change its key and the
 * sequence it wrote, as arrays -- one array per key column, of the key
 * column's own type.  So an applied change costs the log a few bytes, not a
 * row: the target row is the only row an ordinary change writes (keystate.c
 * and direct.c say when the key state is written too).
 *
 * A key that changed again later has several entries; only its latest is
 * its current state.  Which one that is, the key state and the row say
 * (changes.c): when the key has a key state row with a position, the entry
 * at that position; else the entry whose sequence is the row's.  An entry
 * that is not current stays not current (positions and sequences of a key
 * only grow), so the feed skips such entries for good.
 *
 * Positions of different transactions, and of different chunks, never
 * interleave (positions.c hands each transaction its own base), so the
 * log's rows cover disjoint ranges of positions, and reading them in the
 * order of their last position reads every entry in position order.
 *
 * Written straight through the heap and the index on "last", in C: the
 * arrays hold values of the key's types, and no statement or user code
 * needs to touch them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "pg_sequenced.h"

/*
 * At most this many entries in one row of the log: a reader that wants a
 * few entries detoasts one row's arrays (about 12 kB for an integer key),
 * not a million-record call's.
 */
#define LOG_ROW_ENTRIES	1000

/* the log's columns: first, last, positions, seqs, k1[], ..., kn[] */
#define LOG_FIRST		1
#define LOG_LAST		2
#define LOG_POSITIONS	3
#define LOG_SEQS		4
#define LOG_KEYS		5

struct ChangeLog
{
	SeqTable   *st;
	MemoryContext cxt;			/* the entries and their key values */
	int			n;
	int			max;
	int64	   *pos;
	int64	   *seq;
	Datum	  **keys;			/* keys[k][i]: key column k of entry i */
};

ChangeLog *
changelog_begin(SeqTable *st)
{
	ChangeLog  *cl = palloc0(sizeof(ChangeLog));

	cl->st = st;
	cl->cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced change log",
									ALLOCSET_DEFAULT_SIZES);
	cl->max = 256;
	cl->pos = MemoryContextAlloc(cl->cxt, sizeof(int64) * cl->max);
	cl->seq = MemoryContextAlloc(cl->cxt, sizeof(int64) * cl->max);
	cl->keys = MemoryContextAlloc(cl->cxt, sizeof(Datum *) * Max(st->nkeys, 1));
	for (int k = 0; k < st->nkeys; k++)
		cl->keys[k] = MemoryContextAlloc(cl->cxt, sizeof(Datum) * cl->max);
	return cl;
}

/* One change: position pos (above the last one added), its key and sequence */
void
changelog_add(ChangeLog *cl, int64 pos, Datum *keyvals, int64 seq)
{
	SeqTable   *st = cl->st;
	MemoryContext old;

	if (cl->n == LOG_ROW_ENTRIES)
		changelog_flush(cl);
	old = MemoryContextSwitchTo(cl->cxt);
	if (cl->n == cl->max)
	{
		cl->max *= 2;
		cl->pos = repalloc_huge(cl->pos, sizeof(int64) * cl->max);
		cl->seq = repalloc_huge(cl->seq, sizeof(int64) * cl->max);
		for (int k = 0; k < st->nkeys; k++)
			cl->keys[k] = repalloc_huge(cl->keys[k], sizeof(Datum) * cl->max);
	}
	cl->pos[cl->n] = pos;
	cl->seq[cl->n] = seq;
	for (int k = 0; k < st->nkeys; k++)
	{
		SeqColumn  *c = &st->cols[st->keys[k].attnum - 1];

		cl->keys[k][cl->n] = datumCopy(keyvals[k], c->typbyval, c->typlen);
	}
	cl->n++;
	MemoryContextSwitchTo(old);
}

/* Write what was added as rows of the log (one per run of consecutive positions' base) */
void
changelog_flush(ChangeLog *cl)
{
	SeqTable   *st = cl->st;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	CommandId	cid;
	bool		consecutive = true;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (cl->n == 0)
		return;
	for (int i = 1; i < cl->n && consecutive; i++)
		if (cl->pos[i] != cl->pos[0] + i)
			consecutive = false;

	rel = table_open(st->logrelid, RowExclusiveLock);
	estate = CreateExecutorState();
	cid = GetCurrentCommandId(true);
	estate->es_output_cid = cid;
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = table_slot_create(rel, NULL);
	{
		MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		Datum	   *pd = palloc(sizeof(Datum) * cl->n);
		Datum	   *sd = palloc(sizeof(Datum) * cl->n);

		for (int i = 0; i < cl->n; i++)
		{
			pd[i] = Int64GetDatum(cl->pos[i]);
			sd[i] = Int64GetDatum(cl->seq[i]);
		}
		ExecClearTuple(slot);
		memset(slot->tts_isnull, false, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		slot->tts_values[LOG_FIRST - 1] = Int64GetDatum(cl->pos[0]);
		slot->tts_values[LOG_LAST - 1] = Int64GetDatum(cl->pos[cl->n - 1]);
		if (consecutive)
			slot->tts_isnull[LOG_POSITIONS - 1] = true;
		else
			slot->tts_values[LOG_POSITIONS - 1] =
				PointerGetDatum(construct_array(pd, cl->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		slot->tts_values[LOG_SEQS - 1] =
			PointerGetDatum(construct_array(sd, cl->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		for (int k = 0; k < st->nkeys; k++)
		{
			Oid			typid = st->cols[st->keys[k].attnum - 1].typid;

			get_typlenbyvalalign(typid, &typlen, &typbyval, &typalign);
			slot->tts_values[LOG_KEYS - 1 + k] =
				PointerGetDatum(construct_array(cl->keys[k], cl->n, typid, typlen, typbyval, typalign));
		}
		ExecStoreVirtualTuple(slot);
		table_tuple_insert(rel, slot, cid, 0, NULL);
		list_free(ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL));
		MemoryContextSwitchTo(old);
	}
	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	MemoryContextReset(cl->cxt);
	cl->n = 0;
	cl->max = 256;
	cl->pos = MemoryContextAlloc(cl->cxt, sizeof(int64) * cl->max);
	cl->seq = MemoryContextAlloc(cl->cxt, sizeof(int64) * cl->max);
	cl->keys = MemoryContextAlloc(cl->cxt, sizeof(Datum *) * Max(st->nkeys, 1));
	for (int k = 0; k < st->nkeys; k++)
		cl->keys[k] = MemoryContextAlloc(cl->cxt, sizeof(Datum) * cl->max);
}

void
changelog_end(ChangeLog *cl)
{
	changelog_flush(cl);
	MemoryContextDelete(cl->cxt);
	pfree(cl);
}

/* One row of the log, taken apart (pointers into its detoasted arrays) */
typedef struct LogRow
{
	int64		first;
	int			n;
	int64	   *positions;		/* NULL: first, first + 1, ... */
	int64	   *seqs;
	Datum	   *keys[INDEX_MAX_KEYS];	/* keys[k][i] */
} LogRow;

static void
log_row_read(SeqTable *st, TupleTableSlot *slot, LogRow *r)
{
	bool		isnull;
	Datum		d;
	ArrayType  *seqarr;

	r->first = DatumGetInt64(slot_getattr(slot, LOG_FIRST, &isnull));
	d = slot_getattr(slot, LOG_POSITIONS, &isnull);
	r->positions = isnull ? NULL : (int64 *) ARR_DATA_PTR(DatumGetArrayTypeP(d));
	seqarr = DatumGetArrayTypeP(slot_getattr(slot, LOG_SEQS, &isnull));
	r->n = ArrayGetNItems(ARR_NDIM(seqarr), ARR_DIMS(seqarr));
	r->seqs = (int64 *) ARR_DATA_PTR(seqarr);
	for (int k = 0; k < st->nkeys; k++)
	{
		SeqColumn  *c = &st->cols[st->keys[k].attnum - 1];
		int16		typlen;
		bool		typbyval;
		char		typalign;
		int			nk;

		get_typlenbyvalalign(c->typid, &typlen, &typbyval, &typalign);
		deconstruct_array(DatumGetArrayTypeP(slot_getattr(slot, LOG_KEYS + k, &isnull)),
						  c->typid, typlen, typbyval, typalign, &r->keys[k], NULL, &nk);
		if (nk != r->n)
			elog(ERROR, "change log of table %s is damaged (%d keys, %d sequences)",
				 st->relname, nk, r->n);
	}
}

#define LOG_ROW_POS(r, i) ((r)->positions ? (r)->positions[i] : (r)->first + (i))

/*
 * The entries with after < position < below, in position order, at most
 * max of them (max <= 0: all), under snapshot snap, allocated in the
 * current memory context.  *more: the read stopped at max while entries
 * below `below` may follow (a next read starts after the last returned).
 */
int
changelog_read(SeqTable *st, int64 after, int64 below, int max, Snapshot snap,
			   LogEntry **out, bool *more)
{
	Relation	rel = table_open(st->logrelid, AccessShareLock);
	Relation	irel = index_open(st->logindexid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan;
	ScanKeyData key;
	int			n = 0;
	int			cap = max > 0 ? Min(max, 1024) : 256;	/* (grows: max is a limit) */
	LogEntry   *e = palloc(sizeof(LogEntry) * cap);
	bool		done = false;

	*more = false;
	ScanKeyInit(&key, 1, BTGreaterStrategyNumber, F_INT8GT, Int64GetDatum(after));
	scan = index_beginscan(rel, irel, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (!done && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		LogRow		r;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (DatumGetInt64(slot_getattr(slot, LOG_FIRST, &isnull)) >= below)
			break;				/* rows cover disjoint ranges: none further below */
		log_row_read(st, slot, &r);
		for (int i = 0; i < r.n; i++)
		{
			int64		pos = LOG_ROW_POS(&r, i);

			if (pos <= after)
				continue;
			if (pos >= below)
			{
				done = true;
				break;
			}
			if (max > 0 && n == max)
			{
				*more = true;
				done = true;
				break;
			}
			if (n == cap)
			{
				cap *= 2;
				e = repalloc_huge(e, sizeof(LogEntry) * cap);
			}
			e[n].pos = pos;
			e[n].seq = r.seqs[i];
			for (int k = 0; k < st->nkeys; k++)
			{
				SeqColumn  *c = &st->cols[st->keys[k].attnum - 1];

				e[n].keys[k] = datumCopy(r.keys[k][i], c->typbyval, c->typlen);
			}
			n++;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, NoLock);
	table_close(rel, NoLock);
	*out = e;
	return n;
}

/*
 * Is the entry at pos, of sequence seq, its key's current state?  What the
 * key state row and the row say (kf, from stateprobe_get): the key state
 * row's position when it has one, else the row's sequence (the top of this
 * file).  rows: kf says whether the key has a row; if not (a partitioned
 * table, whose every key has a key state row with a position), an entry
 * without one is kept.
 */
static bool
entry_current(KeyFound *kf, bool rows, int64 pos, int64 seq)
{
	if (kf->sfound && !kf->sposnull)
		return kf->spos == pos;
	if (!rows)
		return true;
	return kf->rfound && (kf->rseqnull ? PG_INT64_MIN : kf->rseq) == seq;
}

/*
 * Drop the entries of the log that are no longer their key's current state
 * (the key changed again since, or its tombstone was purged), rewriting
 * the rows that hold them; returns how many.  Such an entry never becomes
 * current again -- except after a purge, when a late record may bring the
 * key back at a sequence an old entry has: this is why sequenced_purge_
 * tombstones calls this, in the same transaction, before any such record
 * can come.  What is current is judged under snap, by rows committed (or
 * this transaction's): later changes only move a key's state on.  The log
 * is locked against a second compaction (ShareUpdateExclusiveLock), not
 * against writers, which only add rows, nor readers, which see the old
 * rows or the new ones, with the same current entries.
 */
int64
changelog_compact(SeqTable *st, Snapshot snap)
{
	Relation	rel = table_open(st->logrelid, ShareUpdateExclusiveLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	bool		rows = get_rel_relkind(st->relid) != RELKIND_PARTITIONED_TABLE;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced log compaction",
												 ALLOCSET_DEFAULT_SIZES);
	CommandId	cid = GetCurrentCommandId(true);
	StateProbe	p;
	int64		dropped = 0;

	stateprobe_begin(&p, st, rows, snap);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		MemoryContext old = MemoryContextSwitchTo(rowcxt);
		LogRow		r;
		bool	   *keep;
		int			kept = 0;

		CHECK_FOR_INTERRUPTS();
		log_row_read(st, slot, &r);
		keep = palloc(sizeof(bool) * r.n);
		for (int i = 0; i < r.n; i++)
		{
			Datum		keyvals[INDEX_MAX_KEYS];
			KeyFound	kf;

			for (int k = 0; k < st->nkeys; k++)
				keyvals[k] = r.keys[k][i];
			/* (in the scans' own context: an index scan keeps what it allocates) */
			MemoryContextSwitchTo(old);
			stateprobe_get(&p, keyvals, &kf);
			MemoryContextSwitchTo(rowcxt);
			ExecClearTuple(p.sslot);
			if (rows)
				ExecClearTuple(p.rslot);
			keep[i] = entry_current(&kf, rows, LOG_ROW_POS(&r, i), r.seqs[i]);
			kept += keep[i] ? 1 : 0;
		}
		if (kept < r.n)
		{
			TM_FailureData tmfd;
			TM_Result	res;

			res = table_tuple_delete(rel, &slot->tts_tid, cid, snap, InvalidSnapshot,
									 true, &tmfd, false);
			if (res != TM_Ok)
				elog(ERROR, "failed to compact the change log of table %s (%d)", st->relname, (int) res);
			if (kept > 0)
			{
				ChangeLog  *cl = changelog_begin(st);

				for (int i = 0; i < r.n; i++)
				{
					Datum		keyvals[INDEX_MAX_KEYS];

					if (!keep[i])
						continue;
					for (int k = 0; k < st->nkeys; k++)
						keyvals[k] = r.keys[k][i];
					changelog_add(cl, LOG_ROW_POS(&r, i), keyvals, r.seqs[i]);
				}
				changelog_end(cl);
			}
			dropped += r.n - kept;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	stateprobe_end(&p);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(rowcxt);
	table_close(rel, NoLock);
	return dropped;
}
