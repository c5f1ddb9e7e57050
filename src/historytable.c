/*-------------------------------------------------------------------------
 *
 * historytable.c
 *		The history table of a table registered with history => true (SPEC
 *		section 7): made, completed with the columns the table gained,
 *		re-indexed for a new key, filled at registration, described for the
 *		calls (history_load), and purged (sequenced_purge_history).
 *
 * What the versions are and how they are written is history.c's; this
 * file owns the table they live in.  Its shape: the target's columns
 * (types, no constraints), then _sdc_valid_from (NULL: since before any
 * sequence), _sdc_valid_to (NULL: until further notice) and _sdc_deleted;
 * one index over the key (the key index's operator classes and collations)
 * and _sdc_valid_from, NULLS FIRST.  A table's history is recognised by
 * its comment, which names the table it was made for: another relation of
 * that name is 42P07, and a renamed table keeps its own history.
 *
 * Rights: the history table belongs to the extension's owner, so that no
 * other role writes it; SELECT is granted to the roles that may read the
 * target.  Code of the table's types must then never run through it as
 * that owner: rows are written in C straight through heap and index (no
 * cast, no domain check, no DEFAULT runs), the index compares with the key
 * index's operator classes (which only superusers make), ANALYZE --
 * autovacuum's, or a superuser's -- skips every column of a type a role
 * other than the bootstrap superuser could have made or attached code to
 * (statistics target 0: a range type's subtype_diff is such code), and a
 * column whose type changed keeps its old values under another name rather
 * than through a cast.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "commands/tablespace.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

#define HIST_FROM	"_sdc_valid_from"
#define HIST_TO		"_sdc_valid_to"
#define HIST_DELETED "_sdc_deleted"

/* ----------------------------------------------------------------
 * the table: made, completed, described
 * ---------------------------------------------------------------- */

static void history_backfill(Relation rel, Oid hist, int nkeys, AttrNumber *keyatts,
							 const char *seqcol, bool soft);

/* A type whose code a role other than the bootstrap superuser may own */
static bool
type_may_run_user_code(Oid typid)
{
	HeapTuple	tup;
	Form_pg_type t;
	bool		risky;

	if (typid < FirstNormalObjectId && OidIsValid(typid) && type_is_array(typid) == false &&
		get_typtype(typid) == TYPTYPE_BASE)
		return false;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return true;
	t = (Form_pg_type) GETSTRUCT(tup);
	risky = typid >= FirstNormalObjectId ||
		t->typtype == TYPTYPE_RANGE || t->typtype == TYPTYPE_MULTIRANGE ||
		t->typtype == TYPTYPE_DOMAIN || t->typtype == TYPTYPE_COMPOSITE;
	if (!risky && OidIsValid(t->typelem) && t->typsubscript == F_ARRAY_SUBSCRIPT_HANDLER)
		risky = type_may_run_user_code(t->typelem);
	ReleaseSysCache(tup);
	return risky;
}

/*
 * Is relation hist the history table of table relid?  Ours (the
 * extension's owner's), made for relid: its comment says which table it
 * was made for (so a renamed table's history is not another's).
 */
static char *
history_mark(Oid relid)
{
	return psprintf("pg_sequenced: the history of table %u", relid);
}

static bool
is_history_table(Oid hist, Oid relid)
{
	char	   *comment;

	if (rights_rel_owner(hist) != catalog_owner())
		return false;
	comment = GetComment(hist, RelationRelationId, 0);
	return comment != NULL && strcmp(comment, history_mark(relid)) == 0;
}

/*
 * The history's index: the key, with the key index's operator classes and
 * collations, then the start of validity (NULLS FIRST: a version since
 * before any sequence comes first)
 */
static void
make_index(Relation rel, const char *qname, int nkeys, AttrNumber *keyatts, Oid keyindex)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData sql;

	initStringInfo(&sql);
	for (int k = 0; k < nkeys; k++)
	{
		Oid			opclass = InvalidOid;
		Oid			collation = InvalidOid;
		HeapTuple	octup;
		Form_pg_opclass opc;

		catalog_key_index_column(keyindex, keyatts[k], &opclass, &collation);
		octup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
		if (!HeapTupleIsValid(octup))
			elog(ERROR, "cache lookup failed for opclass %u", opclass);
		opc = (Form_pg_opclass) GETSTRUCT(octup);
		appendStringInfo(&sql, "%s", quote_identifier(NameStr(TupleDescAttr(desc, keyatts[k] - 1)->attname)));
		if (OidIsValid(collation))
			appendStringInfo(&sql, " COLLATE %s", generate_collation_name(collation));
		appendStringInfo(&sql, " %s, ",
						 quote_qualified_identifier(get_namespace_name(opc->opcnamespace),
													NameStr(opc->opcname)));
		ReleaseSysCache(octup);
	}
	spi_execf(SPI_OK_UTILITY, "CREATE INDEX ON %s (%s" HIST_FROM " NULLS FIRST)", qname, sql.data);
}

