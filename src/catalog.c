/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		The catalog (_sequenced.config) and the per-backend description of
 *		a registered table (SeqTable) built from it.
 *
 * What it owns:
 *	- reading _sequenced.config, one row per registered table (its options
 *	  and the oid of its key state table; registry.c writes it);
 *	- the extension's owner and schema, found again when the extension is
 *	  made anew in a session;
 *	- the SeqTable cache: built on first use in a backend, in a memory
 *	  context of its own together with its saved plans, and dropped on a
 *	  relcache invalidation of the table or of its key state (registration
 *	  sends one, so option changes reach every backend at their next call,
 *	  as do ALTER TABLE and DROP); an entry in use is freed by its last
 *	  user, or at the end of the transaction an error aborted.
 *
 * Building a description checks that the key state still matches the
 * table: the key and sequence columns' types, the key index's operator
 * classes and collations, the owner.  A table that changed is refused with
 * a hint to register it again, never used with Datums of another type.
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
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "storage/bufmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

PG_MODULE_MAGIC;

/* cache */
static HTAB *seq_tables = NULL;
static MemoryContext seq_cache_cxt = NULL;
static Oid	cached_config_relid = InvalidOid;
static Oid	cached_owner = InvalidOid;
static Oid	cached_extnsp = InvalidOid;
static uint64 generation = 0;	/* counts the extensions seen in this backend */

typedef struct SeqTableEntry
{
	Oid			relid;
	SeqTable   *st;
} SeqTableEntry;

static void free_seq_table(SeqTable *st);

/*
 * Open a table the caller named by regclass.  A regclass can hold any oid
 * (e.g. 12345::regclass): that is the caller's mistake, 42P01, not an
 * internal error.  need: the rights the caller must have, checked before the
 * lock is taken.  A table that Citus manages is refused (0A000).
 */
Relation
catalog_open_target(Oid relid, LOCKMODE lockmode, RightsNeed need)
{
	Relation	rel = catalog_open_table(relid, lockmode, need);

	citus_refuse(relid, "table");
	return rel;
}

/* catalog_open_target, without the Citus check (to unregister) */
Relation
catalog_open_table(Oid relid, LOCKMODE lockmode, RightsNeed need)
{
	Relation	rel;

	rights_precheck(relid, need);	/* before the lock (rights.c) */
	rel = try_relation_open(relid, lockmode);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Only ordinary and partitioned tables can be registered."),
				 record_errrel(RelationGetRelid(rel))));
	return rel;
}

/* "schema"."table", quoted as needed */
char *
catalog_qualified_name(Oid relid)
{
	char	   *rel = get_rel_name(relid);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
}

/* ----------------------------------------------------------------
 * the extension's owner, and running statements as that owner
 * ---------------------------------------------------------------- */

static void
flush_all_tables(void)
{
	HASH_SEQ_STATUS status;
	SeqTableEntry *e;

	if (seq_tables == NULL)
		return;
	hash_seq_init(&status, seq_tables);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->st)
		{
			e->st->valid = false;
			if (e->st->refcount == 0)
			{
				free_seq_table(e->st);
				e->st = NULL;
			}
		}
	}
}

/*
 * The role that owns pg_sequenced (and its internal tables).  Looked up
 * again whenever the extension's config table is not the one seen last, so
 * that DROP/CREATE EXTENSION within one session is noticed.
 */
