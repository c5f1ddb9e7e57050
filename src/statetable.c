/*-------------------------------------------------------------------------
 *
 * statetable.c
 *		The key state table and the change log of a registered table: made,
 *		filled from the rows already there (the backfill), completed when a
 *		table moves to unchanged => 'skip', dropped -- and a 0.1 key state
 *		turned into 0.2's by ALTER EXTENSION ... UPDATE.
 *
 * Shapes (catalog.c checks them on every load):
 *	- key state _sequenced.state_<relid>: k1..kn (the key columns' types and
 *	  the key index's collations), sequence, position (NULL: none of its
 *	  own), deleted; one unique index over the key, with the key index's
 *	  operator classes, and no other, so that changing a key's sequence or
 *	  position is a HOT update (fillfactor 80 leaves the room).  An
 *	  append-only table's: position, sequence, record, row_table, row_tid,
 *	  indexed on position.
 *	- change log _sequenced.log_<relid> (keyed tables): first, last,
 *	  positions, seqs, k1[]..kn[]; an index on last (changelog.c).
 *
 * Rights: both belong to the registered table's owner (made by the
 * extension's owner in _sequenced, where no other role may name anything,
 * then given away): VACUUM, ANALYZE and index builds of them run as that
 * owner, and they hold values of the table's key types, whose code (a range
 * type's subtype_diff, say) must never run as the extension's owner.  What
 * reads the user's table (the backfill, the completion, the upgrade's
 * pruning) does so in C, straight from the heap, as the table's owner under
 * SECURITY_RESTRICTED_OPERATION: no statement naming the table is planned
 * as anyone else (rights.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/tablespace.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pg_sequenced.h"

void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "statement failed (%s): %s", SPI_result_code_string(rc), sql);
}

/* spi_exec of a formatted statement */
void
spi_execf(int expected, const char *fmt,...)
{
	StringInfoData sql;

	initStringInfo(&sql);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&sql, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&sql, needed);
	}
	spi_exec(sql.data, expected);
	pfree(sql.data);
}

/*
 * A state table written straight through its heap and indexes (as the
 * apply functions write it), for registration's backfill.
 */
typedef struct StateFill
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	CommandId	cid;
} StateFill;

static void
state_fill_begin(StateFill *f, Oid staterel)
{
	CommandCounterIncrement();	/* see the indexes just made */
	f->rel = table_open(staterel, RowExclusiveLock);
	f->estate = CreateExecutorState();
	f->cid = GetCurrentCommandId(true);
	f->estate->es_output_cid = f->cid;
	f->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(f->rri, f->rel, 0, NULL, 0);
	ExecOpenIndices(f->rri, false);
	f->slot = table_slot_create(f->rel, NULL);
}

static void
state_fill_put(StateFill *f)
{
	ExecStoreVirtualTuple(f->slot);
	table_tuple_insert(f->rel, f->slot, f->cid, 0, NULL);
	list_free(ExecInsertIndexTuples(f->rri, f->slot, f->estate, false, false, NULL, NIL));
	ExecClearTuple(f->slot);
	ResetPerTupleExprContext(f->estate);
}

static void
state_fill_end(StateFill *f)
{
	ExecDropSingleTupleTableSlot(f->slot);
	ExecCloseIndices(f->rri);
	FreeExecutorState(f->estate);
	table_close(f->rel, NoLock);
}

/*
 * What changelog.c needs of a table to write its log (the key columns'
 * types), for writers that run before the table's description exists
 */
static void
log_writer_table(SeqTable *fake, Relation rel, int nkeys, AttrNumber *keyatts, Oid logrel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	SeqColumn  *cols = palloc0(sizeof(SeqColumn) * desc->natts);
	SeqKey	   *keys = palloc0(sizeof(SeqKey) * nkeys);

	memset(fake, 0, sizeof(SeqTable));
	fake->relname = RelationGetRelationName(rel);
	fake->logrelid = logrel;
	fake->nkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, keyatts[i] - 1);

		keys[i].attnum = keyatts[i];
		cols[keyatts[i] - 1].typid = att->atttypid;
		cols[keyatts[i] - 1].typlen = att->attlen;
		cols[keyatts[i] - 1].typbyval = att->attbyval;
	}
	fake->cols = cols;
	fake->keys = keys;
}