/*
 * Does the history's index lead with the key columns keyatts of rel (by
 * name, in key order), then _sdc_valid_from?
 */
static bool
index_fits(Relation rel, Oid hist, int nkeys, AttrNumber *keyatts)
{
	List	   *indexes;
	bool		fits = false;
	Relation	hrel = relation_open(hist, AccessShareLock);

	indexes = RelationGetIndexList(hrel);
	if (list_length(indexes) == 1)
	{
		Relation	irel = index_open(linitial_oid(indexes), AccessShareLock);

		fits = irel->rd_index->indnkeyatts == nkeys + 1 &&
			irel->rd_index->indkey.values[nkeys] == get_attnum(hist, HIST_FROM);
		for (int k = 0; fits && k < nkeys; k++)
			fits = irel->rd_index->indkey.values[k] ==
				get_attnum(hist, NameStr(TupleDescAttr(RelationGetDescr(rel), keyatts[k] - 1)->attname));
		index_close(irel, AccessShareLock);
	}
	list_free(indexes);
	relation_close(hrel, AccessShareLock);
	return fits;
}

/*
 * The type a history column of att gets: a domain's base type (a domain's
 * DEFAULT and CHECK are a role's code, which ADD COLUMN would run as the
 * extension's owner; the values are the base type's anyway)
 */
static char *
history_column_type(Form_pg_attribute att, Oid *typid)
{
	int32		typmod = att->atttypmod;

	*typid = getBaseTypeAndTypmod(att->atttypid, &typmod);
	return format_type_extended(*typid, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/*
 * ANALYZE leaves out the history's columns whose types may run a role's
 * code (statistics target 0)
 */
static void
no_statistics(Relation rel, const char *qname)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && type_may_run_user_code(att->atttypid))
			spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s ALTER COLUMN %s SET STATISTICS 0", qname,
					  quote_identifier(NameStr(att->attname)));
	}
}

/* The columns the table gained since its history was made (as the extension's owner) */
static void
add_columns(Relation rel, const char *qname, Oid hist)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		added = false;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AttrNumber	h;

		if (att->attisdropped)
			continue;
		h = get_attnum(hist, NameStr(att->attname));
		if (h != InvalidAttrNumber)
		{
			Oid			htype = get_atttype(hist, h);
			char	   *old;

			if (htype == getBaseType(att->atttypid))
				continue;
			/*
			 * The column changed type: its old versions keep their values
			 * under another name (no cast runs: a cast may be a role's code,
			 * and this runs as the extension's owner), the column is made
			 * again with the new type
			 */
			old = psprintf("%s (%s)", NameStr(att->attname), format_type_be(htype));
			if (strlen(old) >= NAMEDATALEN)
				old = psprintf("%.40s (before %u)", NameStr(att->attname), (unsigned) GetCurrentTransactionId());
			spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s RENAME COLUMN %s TO %s", qname,
					  quote_identifier(NameStr(att->attname)), quote_identifier(old));
		}
		{
			Oid			typid;

			spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s ADD COLUMN %s %s", qname,
					  quote_identifier(NameStr(att->attname)), history_column_type(att, &typid));
		}
		added = true;
	}
	if (added)
		no_statistics(rel, qname);
}

/*
 * sequenced_import added columns to table relid: its history, if it keeps
 * one, gains them too (SPEC section 7)
 */
void
history_add_columns(Oid relid)
{
	ConfigRow	cfg = catalog_read_config(relid);
	Relation	rel;
	Oid			save_userid;
	int			save_sec;

	if (!cfg.found || !cfg.history || !OidIsValid(cfg.history_rel))
		return;
	rel = relation_open(relid, AccessShareLock);
	rights_begin_internal(&save_userid, &save_sec);
	add_columns(rel, quote_qualified_identifier(get_namespace_name(get_rel_namespace(cfg.history_rel)),
												get_rel_name(cfg.history_rel)),
				cfg.history_rel);
	rights_end_internal(save_userid, save_sec);
	relation_close(rel, NoLock);
}