Oid
catalog_owner(void)
{
	Oid			nsp = get_namespace_oid("_sequenced", true);
	Oid			cfg = OidIsValid(nsp) ? get_relname_relid("config", nsp) : InvalidOid;

	if (!OidIsValid(cfg))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_sequenced\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION pg_sequenced.")));

	if (cfg != cached_config_relid)
	{
		Oid			extoid = get_extension_oid("pg_sequenced", false);
		Relation	rel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;
		Oid			owner = InvalidOid;
		Oid			extnsp = InvalidOid;

		rel = table_open(ExtensionRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(extoid));
		scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
			extnsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);

		if (!OidIsValid(owner))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"pg_sequenced\" is not installed in this database"),
					 errhint("Run CREATE EXTENSION pg_sequenced.")));

		/* the internal schema must be the extension's own */
		{
			HeapTuple	ntup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
			Oid			nspowner;

			if (!HeapTupleIsValid(ntup))
				elog(ERROR, "cache lookup failed for namespace %u", nsp);
			nspowner = ((Form_pg_namespace) GETSTRUCT(ntup))->nspowner;
			ReleaseSysCache(ntup);
			if (nspowner != owner)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("schema \"_sequenced\" is not owned by the owner of extension \"pg_sequenced\"")));
		}

		flush_all_tables();
		positions_reset_offset();
		generation++;
		cached_owner = owner;
		cached_extnsp = extnsp;
		cached_config_relid = cfg;
	}
	return cached_owner;
}

/*
 * Which extension this backend uses: a number that changes when the
 * extension was made anew (caches of its objects' oids compare it).
 */
uint64
catalog_generation(void)
{
	(void) catalog_owner();
	return generation;
}

/* Is the table registered?  (SPI connected or not: a catalog scan) */
bool
catalog_is_registered(Oid relid)
{
	Oid			nsp = get_namespace_oid("_sequenced", false);
	Oid			cfg = get_relname_relid("config", nsp);
	Oid			idx = get_relname_relid("config_pkey", nsp);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	(void) catalog_owner();
	rel = table_open(cfg, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, idx, OidIsValid(idx), NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* ----------------------------------------------------------------
 * the table cache
 * ---------------------------------------------------------------- */

static void
seq_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	SeqTableEntry *e;

	if (seq_tables == NULL)
		return;
	hash_seq_init(&status, seq_tables);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->st && (relid == InvalidOid || e->st->relid == relid ||
					  e->st->staterelid == relid))
			e->st->valid = false;	/* freed at the next lookup, not here */
	}
}

/*
 * At the end of a top-level transaction no call is running any more: an
 * entry whose user was aborted by an error is released here.
 */
static void
seq_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	SeqTableEntry *e;

	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT && event != XACT_EVENT_PARALLEL_COMMIT)
		return;
	if (seq_tables == NULL)
		return;
	hash_seq_init(&status, seq_tables);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->st)
			e->st->refcount = 0;	/* invalid ones are freed at the next lookup */
	}
}

static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (seq_tables)
		return;
	seq_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
										  "pg_sequenced cache",
										  ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SeqTableEntry);
	ctl.hcxt = seq_cache_cxt;
	seq_tables = hash_create("pg_sequenced tables", 32, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(seq_relcache_callback, (Datum) 0);
	RegisterXactCallback(seq_xact_callback, NULL);
}

static void
free_plan(SPIPlanPtr *p)
{
	if (*p)
		SPI_freeplan(*p);
	*p = NULL;
}

static void
free_plans(SeqTable *st)
{
	free_plan(&st->plan_update);
	free_plan(&st->plan_insert);
	free_plan(&st->plan_delete);
	free_plan(&st->plan_softdelete);
	free_plan(&st->plan_fixup_read);
	free_plan(&st->plan_fixup_state);
	free_plan(&st->plan_unchanged_rows);
	free_plan(&st->plan_unchanged_state);
	free_plan(&st->plan_append);
	free_plan(&st->plan_append_state);
}

/*
 * Drop the saved plans when the state table has grown well past its size
 * when they were made.  Plans are generic and the planner sizes a table by
 * its current block count: a plan made while the table was nearly empty
 * (say, scan the whole index once and filter) turns quadratic as it fills.
 * Replanning at each doubling costs a handful of plannings over a table's
 * life.
 */