/*
 * Fill the key state and the log from the rows already in the table: each
 * row gets a position (1, 2, ...), below any position a later transaction
 * hands out, so a feed consumer starting from 0 sees the existing rows
 * first.  A key state row for each only where every key needs one
 * (!sparse: see catalog.c); else a row says its key's state itself.  An
 * append-only table's state has a row per row, with its record.
 *
 * Rights.  The rows are read in C, straight from the heap of every leaf
 * (no statement: planning one runs code of the table's owner, and row
 * security must not hide a row), and the work that runs code of the
 * table's types -- the key state index's comparisons, to_jsonb() of an
 * append-only table's rows -- as the table's owner, under
 * SECURITY_RESTRICTED_OPERATION.
 */
static void
backfill_state(Relation rel, Oid staterel, Oid logrel, int nkeys, AttrNumber *keyatts,
			   const char *seqcol, bool soft, bool sparse)
{
	List	   *leaves;
	ListCell   *lc;
	int64		position = 0;
	FmgrInfo	tojsonb;
	OwnerSwitch sw;
	StateFill	f;
	Snapshot	snap;
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced backfill",
												 ALLOCSET_DEFAULT_SIZES);
	ChangeLog  *cl = NULL;
	SeqTable	fake;			/* what changelog.c needs of the table */

	leaves = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ?
		find_all_inheritors(RelationGetRelid(rel), AccessShareLock, NULL) :
		list_make1_oid(RelationGetRelid(rel));
	rights_begin_owner(RelationGetRelid(rel), &sw);
	if (nkeys == 0)
		catalog_setup_tojsonb(&tojsonb, rel->rd_rel->reltype, CurrentMemoryContext);
	else
	{
		log_writer_table(&fake, rel, nkeys, keyatts, logrel);
		cl = changelog_begin(&fake);
	}
	if (nkeys == 0 || !sparse)
		state_fill_begin(&f, staterel);
	snap = RegisterSnapshot(GetLatestSnapshot());
	foreach(lc, leaves)
	{
		Relation	leaf = table_open(lfirst_oid(lc), AccessShareLock);
		TupleDesc	ldesc = RelationGetDescr(leaf);
		AttrNumber	lkeys[INDEX_MAX_KEYS];
		AttrNumber	lseq = get_attnum(lfirst_oid(lc), seqcol);
		AttrNumber	ldel = soft ? get_attnum(lfirst_oid(lc), SEQ_DELETED_AT_COLUMN) : InvalidAttrNumber;
		TupleConversionMap *map = NULL;
		TupleTableSlot *slot;
		TableScanDesc scan;

		if (leaf->rd_rel->relkind != RELKIND_RELATION)
		{
			table_close(leaf, AccessShareLock);
			continue;
		}
		/* columns by name: a partition's attribute numbers may differ */
		for (int i = 0; i < nkeys; i++)
			lkeys[i] = get_attnum(lfirst_oid(lc), NameStr(TupleDescAttr(desc, keyatts[i] - 1)->attname));
		if (nkeys == 0 && leaf != rel)
			map = convert_tuples_by_name(ldesc, desc);
		slot = table_slot_create(leaf, NULL);
		scan = table_beginscan(leaf, snap, 0, NULL);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			MemoryContext old = MemoryContextSwitchTo(rowcxt);

			CHECK_FOR_INTERRUPTS();
			if (nkeys == 0)
			{
				HeapTuple	tup = ExecCopySlotHeapTuple(slot);
				Datum	   *v = f.slot->tts_values;
				bool	   *n = f.slot->tts_isnull;

				ExecClearTuple(f.slot);
				if (map != NULL)
					tup = execute_attr_map_tuple(tup, map);
				/* position, sequence, record, row_table, row_tid */
				v[0] = Int64GetDatum(++position);
				n[0] = false;
				v[1] = slot_getattr(slot, lseq, &n[1]);
				v[2] = FunctionCall1(&tojsonb, heap_copy_tuple_as_datum(tup, desc));
				n[2] = false;
				v[3] = ObjectIdGetDatum(RelationGetRelid(leaf));
				n[3] = false;
				v[4] = PointerGetDatum(&slot->tts_tid);
				n[4] = false;
				state_fill_put(&f);
			}
			else
			{
				Datum		keyvals[INDEX_MAX_KEYS];
				bool		skip = false;
				bool		seqnull;
				Datum		seq;

				/* a NULL key: no key to sequence */
				for (int i = 0; i < nkeys; i++)
				{
					bool		isnull;

					keyvals[i] = slot_getattr(slot, lkeys[i], &isnull);
					skip |= isnull;
				}
				seq = slot_getattr(slot, lseq, &seqnull);
				if (!skip)
				{
					position++;
					/*
					 * (a NULL sequence is older than any message: the log's
					 * entry says so with the lowest sequence, and a sparse
					 * key's row answers for itself)
					 */
					changelog_add(cl, position, keyvals, seqnull ? PG_INT64_MIN : DatumGetInt64(seq));
					if (cl != NULL && position % SEQ_WRITE_CHUNK == 0)
						changelog_flush(cl);
					if (!sparse)
					{
						/* k1..kn, sequence, position, deleted */
						Datum	   *v = f.slot->tts_values;
						bool	   *n = f.slot->tts_isnull;

						ExecClearTuple(f.slot);
						for (int i = 0; i < nkeys; i++)
						{
							v[i] = keyvals[i];
							n[i] = false;
						}
						v[nkeys] = seq;
						n[nkeys] = seqnull;
						v[nkeys + 1] = Int64GetDatum(position);
						n[nkeys + 1] = false;
						v[nkeys + 2] = BoolGetDatum(false);
						if (ldel != InvalidAttrNumber)
						{
							bool		isnull;

							(void) slot_getattr(slot, ldel, &isnull);
							v[nkeys + 2] = BoolGetDatum(!isnull);
						}
						n[nkeys + 2] = false;
						state_fill_put(&f);
					}
				}
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		if (map != NULL)
			free_conversion_map(map);
		table_close(leaf, NoLock);
	}
	UnregisterSnapshot(snap);
	if (nkeys == 0 || !sparse)
		state_fill_end(&f);
	if (cl != NULL)
		changelog_end(cl);
	rights_end_owner(&sw);
	MemoryContextDelete(rowcxt);
}