/*
 * Registration with history => true: make <table>_history in the table's
 * schema (42P07 if another relation has that name), or complete it with
 * the columns the table gained since; grant SELECT on it to the roles
 * holding SELECT on the table; fill a new one with the rows there are.
 * known: the history table the catalog names, or InvalidOid.
 */
Oid
history_register(Relation rel, int nkeys, AttrNumber *keyatts, Oid keyindex, Oid known,
				 const char *seqcol, bool soft)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			nsp = RelationGetNamespace(rel);
	char	   *name = psprintf("%s_history", RelationGetRelationName(rel));
	char	   *qname = quote_qualified_identifier(get_namespace_name(nsp), name);
	Oid			hist = OidIsValid(known) && SearchSysCacheExists1(RELOID, ObjectIdGetDatum(known)) ?
		known : get_relname_relid(name, nsp);
	bool		made = false;
	Oid			save_userid;
	int			save_sec;
	StringInfoData sql;

	if (OidIsValid(hist))
		qname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(hist)), get_rel_name(hist));
	if (OidIsValid(hist) && hist != known && !is_history_table(hist, RelationGetRelid(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation %s already exists, and is not the history of table %s",
						qname, RelationGetRelationName(rel)),
				 errhint("Rename or drop it, then register the table with history again."),
				 record_errrel(RelationGetRelid(rel))));
	for (int i = 0; i < desc->natts; i++)
	{
		const char *c = NameStr(TupleDescAttr(desc, i)->attname);

		if (!TupleDescAttr(desc, i)->attisdropped &&
			(strcmp(c, HIST_FROM) == 0 || strcmp(c, HIST_TO) == 0 || strcmp(c, HIST_DELETED) == 0))
			ereport(ERROR,
					(errcode(ERRCODE_RESERVED_NAME),
					 errmsg("column \"%s\" of table %s has a name its history uses", c, RelationGetRelationName(rel)),
					 errdetail("A table with history => true must not have columns named %s, %s or %s.",
							   HIST_FROM, HIST_TO, HIST_DELETED),
					 record_errrelcol(RelationGetRelid(rel), c)));
	}
	if (strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("the history table's name \"%s\" is too long", name),
				 record_errrel(RelationGetRelid(rel))));

	rights_begin_internal(&save_userid, &save_sec);
	initStringInfo(&sql);
	if (!OidIsValid(hist))
	{
		bool		first = true;

		(void) set_config_option("default_tablespace",
								 OidIsValid(rel->rd_rel->reltablespace) ?
								 get_tablespace_name(rel->rd_rel->reltablespace) : "",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		(void) set_config_option("default_table_access_method", "heap",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		appendStringInfo(&sql, "CREATE TABLE %s (", qname);
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			Oid			typid;

			if (att->attisdropped)
				continue;
			appendStringInfo(&sql, "%s%s %s", first ? "" : ", ", quote_identifier(NameStr(att->attname)),
							 history_column_type(att, &typid));
			if (OidIsValid(att->attcollation) && att->attcollation != get_typcollation(typid))
				appendStringInfo(&sql, " COLLATE %s", generate_collation_name(att->attcollation));
			first = false;
		}
		appendStringInfo(&sql, "%s" HIST_FROM " pg_catalog.int8, " HIST_TO " pg_catalog.int8, "
						 HIST_DELETED " pg_catalog.bool NOT NULL DEFAULT false)", first ? "" : ", ");
		spi_exec(sql.data, SPI_OK_UTILITY);
		hist = get_relname_relid(name, nsp);
		if (!OidIsValid(hist))
			elog(ERROR, "history table %s is missing after CREATE TABLE", qname);
		make_index(rel, qname, nkeys, keyatts, keyindex);
		spi_execf(SPI_OK_UTILITY, "REVOKE ALL ON %s FROM PUBLIC", qname);
		spi_execf(SPI_OK_UTILITY, "COMMENT ON TABLE %s IS %s", qname,
				  quote_literal_cstr(history_mark(RelationGetRelid(rel))));
		no_statistics(rel, qname);
		made = true;
	}
	else
	{
		add_columns(rel, qname, hist);
		CommandCounterIncrement();
		/* a new key (registered again with other key columns): the index follows */
		if (!index_fits(rel, hist, nkeys, keyatts))
		{
			List	   *indexes;
			ListCell   *lc;
			Relation	hrel = relation_open(hist, AccessExclusiveLock);

			indexes = RelationGetIndexList(hrel);
			relation_close(hrel, NoLock);
			foreach(lc, indexes)
				spi_execf(SPI_OK_UTILITY, "DROP INDEX %s",
						  quote_qualified_identifier(get_namespace_name(get_rel_namespace(lfirst_oid(lc))),
													 get_rel_name(lfirst_oid(lc))));
			make_index(rel, qname, nkeys, keyatts, keyindex);
		}
	}
	/* readable by whoever may read the table */
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(RelationGetRelid(rel))};

		if (SPI_execute_with_args("SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c, "
								  "pg_catalog.aclexplode(c.relacl) a WHERE c.oid OPERATOR(pg_catalog.=) $1 "
								  "AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT' "
								  "UNION SELECT relowner FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "failed to read the privileges of table %s", RelationGetRelationName(rel));
		{
			SPITupleTable *tt = SPI_tuptable;
			uint64		n = SPI_processed;

			SPI_tuptable = NULL;
			for (uint64 r = 0; r < n; r++)
			{
				bool		isnull;
				Oid			role = DatumGetObjectId(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));

				spi_execf(SPI_OK_UTILITY, "GRANT SELECT ON %s TO %s", qname,
						  role == InvalidOid ? "PUBLIC" : quote_identifier(GetUserNameFromId(role, false)));
			}
			SPI_freetuptable(tt);
		}
		/* ... and by no one else: what a REVOKE on the table took back, registering again takes back here */
		{
			Oid			rargtypes[2] = {OIDOID, OIDOID};
			Datum		rargs[2] = {ObjectIdGetDatum(hist), ObjectIdGetDatum(RelationGetRelid(rel))};
			SPITupleTable *tt;
			uint64		n;

			if (SPI_execute_with_args("SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c, "
									  "pg_catalog.aclexplode(c.relacl) a WHERE c.oid OPERATOR(pg_catalog.=) $1 "
									  "AND a.grantee OPERATOR(pg_catalog.<>) c.relowner "
									  "AND a.grantee NOT IN (SELECT b.grantee FROM pg_catalog.pg_class t, "
									  "pg_catalog.aclexplode(t.relacl) b WHERE t.oid OPERATOR(pg_catalog.=) $2 "
									  "AND b.privilege_type OPERATOR(pg_catalog.=) 'SELECT' "
									  "UNION SELECT relowner FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) $2)",
									  2, rargtypes, rargs, NULL, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "failed to read the privileges of the history of table %s", RelationGetRelationName(rel));
			tt = SPI_tuptable;
			n = SPI_processed;
			SPI_tuptable = NULL;
			for (uint64 r = 0; r < n; r++)
			{
				bool		isnull;
				Oid			role = DatumGetObjectId(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));

				spi_execf(SPI_OK_UTILITY, "REVOKE ALL ON %s FROM %s", qname,
						  role == InvalidOid ? "PUBLIC" : quote_identifier(GetUserNameFromId(role, false)));
			}
			SPI_freetuptable(tt);
		}
	}
	rights_end_internal(save_userid, save_sec);
	CommandCounterIncrement();
	if (made)
		history_backfill(rel, hist, nkeys, keyatts, seqcol, soft);
	return hist;
}