void
catalog_check_plans(SeqTable *st)
{
	Relation	srel = relation_open(st->staterelid, AccessShareLock);
	BlockNumber nblocks = RelationGetNumberOfBlocks(srel);

	relation_close(srel, NoLock);
	if (nblocks <= st->planned_blocks * 2 + 8)
		return;
	free_plans(st);
	st->planned_blocks = nblocks;
}

static void
free_seq_table(SeqTable *st)
{
	free_plans(st);
	MemoryContextDelete(st->mcxt);
}

List *
catalog_text_array_to_list(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key_columns must not contain nulls")));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

/* Read a table's config row (SPI must be connected). */
ConfigRow
catalog_read_config(Oid relid)
{
	ConfigRow	row = {0};
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	int			rc;

	rights_begin_internal(&save_userid, &save_sec);
	rc = SPI_execute_with_args("SELECT key_columns, sequence_column, on_equal, deletes, ordering, state_rel::pg_catalog.oid, "
							   "log_rel::pg_catalog.oid, unchanged, history, history_rel::pg_catalog.oid, unknown_properties, omitted "
							   "FROM _sequenced.config WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
							   1, argtypes, args, NULL, false, 1);
	rights_end_internal(save_userid, save_sec);
	if (rc != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("failed to read _sequenced.config: %s", SPI_result_code_string(rc))));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		row.found = true;
		row.key_columns = catalog_text_array_to_list(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 1, &isnull)));
		row.sequence_column = SPI_getvalue(tup, desc, 2);
		row.on_equal = SPI_getvalue(tup, desc, 3);
		row.deletes = SPI_getvalue(tup, desc, 4);
		row.ordering = SPI_getvalue(tup, desc, 5);
		row.state_rel = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
		row.log_rel = DatumGetObjectId(SPI_getbinval(tup, desc, 7, &isnull));
		if (isnull)
			row.log_rel = InvalidOid;
		row.unchanged = SPI_getvalue(tup, desc, 8);
		row.history = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
		row.history_rel = DatumGetObjectId(SPI_getbinval(tup, desc, 10, &isnull));
		if (isnull)
			row.history_rel = InvalidOid;
		row.unknown_properties = SPI_getvalue(tup, desc, 11);
		row.omitted = SPI_getvalue(tup, desc, 12);
	}
	return row;
}

void
catalog_not_registered(Oid relid)
{
	char	   *name = catalog_qualified_name(relid);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table \"%s\" is not registered with pg_sequenced", get_rel_name(relid)),
			 errhint("Register it first: SELECT sequenced_register('%s');", name),
			 record_errrel(relid)));
}

/* The opclass and collation the key index uses for the given attribute. */
void
catalog_key_index_column(Oid indexoid, AttrNumber attnum, Oid *opclass, Oid *collation)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	Form_pg_index idx;
	bool		isnull;
	Datum		d;
	oidvector  *classes;
	oidvector  *colls;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	idx = (Form_pg_index) GETSTRUCT(tup);
	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull);
	classes = (oidvector *) DatumGetPointer(d);
	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indcollation, &isnull);
	colls = (oidvector *) DatumGetPointer(d);
	for (int i = 0; i < idx->indnkeyatts; i++)
	{
		if (idx->indkey.values[i] == attnum)
		{
			*opclass = classes->values[i];
			*collation = colls->values[i];
		}
	}
	ReleaseSysCache(tup);
}

char *
catalog_qualified_operator(Oid opno)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator op;
	char	   *result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	op = (Form_pg_operator) GETSTRUCT(tup);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(op->oprnamespace)),
					  NameStr(op->oprname));
	ReleaseSysCache(tup);
	return result;
}

/*
 * Find the unique, non-partial, plain-column index over exactly the given
 * attributes.  Returns its oid, or InvalidOid.  A deferrable one does not
 * count; *deferrable (if given) says whether one matched: conflicts are
 * decided as INSERT ... ON CONFLICT decides them, which refuses to infer its
 * arbiter where a deferrable unique index covers the conflict columns.
 */