/* An unused name in _sequenced: <prefix>_<relid>[_<n>] */
static char *
internal_name(const char *prefix, Oid relid)
{
	Oid			nsp = get_namespace_oid("_sequenced", false);
	char	   *name = psprintf("%s_%u", prefix, relid);

	for (int n = 1; OidIsValid(get_relname_relid(name, nsp)); n++)
		name = psprintf("%s_%u_%d", prefix, relid, n);
	return name;
}

/*
 * The session's settings for new tables are the caller's, not ours: the
 * key state goes into the table's own tablespace (where its owner may
 * create), as a heap.  Undone when the caller's GUC nesting level ends
 * (registration's, the upgrade's).
 */
static void
new_tables_like(Relation rel)
{
	(void) set_config_option("default_tablespace",
							 OidIsValid(rel->rd_rel->reltablespace) ?
							 get_tablespace_name(rel->rd_rel->reltablespace) : "",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("default_table_access_method", "heap",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/* The log of a keyed table, empty, its owner's (as the extension's owner) */
static Oid
create_log_table(Relation rel, int nkeys, AttrNumber *keyatts)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *lname = internal_name("log", RelationGetRelid(rel));
	char	   *lqname = quote_qualified_identifier("_sequenced", lname);
	StringInfoData lsql;
	Oid			logrel;

	initStringInfo(&lsql);
	appendStringInfo(&lsql, "CREATE TABLE %s (first pg_catalog.int8 NOT NULL, last pg_catalog.int8 NOT NULL, "
					 "positions pg_catalog.int8[], seqs pg_catalog.int8[] NOT NULL", lqname);
	for (int i = 0; i < nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, keyatts[i] - 1);

		appendStringInfo(&lsql, ", k%d %s NOT NULL", i + 1,
						 format_type_extended(get_array_type(att->atttypid), att->atttypmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	appendStringInfoChar(&lsql, ')');
	spi_exec(lsql.data, SPI_OK_UTILITY);
	logrel = get_relname_relid(lname, get_namespace_oid("_sequenced", false));
	if (!OidIsValid(logrel))
		elog(ERROR, "change log %s is missing after CREATE TABLE", lqname);
	spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s OWNER TO %s", lqname,
			  quote_identifier(GetUserNameFromId(rel->rd_rel->relowner, false)));
	spi_execf(SPI_OK_UTILITY, "CREATE INDEX ON %s (last)", lqname);
	return logrel;
}

/*
 * The key state's unique index over the key, with the key index's operator
 * classes and collations (built as the key state's owner: DefineIndex
 * switches to it)
 */
static void
create_state_index(const char *qname, int nkeys, AttrNumber *keyatts, Oid keyindex)
{
	StringInfoData idx;

	initStringInfo(&idx);
	for (int i = 0; i < nkeys; i++)
	{
		Oid			opclass = InvalidOid;
		Oid			collation = InvalidOid;
		HeapTuple	octup;
		Form_pg_opclass opc;

		catalog_key_index_column(keyindex, keyatts[i], &opclass, &collation);
		octup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
		if (!HeapTupleIsValid(octup))
			elog(ERROR, "cache lookup failed for opclass %u", opclass);
		opc = (Form_pg_opclass) GETSTRUCT(octup);
		appendStringInfo(&idx, "%sk%d", i ? ", " : "", i + 1);
		if (OidIsValid(collation))
			appendStringInfo(&idx, " COLLATE %s", generate_collation_name(collation));
		appendStringInfo(&idx, " %s",
						 quote_qualified_identifier(get_namespace_name(opc->opcnamespace),
													NameStr(opc->opcname)));
		ReleaseSysCache(octup);
	}
	spi_execf(SPI_OK_UTILITY, "CREATE UNIQUE INDEX ON %s (%s)", qname, idx.data);
}

/*
 * Create and fill the key state and the log of a table (*logrel: the
 * log's oid, InvalidOid for an append-only table, which has none); the
 * shapes and the rights are at the top of this file.
 */
Oid
create_state_table(Relation rel, int nkeys, AttrNumber *keyatts, Oid keyindex,
				   const char *seqcol, bool soft, bool sparse, Oid *logrel)
{
	Oid			nsp = get_namespace_oid("_sequenced", false);
	char	   *name = internal_name("state", RelationGetRelid(rel));
	char	   *qname = quote_qualified_identifier("_sequenced", name);
	const char *owner = quote_identifier(GetUserNameFromId(rel->rd_rel->relowner, false));
	StringInfoData sql;
	Oid			save_userid;
	int			save_sec;
	Oid			staterel;

	initStringInfo(&sql);
	rights_begin_internal(&save_userid, &save_sec);
	new_tables_like(rel);
	*logrel = InvalidOid;
	if (nkeys == 0)
		spi_execf(SPI_OK_UTILITY, "CREATE TABLE %s (position pg_catalog.int8 NOT NULL, "
				  "sequence pg_catalog.int8, record pg_catalog.jsonb, "
				  "row_table pg_catalog.oid, row_tid pg_catalog.tid)", qname);
	else
	{
		TupleDesc	desc = RelationGetDescr(rel);

		appendStringInfo(&sql, "CREATE TABLE %s (", qname);
		for (int i = 0; i < nkeys; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, keyatts[i] - 1);
			Oid			opclass = InvalidOid;
			Oid			collation = InvalidOid;

			catalog_key_index_column(keyindex, keyatts[i], &opclass, &collation);
			appendStringInfo(&sql, "k%d %s", i + 1,
							 format_type_extended(att->atttypid, att->atttypmod,
												  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
			if (OidIsValid(collation) && collation != get_typcollation(att->atttypid))
				appendStringInfo(&sql, " COLLATE %s", generate_collation_name(collation));
			appendStringInfoString(&sql, " NOT NULL, ");
		}
		appendStringInfoString(&sql, "sequence pg_catalog.int8, position pg_catalog.int8, "
							   "deleted pg_catalog.bool NOT NULL) WITH (fillfactor = 80)");
		spi_exec(sql.data, SPI_OK_UTILITY);
		*logrel = create_log_table(rel, nkeys, keyatts);
	}
	staterel = get_relname_relid(name, nsp);
	if (!OidIsValid(staterel))
		elog(ERROR, "state table %s is missing after CREATE TABLE", qname);
	spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s OWNER TO %s", qname, owner);

	/* index builds run as the table's owner (DefineIndex switches to it) */
	if (nkeys == 0)
		spi_execf(SPI_OK_UTILITY, "CREATE INDEX ON %s (position)", qname);
	else
		create_state_index(qname, nkeys, keyatts, keyindex);
	backfill_state(rel, staterel, *logrel, nkeys, keyatts, seqcol, soft, sparse);
	/* ANALYZE runs as the tables' owner (analyze_rel switches to it) */
	spi_execf(SPI_OK_UTILITY, "ANALYZE %s", qname);
	if (OidIsValid(*logrel))
		spi_execf(SPI_OK_UTILITY, "ANALYZE %s",
				  quote_qualified_identifier("_sequenced", get_rel_name(*logrel)));
	rights_end_internal(save_userid, save_sec);
	return staterel;
}

/* Drop a table's key state and log (either may be InvalidOid) */
void
drop_state_table(Oid staterel, Oid logrel)
{
	Oid			save_userid;
	int			save_sec;
	Oid			rels[2] = {staterel, logrel};

	rights_begin_internal(&save_userid, &save_sec);
	for (int i = 0; i < 2; i++)
	{
		char	   *name = OidIsValid(rels[i]) ? get_rel_name(rels[i]) : NULL;

		if (name != NULL)
			spi_exec(psprintf("DROP TABLE %s", quote_qualified_identifier("_sequenced", name)),
					 SPI_OK_UTILITY);
	}
	rights_end_internal(save_userid, save_sec);
}

/*
 * Registering again with unchanged => 'skip' (from 'write'): every key with
 * a row gets a key state row, if it has none, with the row's sequence and
 * no position of its own (its row's entry in the log is its current
 * state).  Read and written in C as the table's owner, as the backfill.
 */
void
fill_missing_state(Relation rel, Oid staterel, int nkeys, AttrNumber *keyatts,
				   const char *seqcol, bool soft)
{
	OwnerSwitch sw;
	Relation	srel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *sslot;
	TupleTableSlot *slot;
	TableScanDesc scan;
	Snapshot	snap;
	AttrNumber	seqatt = get_attnum(RelationGetRelid(rel), seqcol);
	AttrNumber	delatt = soft ? get_attnum(RelationGetRelid(rel), SEQ_DELETED_AT_COLUMN) : InvalidAttrNumber;
	List	   *arbiters;
	CommandId	cid;

	rights_begin_owner(RelationGetRelid(rel), &sw);
	CommandCounterIncrement();
	srel = table_open(staterel, RowExclusiveLock);
	estate = CreateExecutorState();
	cid = GetCurrentCommandId(true);
	estate->es_output_cid = cid;
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, srel, 0, NULL, 0);
	ExecOpenIndices(rri, true);
	arbiters = list_make1_oid(rri->ri_IndexRelationDescs[0]->rd_id);
	sslot = table_slot_create(srel, NULL);
	slot = table_slot_create(rel, NULL);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		skip = false;

		CHECK_FOR_INTERRUPTS();
		ExecClearTuple(sslot);
		for (int i = 0; i < nkeys; i++)
		{
			sslot->tts_values[i] = slot_getattr(slot, keyatts[i], &sslot->tts_isnull[i]);
			skip |= sslot->tts_isnull[i];
		}
		if (skip)
			continue;
		sslot->tts_values[nkeys] = slot_getattr(slot, seqatt, &sslot->tts_isnull[nkeys]);
		sslot->tts_isnull[nkeys + 1] = true;	/* position: the row's entry */
		sslot->tts_values[nkeys + 2] = BoolGetDatum(false);
		sslot->tts_isnull[nkeys + 2] = false;
		if (delatt != InvalidAttrNumber)
		{
			bool		isnull;

			(void) slot_getattr(slot, delatt, &isnull);
			sslot->tts_values[nkeys + 2] = BoolGetDatum(!isnull);
		}
		ExecStoreVirtualTuple(sslot);
		/* (the registration's lock keeps writers out: a key with a row already is skipped) */
		{
			ItemPointerData conflict;

			if (ExecCheckIndexConstraints(rri, sslot, estate, &conflict, arbiters))
			{
				table_tuple_insert(srel, sslot, cid, 0, NULL);
				list_free(ExecInsertIndexTuples(rri, sslot, estate, false, false, NULL, NIL));
			}
		}
		ResetPerTupleExprContext(estate);
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	ExecDropSingleTupleTableSlot(slot);
	ExecDropSingleTupleTableSlot(sslot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(srel, NoLock);
	rights_end_owner(&sw);
}


/*
 * _sequenced.upgrade_state(target): run by the 0.1 -> 0.2 update script
 * for each registered table with a key, after the key state was given to
 * the table's owner.  0.1 kept a key state row for every key, with its
 * position, under a unique index INCLUDE (sequence) and an index on
 * position.  0.2's (top of this file):
 *	- the log gets an entry per key state row with a position, in position
 *	  order: the key's current state, as before;
 *	- the key state's indexes are made again without the sequence and the
 *	  position (so that its updates are HOT), its position may be NULL;
 *	- on a sparse table (catalog.c), the key state rows whose row says the
 *	  same (the same sequence, deleted alike) are dropped: their log entry
 *	  is current by the row's sequence, as a 0.2 key's is.  Tombstones and
 *	  rows that disagree with their key state (written around the
 *	  functions) keep theirs.
 * Positions, tombstones, stored sequences and the feed from any position
 * are what they were.  Only the update script may run this.
 */
PG_FUNCTION_INFO_V1(sequenced_upgrade_state);

Datum
sequenced_upgrade_state(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	Relation	rel;
	Oid			staterel;
	char	   *sqname;
	ArrayType  *keyarr;
	List	   *keynames;
	ListCell   *lc;
	int			nkeys = 0;
	AttrNumber	keyatts[INDEX_MAX_KEYS];
	Oid			keyindex;
	Oid			logrel;
	List	   *indexes;
	int			guclevel;
	bool		isnull;

	if (!creating_extension)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("only ALTER EXTENSION pg_sequenced UPDATE may run this function")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guclevel = NewGUCNestLevel();
	rights_pin_path();
	if (SPI_execute_with_args("SELECT state_rel::pg_catalog.oid, key_columns FROM _sequenced.config "
							  "WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND log_rel IS NULL",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "failed to read the catalog");
	if (SPI_processed == 0)
	{
		AtEOXact_GUC(true, guclevel);
		SPI_finish();
		PG_RETURN_VOID();		/* not registered, or done */
	}
	staterel = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	keyarr = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	keynames = catalog_text_array_to_list(keyarr);
	if (list_length(keynames) == 0)
	{
		AtEOXact_GUC(true, guclevel);
		SPI_finish();
		PG_RETURN_VOID();		/* append-only: the script did what it needs */
	}

	rel = table_open(relid, ShareRowExclusiveLock);
	foreach(lc, keynames)
	{
		keyatts[nkeys] = get_attnum(relid, (char *) lfirst(lc));
		if (keyatts[nkeys] == InvalidAttrNumber)
			elog(ERROR, "key column \"%s\" of table %s is missing", (char *) lfirst(lc),
				 RelationGetRelationName(rel));
		nkeys++;
	}
	keyindex = catalog_find_key_index(rel, nkeys, keyatts, NULL);
	if (!OidIsValid(keyindex))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s has no unique index over its key columns any more",
						RelationGetRelationName(rel)),
				 errhint("Unregister it before the update, or give it its index back."),
				 record_errrel(relid)));
	sqname = quote_qualified_identifier("_sequenced", get_rel_name(staterel));
	new_tables_like(rel);

	/* the log, from the positions */
	logrel = create_log_table(rel, nkeys, keyatts);
	CommandCounterIncrement();
	{
		SeqTable	fake;
		ChangeLog  *cl;
		Portal		portal;
		StringInfoData sql;

		log_writer_table(&fake, rel, nkeys, keyatts, logrel);
		cl = changelog_begin(&fake);
		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT position, sequence");
		for (int k = 0; k < nkeys; k++)
			appendStringInfo(&sql, ", k%d", k + 1);
		appendStringInfo(&sql, " FROM %s WHERE position IS NOT NULL ORDER BY position", sqname);
		portal = SPI_cursor_open_with_args(NULL, sql.data, 0, NULL, NULL, NULL, true, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				Datum		keyvals[INDEX_MAX_KEYS];
				int64		pos = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
				Datum		seq = SPI_getbinval(tup, desc, 2, &isnull);
				bool		knull;

				for (int k = 0; k < nkeys; k++)
					keyvals[k] = SPI_getbinval(tup, desc, 3 + k, &knull);
				changelog_add(cl, pos, keyvals, isnull ? PG_INT64_MIN : DatumGetInt64(seq));
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		changelog_end(cl);
	}

	/* the key state: its indexes again, without sequence and position */
	{
		Relation	srel = table_open(staterel, AccessExclusiveLock);

		indexes = RelationGetIndexList(srel);
		table_close(srel, NoLock);
	}
	foreach(lc, indexes)
		spi_execf(SPI_OK_UTILITY, "DROP INDEX %s",
				  quote_qualified_identifier("_sequenced", get_rel_name(lfirst_oid(lc))));
	spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s ALTER COLUMN position DROP NOT NULL, SET (fillfactor = 80)", sqname);
	create_state_index(sqname, nkeys, keyatts, keyindex);
	{
		Oid			uargtypes[2] = {OIDOID, OIDOID};
		Datum		uargs[2] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(logrel)};

		if (SPI_execute_with_args("UPDATE _sequenced.config SET log_rel = $2::pg_catalog.regclass "
								  "WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
								  2, uargtypes, uargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "failed to update the catalog");
	}
	CommandCounterIncrement();

	/* a sparse table: what its rows say, its key state need not */
	{
		SeqTable   *st = catalog_open(relid);

		if (st->sparse)
		{
			OwnerSwitch sw;
			StateProbe	p;
			Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
			Relation	srel = table_open(staterel, RowExclusiveLock);
			TupleTableSlot *slot = table_slot_create(srel, NULL);
			TableScanDesc scan;
			CommandId	cid = GetCurrentCommandId(true);

			rights_begin_owner(relid, &sw);
			stateprobe_begin(&p, st, true, snap);
			scan = table_beginscan(srel, snap, 0, NULL);
			while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
			{
				Datum		keyvals[INDEX_MAX_KEYS];
				KeyFound	kf;
				bool		seqnull;
				bool		dnull;
				int64		seq;
				bool		deleted;

				CHECK_FOR_INTERRUPTS();
				for (int k = 0; k < nkeys; k++)
					keyvals[k] = slot_getattr(slot, k + 1, &isnull);
				seq = DatumGetInt64(slot_getattr(slot, nkeys + 1, &seqnull));
				deleted = DatumGetBool(slot_getattr(slot, nkeys + 3, &dnull));
				stateprobe_get(&p, keyvals, &kf);
				ExecClearTuple(p.sslot);
				ExecClearTuple(p.rslot);
				if (kf.rfound && kf.rseqnull == seqnull && (seqnull || kf.rseq == seq) &&
					kf.rsoftdeleted == deleted)
				{
					TM_FailureData tmfd;

					if (table_tuple_delete(srel, &slot->tts_tid, cid, snap, InvalidSnapshot,
										   true, &tmfd, false) != TM_Ok)
						elog(ERROR, "failed to update the key state of table %s", st->relname);
				}
			}
			table_endscan(scan);
			stateprobe_end(&p);
			rights_end_owner(&sw);
			ExecDropSingleTupleTableSlot(slot);
			table_close(srel, NoLock);
			UnregisterSnapshot(snap);
		}
		catalog_close(st);
	}
	/* ANALYZE runs as the tables' owner (analyze_rel switches to it) */
	spi_execf(SPI_OK_UTILITY, "ANALYZE %s", sqname);
	spi_execf(SPI_OK_UTILITY, "ANALYZE %s", quote_qualified_identifier("_sequenced", get_rel_name(logrel)));
	table_close(rel, NoLock);
	AtEOXact_GUC(true, guclevel);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Whether a table's key state holds only what its rows cannot say (a
 * sparse key state, keystate.c): a plain table, with unchanged => 'write'
 * and no history -- else every key has a key state row (a partitioned
 * table's rows are written by statements, and under 'skip' or history
 * every writer of a key takes its key state row first).
 */
bool
catalog_sparse(char relkind, bool skip_unchanged, bool history)
{
	return relkind == RELKIND_RELATION && !skip_unchanged && !history;
}