/*
 * A new history table gets the rows there are, each a version from its
 * sequence (NULL: since before any sequence) until further notice; a
 * soft-deleted row is a delete's version.  Read in C from every leaf's
 * heap as the table's owner (as the key state's backfill: statetable.c),
 * written straight into the history's heap and index.
 */
static void
history_backfill(Relation rel, Oid hist, int nkeys, AttrNumber *keyatts, const char *seqcol, bool soft)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *leaves = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ?
		find_all_inheritors(RelationGetRelid(rel), AccessShareLock, NULL) :
		list_make1_oid(RelationGetRelid(rel));
	Relation	hrel = table_open(hist, RowExclusiveLock);
	TupleDesc	hdesc = RelationGetDescr(hrel);
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *hslot = table_slot_create(hrel, NULL);
	CommandId	cid = GetCurrentCommandId(true);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_sequenced history backfill",
												 ALLOCSET_DEFAULT_SIZES);
	AttrNumber	hfrom = get_attnum(hist, HIST_FROM);
	AttrNumber	hto = get_attnum(hist, HIST_TO);
	AttrNumber	hdel = get_attnum(hist, HIST_DELETED);
	OwnerSwitch sw;
	ListCell   *lc;

	estate->es_output_cid = cid;
	InitResultRelInfo(rri, hrel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	rights_begin_owner(RelationGetRelid(rel), &sw);
	foreach(lc, leaves)
	{
		Relation	leaf = table_open(lfirst_oid(lc), AccessShareLock);
		TupleTableSlot *slot;
		TableScanDesc scan;
		AttrNumber	lseq;
		AttrNumber	ldel;
		AttrNumber *map;
		bool	   *keep;

		if (leaf->rd_rel->relkind != RELKIND_RELATION)
		{
			table_close(leaf, AccessShareLock);
			continue;
		}
		/* history column -> leaf column, by name; and what a delete's version keeps */
		map = palloc0(sizeof(AttrNumber) * hdesc->natts);
		keep = palloc0(sizeof(bool) * hdesc->natts);
		for (int h = 0; h < hdesc->natts; h++)
		{
			Form_pg_attribute ha = TupleDescAttr(hdesc, h);

			if (ha->attisdropped)
				continue;
			map[h] = get_attnum(lfirst_oid(lc), NameStr(ha->attname));
			keep[h] = strcmp(NameStr(ha->attname), seqcol) == 0;
			for (int k = 0; k < nkeys; k++)
				if (strcmp(NameStr(ha->attname), NameStr(TupleDescAttr(desc, keyatts[k] - 1)->attname)) == 0)
					keep[h] = true;
		}
		lseq = get_attnum(lfirst_oid(lc), seqcol);
		ldel = soft ? get_attnum(lfirst_oid(lc), SEQ_DELETED_AT_COLUMN) : InvalidAttrNumber;
		slot = table_slot_create(leaf, NULL);
		scan = table_beginscan(leaf, snap, 0, NULL);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			MemoryContext old = MemoryContextSwitchTo(rowcxt);
			bool		deleted = false;
			bool		isnull;
			Datum		seq;

			CHECK_FOR_INTERRUPTS();
			slot_getallattrs(slot);
			if (ldel != InvalidAttrNumber)
				deleted = !slot->tts_isnull[ldel - 1];
			seq = slot_getattr(slot, lseq, &isnull);
			ExecClearTuple(hslot);
			for (int h = 0; h < hdesc->natts; h++)
			{
				hslot->tts_values[h] = (Datum) 0;
				hslot->tts_isnull[h] = true;
				if (map[h] == InvalidAttrNumber)
					continue;
				/* a delete's version: the key and the sequence only */
				if (deleted && !keep[h])
					continue;
				hslot->tts_values[h] = slot->tts_values[map[h] - 1];
				hslot->tts_isnull[h] = slot->tts_isnull[map[h] - 1];
			}
			hslot->tts_values[hfrom - 1] = seq;
			hslot->tts_isnull[hfrom - 1] = isnull;
			hslot->tts_isnull[hto - 1] = true;
			hslot->tts_values[hdel - 1] = BoolGetDatum(deleted);
			hslot->tts_isnull[hdel - 1] = false;
			ExecStoreVirtualTuple(hslot);
			table_tuple_insert(hrel, hslot, cid, 0, NULL);
			list_free(ExecInsertIndexTuples(rri, hslot, estate, false, false, NULL, NIL));
			ResetPerTupleExprContext(estate);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		table_close(leaf, AccessShareLock);
	}
	rights_end_owner(&sw);
	UnregisterSnapshot(snap);
	ExecDropSingleTupleTableSlot(hslot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(hrel, NoLock);
	MemoryContextDelete(rowcxt);
}

/*
 * The history table as the call sees it (catalog.c, on loading a table
 * registered with history): its columns by the table's, its index.  A
 * column of the table the history lacks, or has with another type, fails
 * every call until registration completes the history (55000).
 */
void
history_load(SeqTable *st, Relation rel)
{
	Relation	hrel;
	TupleDesc	hdesc;
	List	   *indexes;

	if (!st->history)
		return;
	hrel = try_relation_open(st->historyrelid, AccessShareLock);
	if (hrel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the history table of table %s is missing", st->relname),
				 errhint("Register the table again: SELECT sequenced_register('%s', history => true);", st->qualname),
				 record_errrel(st->relid)));
	hdesc = RelationGetDescr(hrel);
	st->histatt = MemoryContextAllocZero(st->mcxt, sizeof(AttrNumber) * st->natts);
	for (int i = 0; i < st->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), i);
		AttrNumber	h;

		if (att->attisdropped)
			continue;
		h = get_attnum(st->historyrelid, NameStr(att->attname));
		if (h == InvalidAttrNumber || TupleDescAttr(hdesc, h - 1)->atttypid != getBaseType(att->atttypid) ||
			h == get_attnum(st->historyrelid, HIST_FROM) || h == get_attnum(st->historyrelid, HIST_TO) ||
			h == get_attnum(st->historyrelid, HIST_DELETED))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of table %s does not match its history table %s",
							NameStr(att->attname), st->relname, RelationGetRelationName(hrel)),
					 errdetail("The history table was made before the column was added or changed."),
					 errhint("Register the table again (SELECT sequenced_register('%s', history => true);): it adds the missing columns to the history.",
							 st->qualname),
					 record_errrelcol(st->relid, NameStr(att->attname))));
		st->histatt[i] = h;
	}
	st->hist_from = get_attnum(st->historyrelid, HIST_FROM);
	st->hist_to = get_attnum(st->historyrelid, HIST_TO);
	st->hist_deleted = get_attnum(st->historyrelid, HIST_DELETED);
	indexes = RelationGetIndexList(hrel);
	st->histindexid = list_length(indexes) == 1 ? linitial_oid(indexes) : InvalidOid;
	list_free(indexes);
	relation_close(hrel, AccessShareLock);
	{
		AttrNumber	keyatts[INDEX_MAX_KEYS];

		for (int k = 0; k < st->nkeys; k++)
			keyatts[k] = st->keys[k].attnum;
		if (OidIsValid(st->histindexid) && !index_fits(rel, st->historyrelid, st->nkeys, keyatts))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the history table of table %s is indexed by another key", st->relname),
					 errhint("Register the table again (SELECT sequenced_register('%s', history => true);).",
							 st->qualname),
					 record_errrel(st->relid)));
	}
	if (st->hist_from == InvalidAttrNumber || st->hist_to == InvalidAttrNumber ||
		st->hist_deleted == InvalidAttrNumber || !OidIsValid(st->histindexid) ||
		get_atttype(st->historyrelid, st->hist_from) != INT8OID ||
		get_atttype(st->historyrelid, st->hist_to) != INT8OID ||
		get_atttype(st->historyrelid, st->hist_deleted) != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the history table of table %s is damaged", st->relname),
				 record_errrel(st->relid)));
}