Oid
catalog_find_key_index(Relation rel, int nkeys, const AttrNumber *attnums, bool *deferrable)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	if (deferrable)
		*deferrable = false;
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index idx;
		bool		match;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		/* (an invalid index, say a partitioned table's ONLY one, enforces nothing) */
		match = idx->indisunique && idx->indisvalid && idx->indnkeyatts == nkeys &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			!idx->indisexclusion;
		for (int i = 0; match && i < nkeys; i++)
		{
			bool		found = false;

			for (int j = 0; j < nkeys; j++)
				if (idx->indkey.values[i] == attnums[j])
					found = true;
			if (!found)
				match = false;
		}
		if (match && !idx->indimmediate)
		{
			if (deferrable)
				*deferrable = true;
			match = false;
		}
		/* prefer the primary key when several match */
		if (match && (!OidIsValid(result) || idx->indisprimary))
			result = indexoid;
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return result;
}

static SeqColumn *byname_cmp_cols;

static int
byname_cmp(const void *a, const void *b)
{
	const SeqColumn *ca = &byname_cmp_cols[*(const int *) a];
	const SeqColumn *cb = &byname_cmp_cols[*(const int *) b];

	if (ca->namelen != cb->namelen)
		return ca->namelen < cb->namelen ? -1 : 1;
	return memcmp(ca->name, cb->name, ca->namelen);
}

/*
 * to_jsonb() set up for one type, so the keys we report are encoded exactly
 * as to_jsonb/jsonb_build_object would encode them.
 */
void
catalog_setup_tojsonb(FmgrInfo *finfo, Oid typid, MemoryContext mcxt)
{
	FuncExpr   *expr;

	fmgr_info_cxt(F_TO_JSONB, finfo, mcxt);
	{
		MemoryContext old = MemoryContextSwitchTo(mcxt);

		expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
							list_make1(makeNullConst(typid, -1, InvalidOid)),
							InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		MemoryContextSwitchTo(old);
	}
	finfo->fn_expr = (Node *) expr;
}