/* ----------------------------------------------------------------
 * sequenced_purge_history
 * ---------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(sequenced_purge_history);

/*
 * Drop the versions that ended at or before before_seq; returns how many.
 * Needs DELETE on the table; the history table is the extension owner's,
 * so the statement (naming only it, and comparing integers) runs as that
 * owner.
 */
Datum
sequenced_purge_history(PG_FUNCTION_ARGS)
{
	CallSession s;
	int64		before;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	Oid			save_userid;
	int			save_sec;
	int64		n;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target and before_seq must not be null")));
	before = PG_GETARG_INT64(1);
	call_begin(&s, PG_GETARG_OID(0), RowExclusiveLock, RIGHTS_DELETE);
	if (pg_class_aclcheck(s.st->relid, GetUserId(), ACL_DELETE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(s.st->relid)),
					   get_rel_name(s.st->relid));
	if (!s.st->history)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not registered with history", s.st->relname),
				 errhint("Register it with SELECT sequenced_register('%s', history => true);", s.st->qualname),
				 record_errtable(s.st)));
	if (check_enable_rls(s.st->relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot purge the history of table %s under row-level security", s.st->relname),
				 errdetail("The history holds every key's versions, whatever the table's policies would show."),
				 errhint("Purge it as the table's owner, or as a role that bypasses row-level security."),
				 record_errtable(s.st)));
	PreventCommandIfReadOnly("sequenced_purge_history()");
	args[0] = Int64GetDatum(before);
	rights_begin_internal(&save_userid, &save_sec);
	if (SPI_execute_with_args(psprintf("DELETE FROM %s WHERE " HIST_TO " OPERATOR(pg_catalog.<=) $1",
									   quote_qualified_identifier(get_namespace_name(get_rel_namespace(s.st->historyrelid)),
																  get_rel_name(s.st->historyrelid))),
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "failed to purge the history of table %s", s.st->relname);
	rights_end_internal(save_userid, save_sec);
	n = (int64) SPI_processed;
	call_end(&s);
	PG_RETURN_INT64(n);
}


/* ----------------------------------------------------------------
 * sequenced_history
 * ---------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(sequenced_history);

/*
 * One key's versions, in order: (valid_from, valid_to, record), record the
 * version as the table's row in jsonb (NULL for a delete).  Read in C
 * through the history's index -- the key converted as a record's key is,
 * compared with the key index's own operators -- by a caller who may read
 * the history table; the jsonb is made as the caller.  (No statement: one
 * would resolve the key type's "=" by name.)
 */
Datum
sequenced_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CallSession s;
	SeqTable   *st;
	Batch	   *b;
	Message    *km;
	Relation	hrel;
	Relation	irel;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData skeys[INDEX_MAX_KEYS];
	TupleDesc	tdesc;
	FmgrInfo	tojsonb;
	Datum	   *tv;
	bool	   *tn;

	call_init_srf(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	call_begin(&s, PG_GETARG_OID(0), AccessShareLock, RIGHTS_READ);
	st = s.st;
	rights_check_read(st);
	if (!st->history)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not registered with history", st->relname),
				 errhint("Register it with SELECT sequenced_register('%s', history => true);", st->qualname),
				 record_errtable(st)));
	if (pg_class_aclcheck(st->historyrelid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(st->historyrelid));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key must be a JSON object of the key columns and their values")));

	/* the key, converted as a record's is */
	b = call_new_batch(&s, 1);
	km = input_add_message(b);
	{
		int			level = call_caller_path_begin(b);

		input_parse_object(b, km, PG_GETARG_JSONB_P(1), "key");
		call_caller_path_end(level);
	}
	for (int k = 0; k < st->nkeys; k++)
		if (!MSG_PRESENT(km, st->natts)[st->keys[k].attnum - 1] ||
			MSG_ISNULL(km, st->natts)[st->keys[k].attnum - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key has no value for key column \"%s\"", st->key_names[k]),
					 record_errcolumn(st, st->key_names[k])));

	tdesc = lookup_rowtype_tupdesc_copy(st->reltype, -1);
	catalog_setup_tojsonb(&tojsonb, st->reltype, CurrentMemoryContext);
	tv = palloc(sizeof(Datum) * st->natts);
	tn = palloc(sizeof(bool) * st->natts);
	hrel = table_open(st->historyrelid, AccessShareLock);
	irel = index_open(st->histindexid, AccessShareLock);
	slot = table_slot_create(hrel, NULL);
	for (int k = 0; k < st->nkeys; k++)
		ScanKeyEntryInitializeWithInfo(&skeys[k], 0, k + 1, BTEqualStrategyNumber,
									   InvalidOid, st->keys[k].ssup.ssup_collation,
									   &st->keys[k].eqproc, km->values[st->keys[k].attnum - 1]);
	scan = index_beginscan(hrel, irel, GetActiveSnapshot(), st->nkeys, 0);
	index_rescan(scan, skeys, st->nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum		values[3];
		bool		nulls[3];
		bool		deleted;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		values[0] = slot->tts_values[st->hist_from - 1];
		nulls[0] = slot->tts_isnull[st->hist_from - 1];
		values[1] = slot->tts_values[st->hist_to - 1];
		nulls[1] = slot->tts_isnull[st->hist_to - 1];
		deleted = DatumGetBool(slot->tts_values[st->hist_deleted - 1]);
		nulls[2] = deleted;
		if (!deleted)
		{
			/* the version as the table's row, as jsonb (as the caller) */
			for (int i = 0; i < st->natts; i++)
			{
				AttrNumber	h = st->histatt[i];

				tv[i] = h ? slot->tts_values[h - 1] : (Datum) 0;
				tn[i] = h ? slot->tts_isnull[h - 1] : true;
			}
			values[2] = FunctionCall1(&tojsonb, HeapTupleGetDatum(heap_form_tuple(tdesc, tv, tn)));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, NoLock);
	table_close(hrel, NoLock);
	call_end(&s);
	return (Datum) 0;
}