static SeqTable *
build_seq_table(Relation rel, ConfigRow *cfg)
{
	MemoryContext mcxt;
	MemoryContext old;
	SeqTable   *st;
	TupleDesc	desc = RelationGetDescr(rel);
	int			nkeys = list_length(cfg->key_columns);
	AttrNumber *keyatts;
	Oid			keyindex = InvalidOid;
	ListCell   *lc;
	int			k;

	mcxt = AllocSetContextCreate(seq_cache_cxt, "pg_sequenced table",
								 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(mcxt);

	st = palloc0(sizeof(SeqTable));
	st->mcxt = mcxt;
	st->relid = RelationGetRelid(rel);
	st->staterelid = cfg->state_rel;
	st->logrelid = cfg->log_rel;
	st->skip_unchanged = strcmp(cfg->unchanged, "skip") == 0;
	st->unknown = strcmp(cfg->unknown_properties, "ignore") == 0 ? UNKNOWN_IGNORE :
		strcmp(cfg->unknown_properties, "column") == 0 ? UNKNOWN_COLUMN : UNKNOWN_ERROR;
	st->omitted_keep = strcmp(cfg->omitted, "keep") == 0;
	st->history = cfg->history;
	st->historyrelid = cfg->history_rel;
	st->reltype = rel->rd_rel->reltype;
	st->relarraytype = get_array_type(st->reltype);
	st->statetype = get_rel_type_id(cfg->state_rel);
	st->statearraytype = get_array_type(st->statetype);
	if (!OidIsValid(st->relarraytype) || !OidIsValid(st->statearraytype))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the row type of table %s or of its key state has no array type",
						RelationGetRelationName(rel))));
	/* for messages, in the PostgreSQL style: table "name" */
	st->relname = psprintf("\"%s\"", RelationGetRelationName(rel));
	st->nspname = get_namespace_name(RelationGetNamespace(rel));
	st->tablename = pstrdup(RelationGetRelationName(rel));
	st->qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  RelationGetRelationName(rel));
	st->state_qualname = quote_qualified_identifier("_sequenced", get_rel_name(cfg->state_rel));
	st->valid = true;
	st->natts = desc->natts;
	st->cols = palloc0(sizeof(SeqColumn) * desc->natts);
	st->byname = palloc(sizeof(int) * desc->natts);
	st->on_equal = strcmp(cfg->on_equal, "replace") == 0 ? ON_EQUAL_REPLACE :
		strcmp(cfg->on_equal, "error") == 0 ? ON_EQUAL_ERROR : ON_EQUAL_KEEP;
	st->soft_deletes = strcmp(cfg->deletes, "soft") == 0;
	st->per_table = strcmp(cfg->ordering, "per_table") == 0;

	st->seqatt = get_attnum(st->relid, cfg->sequence_column);
	if (st->seqatt == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("sequence column \"%s\" of table %s is missing",
						cfg->sequence_column, st->relname),
				 errhint("Register the table again."),
				 record_errrel(st->relid)));
	st->delatt = st->soft_deletes ? get_attnum(st->relid, SEQ_DELETED_AT_COLUMN) : InvalidAttrNumber;
	if (st->soft_deletes && st->delatt == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table %s is missing", SEQ_DELETED_AT_COLUMN, st->relname),
				 errhint("Register the table again."),
				 record_errrel(st->relid)));
	/* the columns pg_sequenced fills itself must still be of its types */
	if (st->delatt != InvalidAttrNumber && get_atttype(st->relid, st->delatt) != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column \"%s\" of table %s is no longer of type timestamp with time zone",
						SEQ_DELETED_AT_COLUMN, st->relname),
				 errhint("Give it its type back, or register the table with deletes => 'hard'."),
				 record_errrelcol(st->relid, SEQ_DELETED_AT_COLUMN)));
	if (strcmp(cfg->unknown_properties, "column") == 0)
	{
		AttrNumber	extra = get_attnum(st->relid, SEQ_EXTRA_COLUMN);

		if (extra == InvalidAttrNumber || get_atttype(st->relid, extra) != JSONBOID)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of table %s is missing or no longer of type jsonb",
							SEQ_EXTRA_COLUMN, st->relname),
					 errhint("Register the table again."),
					 record_errrelcol(st->relid, SEQ_EXTRA_COLUMN)));
	}

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		SeqColumn  *col = &st->cols[i];
		Oid			infunc;
		Oid			basetypid;
		int32		basetypmod = att->atttypmod;

		col->attnum = att->attnum;
		col->keyno = -1;
		col->dropped = att->attisdropped;
		if (col->dropped)
			continue;
		col->name = pstrdup(NameStr(att->attname));
		col->namelen = strlen(col->name);
		col->typid = att->atttypid;
		col->typmod = att->atttypmod;
		col->collation = att->attcollation;
		col->typlen = att->attlen;
		col->typbyval = att->attbyval;
		col->notnull = att->attnotnull;
		col->identity = att->attidentity != '\0';
		col->generated = att->attgenerated != '\0';
		col->has_default = att->atthasdef || col->identity;
		basetypid = getBaseTypeAndTypmod(att->atttypid, &basetypmod);
		col->basetypid = basetypid;
		getTypeInputInfo(att->atttypid, &infunc, &col->ioparam);
		fmgr_info_cxt(infunc, &col->inproc, mcxt);
		if (basetypid == JSONBOID)
			col->kind = COLKIND_JSONB;
		else if (basetypid == JSONOID)
			col->kind = COLKIND_JSON;
		else if (OidIsValid(get_element_type(basetypid)) && type_is_array(basetypid))
		{
			Oid			elinfunc;

			col->kind = COLKIND_ARRAY;
			col->elemtype = get_element_type(basetypid);
			get_typlenbyvalalign(col->elemtype, &col->elemlen, &col->elembyval, &col->elemalign);
			col->elemjson = (getBaseType(col->elemtype) == JSONOID ||
							 getBaseType(col->elemtype) == JSONBOID);
			getTypeInputInfo(col->elemtype, &elinfunc, &col->elemioparam);
			fmgr_info_cxt(elinfunc, &col->eleminproc, mcxt);
		}
		else
			col->kind = COLKIND_PLAIN;

		if (att->attnum == st->seqatt)
			col->guard = COLGUARD_SEQUENCE;
		else if (strcmp(col->name, SEQ_DELETED_AT_COLUMN) == 0)
			col->guard = COLGUARD_DELETED_AT;
		else if (col->generated)
			col->guard = COLGUARD_GENERATED;
		else if (col->identity)
			col->guard = COLGUARD_IDENTITY;	/* cleared below for key columns */
		else if (st->unknown == UNKNOWN_COLUMN && strcmp(col->name, SEQ_EXTRA_COLUMN) == 0)
		{
			col->guard = COLGUARD_EXTRA;
			st->extraatt = att->attnum;
		}
		st->byname[st->nbyname++] = i;
	}

	/* keys */
	st->nkeys = nkeys;
	st->keys = palloc0(sizeof(SeqKey) * Max(nkeys, 1));
	st->key_names = palloc0(sizeof(char *) * Max(nkeys, 1));
	keyatts = palloc(sizeof(AttrNumber) * Max(nkeys, 1));
	k = 0;
	foreach(lc, cfg->key_columns)
	{
		char	   *name = lfirst(lc);
		AttrNumber	attnum = get_attnum(st->relid, name);

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" of table %s is missing", name, st->relname),
					 errhint("Register the table again."),
					 record_errrel(st->relid)));
		keyatts[k] = attnum;
		st->key_names[k] = pstrdup(name);
		st->keys[k].attnum = attnum;
		st->cols[attnum - 1].keyno = k;
		if (st->cols[attnum - 1].guard == COLGUARD_IDENTITY)
			st->cols[attnum - 1].guard = COLGUARD_NONE;
		k++;
	}
	if (nkeys > 0)
	{
		keyindex = catalog_find_key_index(rel, nkeys, keyatts, NULL);
		if (!OidIsValid(keyindex))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("table %s has no unique index over its key columns", st->relname),
					 errhint("Create the unique index again, or register the table with other key_columns."),
					 record_errrel(st->relid)));
		st->keyindexid = keyindex;
		for (k = 0; k < nkeys; k++)
		{
			SeqKey	   *key = &st->keys[k];
			Oid			opclass = InvalidOid;
			Oid			collation = InvalidOid;
			Oid			opfamily;
			Oid			ltopr;

			catalog_key_index_column(keyindex, key->attnum, &opclass, &collation);
			opfamily = get_opclass_family(opclass);
			key->cmptype = get_opclass_input_type(opclass);
			key->eqopr = get_opfamily_member(opfamily, key->cmptype, key->cmptype,
											 BTEqualStrategyNumber);
			ltopr = get_opfamily_member(opfamily, key->cmptype, key->cmptype,
										BTLessStrategyNumber);
			if (!OidIsValid(key->eqopr) || !OidIsValid(ltopr))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_FUNCTION),
						 errmsg("key column \"%s\" of table %s has no btree equality and ordering operators in its key index's operator class",
								st->key_names[k], st->relname),
						 record_errcolumn(st, st->key_names[k])));
			key->eqopr_sql = catalog_qualified_operator(key->eqopr);
			fmgr_info_cxt(get_opcode(key->eqopr), &key->eqproc, mcxt);
			key->opfamily = opfamily;
			key->ssup.ssup_cxt = mcxt;
			key->ssup.ssup_collation = collation;
			key->ssup.ssup_nulls_first = false;
			PrepareSortSupportFromOrderingOp(ltopr, &key->ssup);
			catalog_setup_tojsonb(&key->tojsonb, st->cols[key->attnum - 1].typid, mcxt);
		}
	}

	/*
	 * The target's key index, column by column in its own order (the probe
	 * of rows walks it), and whether the key state holds only what the rows
	 * cannot say (keystate.c): not for a partitioned table (its rows are
	 * written by statements and its keys probed in the key state only), nor
	 * under unchanged => 'skip' (every writer of a key takes its key state
	 * row first, so that an unchanged message needs no lock on the row).
	 */
	if (nkeys > 0)
	{
		Relation	irel = index_open(st->keyindexid, AccessShareLock);

		st->ikeys = palloc0(sizeof(SeqKey) * nkeys);
		for (int c = 0; c < nkeys; c++)
		{
			AttrNumber	att = irel->rd_index->indkey.values[c];

			for (k = 0; k < nkeys; k++)
				if (st->keys[k].attnum == att)
					break;
			if (k == nkeys)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the key index of table %s does not cover its key", st->relname),
						 errhint("Register the table again: sequenced_register finds the index over its key."),
						 record_errtable(st)));
			st->ikeyof[c] = k;
			st->ikeys[c] = st->keys[k];
		}
		index_close(irel, AccessShareLock);
		st->sparse = catalog_sparse(rel->rd_rel->relkind, st->skip_unchanged, st->history);
	}

	/*
	 * The state table copies the key columns' types at registration; a key
	 * or sequence column whose type changed since would hand it Datums of
	 * another type.
	 */
	{
		Relation	srel = relation_open(st->staterelid, AccessShareLock);
		TupleDesc	sdesc = RelationGetDescr(srel);
		Form_pg_attribute seqatt = TupleDescAttr(desc, st->seqatt - 1);
		bool		ok = seqatt->atttypid == INT8OID || seqatt->atttypid == TIMESTAMPTZOID;

		st->seq_ts = seqatt->atttypid == TIMESTAMPTZOID;

		for (k = 0; ok && k < nkeys; k++)
		{
			Form_pg_attribute ta = TupleDescAttr(desc, st->keys[k].attnum - 1);
			Form_pg_attribute sa = TupleDescAttr(sdesc, k);

			if (sdesc->natts <= k || ta->atttypid != sa->atttypid || ta->atttypmod != sa->atttypmod)
				ok = false;
		}
		if (nkeys > 0)
		{
			List	   *indexes = RelationGetIndexList(srel);
			ListCell   *lc;

			/*
			 * The state table's unique index must order and compare keys as
			 * the target's key index does now (the probe and the sort use
			 * the latter's operators): not so if that index was made again
			 * with another operator class or collation.
			 */
			foreach(lc, indexes)
			{
				Relation	irel = index_open(lfirst_oid(lc), AccessShareLock);

				if (irel->rd_index->indisunique)
				{
					st->stateindexid = RelationGetRelid(irel);
					for (k = 0; ok && k < nkeys; k++)
						if (irel->rd_opfamily[k] != st->keys[k].opfamily ||
							irel->rd_indcollation[k] != st->keys[k].ssup.ssup_collation)
							ok = false;
				}
				index_close(irel, AccessShareLock);
			}
			list_free(indexes);
			if (!OidIsValid(st->stateindexid))
				ok = false;
		}
		/* the key state: k1..kn, sequence, position, deleted */
		if (nkeys > 0 &&
			(sdesc->natts != nkeys + 3 ||
			 TupleDescAttr(sdesc, nkeys)->atttypid != INT8OID ||
			 TupleDescAttr(sdesc, nkeys + 1)->atttypid != INT8OID ||
			 TupleDescAttr(sdesc, nkeys + 2)->atttypid != BOOLOID))
			ok = false;
		/* the log: first, last, positions, seqs, then an array per key column */
		if (nkeys > 0)
		{
			Relation	lrel = OidIsValid(st->logrelid) ? try_relation_open(st->logrelid, AccessShareLock) : NULL;

			if (lrel == NULL)
				ok = false;
			else
			{
				TupleDesc	ldesc = RelationGetDescr(lrel);
				List	   *lindexes = RelationGetIndexList(lrel);

				if (ldesc->natts != 4 + nkeys ||
					TupleDescAttr(ldesc, 0)->atttypid != INT8OID ||
					TupleDescAttr(ldesc, 1)->atttypid != INT8OID ||
					TupleDescAttr(ldesc, 2)->atttypid != INT8ARRAYOID ||
					TupleDescAttr(ldesc, 3)->atttypid != INT8ARRAYOID ||
					list_length(lindexes) != 1 || lrel->rd_rel->relowner != rel->rd_rel->relowner)
					ok = false;
				for (k = 0; ok && k < nkeys; k++)
					if (TupleDescAttr(ldesc, 4 + k)->atttypid !=
						get_array_type(TupleDescAttr(desc, st->keys[k].attnum - 1)->atttypid))
						ok = false;
				if (ok)
					st->logindexid = linitial_oid(lindexes);
				list_free(lindexes);
				relation_close(lrel, AccessShareLock);
			}
		}
		/* (code of the key's types runs as the state table's owner: see create_state_table) */
		if (srel->rd_rel->relowner != rel->rd_rel->relowner)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key state of table %s belongs to another role than the table", st->relname),
					 errhint("Register it again: SELECT sequenced_register('%s');", st->qualname),
					 record_errrel(st->relid)));
		relation_close(srel, AccessShareLock);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key or sequence columns of table %s changed type, operator class or collation since it was registered",
							st->relname),
					 errhint("Register it again: sequenced_unregister() then sequenced_register() (tombstones are lost)."),
					 record_errrel(st->relid)));
	}

	byname_cmp_cols = st->cols;
	qsort(st->byname, st->nbyname, sizeof(int), byname_cmp);
	if (st->history)
		history_load(st, rel);

	MemoryContextSwitchTo(old);
	return st;
}

/*
 * The cached description of a registered table; raises 55000 when it is not
 * registered.  The caller holds a lock on the relation and has SPI
 * connected; pair with catalog_close.
 */
SeqTable *
catalog_open(Oid relid)
{
	SeqTableEntry *e;
	bool		found;
	Relation	rel;
	ConfigRow	cfg;

	(void) catalog_owner();
	ensure_cache();
	e = hash_search(seq_tables, &relid, HASH_ENTER, &found);
	if (!found)
		e->st = NULL;
	if (e->st && e->st->valid)
	{
		e->st->refcount++;
		return e->st;
	}
	if (e->st && e->st->refcount == 0)
		free_seq_table(e->st);
	e->st = NULL;				/* an entry still in use is freed by its last user */

	cfg = catalog_read_config(relid);
	if (!cfg.found)
		catalog_not_registered(relid);

	rel = relation_open(relid, NoLock);
	PG_TRY();
	{
		SeqTable   *st = build_seq_table(rel, &cfg);

		/* the hash entry may have moved: look it up again */
		e = hash_search(seq_tables, &relid, HASH_ENTER, &found);
		e->st = st;
	}
	PG_FINALLY();
	{
		relation_close(rel, NoLock);
	}
	PG_END_TRY();
	e->st->refcount = 1;
	return e->st;
}

void
catalog_close(SeqTable *st)
{
	st->refcount--;
	if (st->refcount == 0 && !st->valid)
	{
		SeqTableEntry *e = hash_search(seq_tables, &st->relid, HASH_FIND, NULL);

		if (e && e->st == st)
			e->st = NULL;
		free_seq_table(st);
	}
}
