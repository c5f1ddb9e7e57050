/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		Registration, the per-backend table cache, change positions, and
 *		the internal tables of pg_sequenced.
 *
 * What it owns:
 *	- _sequenced.config: one row per registered table (its options and the
 *	  oid of its state table);
 *	- _sequenced.max_log: the insert-only log behind max_sequence;
 *	- _sequenced.state_<n>: one per registered table, one row per key that
 *	  was ever applied (or was in the table at registration): its stored
 *	  sequence, whether it is a tombstone, and its change position.  For an
 *	  append-only table, one row per inserted row.
 *
 * Rights.  Which code runs with which rights, and why no code a role can
 * attach to its own table or types (a cast to json, a range type's
 * subtype_diff, a domain's CHECK, a DEFAULT, an implicit cast) ever runs
 * with more rights than that table's owner has:
 *	- The SQL-callable functions run as the caller: they read and write the
 *	  caller's tables with the caller's rights (checked up front: 42501), and
 *	  row-level security applies.  Keys and records become JSON here, as the
 *	  caller, as a SELECT of to_jsonb(t.*) would.
 *	- The catalog (config, max_log, settings) belongs to the extension's
 *	  owner; no other role has any right on it.  Statements on it run as the
 *	  extension's owner (catalog_begin_internal) and touch no value of a
 *	  user's type: oids, names, options, sequences, positions.
 *	- Each table's key state (_sequenced.state_<n>) belongs to the table's
 *	  owner, and follows it (registration, and the event trigger on ALTER
 *	  TABLE): VACUUM, ANALYZE, CLUSTER and index builds run as a table's
 *	  owner, under SECURITY_RESTRICTED_OPERATION, so the code of the key's
 *	  types they call is the owner's own.  No role has USAGE on _sequenced,
 *	  so not even the owner can name its state table: it is written only
 *	  through these functions.
 *	- Work that must bypass the caller's rights and runs the code of the
 *	  table's types runs as the table's owner, under
 *	  SECURITY_RESTRICTED_OPERATION (catalog_begin_owner): the index
 *	  comparisons and to_jsonb() of registration's backfill.
 *	- Statements that must bypass the caller's rights (row-level security)
 *	  and run as the extension's owner only fetch column values and compare
 *	  values of one and the same type with the equality of their btree
 *	  operator class (the key state's types are checked against the table's
 *	  before every use), and operator classes are made by superusers only:
 *	  the key-change check, purge, the hidden-row check of deletes and the
 *	  feed's read of positions.  A key type that changed is never compared
 *	  (an implicit cast would be its owner's code): every deleted key then
 *	  counts as a tombstone.
 * search_path is pinned to pg_catalog, pg_temp for every statement the
 * functions run, and all generated SQL is fully qualified.
 *
 * Locking: registration takes ShareRowExclusiveLock on the target (no writes
 * while the state table is backfilled); ALTER TABLE upgrades it when a column
 * must be added.  Calls that apply records hold RowExclusiveLock.
 *
 * Cache: SeqTable entries are built on first use in a backend and dropped on
 * a relcache invalidation of the target or of its state table.
 * Registration sends such an invalidation, so option changes reach every
 * backend at their next call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_inherits.h"
#include "access/tupconvert.h"
#include "access/tableam.h"
#include "executor/executor.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "nodes/value.h"
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
#include "utils/snapmgr.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sequenced_register);
PG_FUNCTION_INFO_V1(sequenced_unregister);
PG_FUNCTION_INFO_V1(sequenced_max_sequence);
PG_FUNCTION_INFO_V1(sequenced_purge_tombstones);

/* cache */
static HTAB *seq_tables = NULL;
static MemoryContext seq_cache_cxt = NULL;
static Oid	cached_config_relid = InvalidOid;
static Oid	cached_owner = InvalidOid;
static Oid	cached_extnsp = InvalidOid;

typedef struct SeqTableEntry
{
	Oid			relid;
	SeqTable   *st;
} SeqTableEntry;

static void free_seq_table(SeqTable *st);

/* ----------------------------------------------------------------
 * Citus
 * ---------------------------------------------------------------- */

/*
 * Tables that Citus manages (distributed, reference and Citus-local ones)
 * are refused: pg_sequenced writes a table's heap and indexes directly,
 * which on Citus would write the coordinator's shell table, never a shard.
 * Found without linking to Citus: when an extension named citus is
 * installed, in Citus's own catalog, pg_catalog.pg_dist_partition (one row
 * per table it manages, by logicalrelid), and by its function
 * relation_is_a_known_shard() for its shards.  The answer is cached per
 * table until a relcache invalidation of it (making a table distributed
 * changes the table: Citus invalidates it).
 */
typedef struct CitusEntry
{
	Oid			relid;
	bool		valid;
	bool		managed;
} CitusEntry;

static HTAB *citus_cache = NULL;

static void
citus_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CitusEntry *e;

	hash_seq_init(&status, citus_cache);
	while ((e = hash_seq_search(&status)) != NULL)
		if (relid == InvalidOid || e->relid == relid)
			e->valid = false;
}

static bool
citus_manages(Oid relid)
{
	Oid			catoid;
	bool		managed = false;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	catoid = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (OidIsValid(catoid))
	{
		Relation	cat = table_open(catoid, AccessShareLock);
		AttrNumber	att = get_attnum(catoid, "logicalrelid");
		ScanKeyData key;
		SysScanDesc scan;

		if (att == InvalidAttrNumber)
			elog(ERROR, "pg_catalog.pg_dist_partition has no column logicalrelid");
		ScanKeyInit(&key, att, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
		scan = systable_beginscan(cat, InvalidOid, false, NULL, 1, &key);
		managed = HeapTupleIsValid(systable_getnext(scan));
		systable_endscan(scan);
		table_close(cat, AccessShareLock);
	}
	if (!managed)
	{
		/* a shard (on a node that holds some), found by Citus itself */
		List	   *name = list_make2(makeString("pg_catalog"), makeString("relation_is_a_known_shard"));
		Oid			argtypes[1] = {REGCLASSOID};
		Oid			fn = LookupFuncName(name, 1, argtypes, true);

		if (OidIsValid(fn))
			managed = DatumGetBool(OidFunctionCall1(fn, ObjectIdGetDatum(relid)));
	}
	return managed;
}

/*
 * Refuse a table that Citus manages (what: "table", "staging table"), before
 * anything is written.
 */
void
catalog_refuse_citus(Relation rel, const char *what)
{
	Oid			relid = RelationGetRelid(rel);
	CitusEntry *e;
	bool		found;

	if (citus_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CitusEntry);
		ctl.hcxt = CacheMemoryContext;
		citus_cache = hash_create("pg_sequenced citus checks", 32, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(citus_relcache_callback, (Datum) 0);
	}
	e = hash_search(citus_cache, &relid, HASH_ENTER, &found);
	if (!found || !e->valid)
	{
		e->valid = false;
		e->managed = citus_manages(relid);
		e = hash_search(citus_cache, &relid, HASH_ENTER, &found);
		e->valid = true;
	}
	if (e->managed)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s \"%s\" is managed by Citus", what, RelationGetRelationName(rel)),
				 errdetail("pg_sequenced writes a table's heap and indexes directly, which on a Citus table would write the coordinator's shell table, never a shard."),
				 errhint("Spread keys over several servers with PL/Proxy instead (README, \"More than one machine\")."),
				 errtable(rel)));
}

/*
 * Open a table the caller named by regclass.  A regclass can hold any oid
 * (e.g. 12345::regclass): that is the caller's mistake, 42P01, not an
 * internal error.  A table that Citus manages is refused (0A000).
 */
Relation
catalog_open_target(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = catalog_open_table(relid, lockmode);

	catalog_refuse_citus(rel, "table");
	return rel;
}

/* catalog_open_target, without the Citus check (to unregister) */
Relation
catalog_open_table(Oid relid, LOCKMODE lockmode)
{
	Relation	rel = try_relation_open(relid, lockmode);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Only ordinary and partitioned tables can be registered.")));
	return rel;
}

/* "schema"."table", quoted as needed */
char *
catalog_qualified_name(Oid relid)
{
	char	   *rel = get_rel_name(relid);

	if (rel == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
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
			elog(ERROR, "failed to find the owner of extension pg_sequenced");

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
		cached_owner = owner;
		cached_extnsp = extnsp;
		cached_config_relid = cfg;
	}
	return cached_owner;
}

/* The schema the extension's functions live in, quoted */
const char *
catalog_extension_schema(void)
{
	(void) catalog_owner();
	return quote_identifier(get_namespace_name(cached_extnsp));
}

/*
 * Switch to the extension's owner for statements on internal tables.  The
 * switch is undone by catalog_end_internal, or by (sub)transaction abort.
 */
void
catalog_begin_internal(Oid *save_userid, int *save_sec)
{
	Oid			owner = catalog_owner();

	catalog_pin_path();
	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
catalog_end_internal(Oid save_userid, int save_sec)
{
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * Switch to the owner of a table, as VACUUM, ANALYZE and RI triggers do:
 * for work that must bypass the caller's rights and may run code attached
 * to the table's types (index support functions, casts to json, typanalyze
 * and subtype_diff).  That code is the owner's (or a superuser's), so it
 * runs with no more rights than the owner's own; SECURITY_RESTRICTED_OPERATION
 * keeps it from changing the session, and a GUC nest level undoes any SET
 * it makes.  Undone by catalog_end_owner, or by (sub)transaction abort.
 */
void
catalog_begin_owner(Oid relid, OwnerSwitch *sw)
{
	sw->owner = catalog_rel_owner(relid);
	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec);
	SetUserIdAndSecContext(sw->owner, sw->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	sw->save_nest = NewGUCNestLevel();
}

void
catalog_end_owner(OwnerSwitch *sw)
{
	AtEOXact_GUC(false, sw->save_nest);
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec);
}

/*
 * Settings for the statements of one call, like a function's SET clauses;
 * undone by AtEOXact_GUC(true, level) or by abort.
 *
 * search_path is pinned so nothing can be redirected.
 */
int
catalog_guc_lockdown_path(void)
{
	int			level = NewGUCNestLevel();

	catalog_pin_path();
	return level;
}

/*
 * Pin search_path, at the caller's GUC nest level, unless it already is.
 * The apply functions call this just before their first statement: a call
 * that runs none (a replay of stale records) then never pays for setting
 * the path and restoring it, which for one record per call was a tenth of
 * the call.  Everything before that first statement is C that looks
 * nothing up by name.
 */
void
catalog_pin_path(void)
{
	if (namespace_search_path == NULL || strcmp(namespace_search_path, SEQ_PINNED_PATH) != 0)
		(void) set_config_option("search_path", SEQ_PINNED_PATH,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * The planner is kept to index probes: every statement joins a batch (an
 * array parameter of unknown size) to a table by its unique key, and the
 * plans are generic and cached, often first built while the table was still
 * empty -- a sequential scan chosen then would make every later call
 * quadratic.  Only needed where statements may be planned, so the apply
 * functions set these just before their first statement, if any.
 */
void
catalog_guc_planner(void)
{
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_hashjoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_mergejoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Both of the above: for functions that always run statements */
int
catalog_guc_lockdown(void)
{
	int			level = catalog_guc_lockdown_path();

	catalog_guc_planner();
	return level;
}

/* ----------------------------------------------------------------
 * privileges
 * ---------------------------------------------------------------- */

static void
require_table_right(SeqTable *st, AclMode mode)
{
	Oid			roleid = GetUserId();

	if (pg_class_aclcheck(st->relid, roleid, mode) == ACLCHECK_OK)
		return;
	if (pg_attribute_aclcheck_all(st->relid, roleid, mode, ACLMASK_ALL) == ACLCHECK_OK)
		return;
	aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(st->relid)),
				   get_rel_name(st->relid));
}

/* What reading the feed (or where it stands) needs: SELECT on the table */
void
catalog_check_read_privilege(SeqTable *st)
{
	if (pg_class_aclcheck(st->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(st->relid)),
					   get_rel_name(st->relid));
}

/*
 * The rights a call needs on the target, checked up front so that a call
 * whose messages all turn out stale fails the same way as one that writes.
 */
void
catalog_check_privileges(SeqTable *st, bool need_delete)
{
	require_table_right(st, ACL_SELECT);
	require_table_right(st, ACL_INSERT);
	require_table_right(st, ACL_UPDATE);
	if (need_delete)
		require_table_right(st, ACL_DELETE);
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

typedef struct ConfigRow
{
	bool		found;
	List	   *key_columns;	/* of char * */
	char	   *sequence_column;
	char	   *on_equal;
	char	   *deletes;
	char	   *ordering;
	Oid			state_rel;
} ConfigRow;

static List *
text_array_to_list(ArrayType *arr)
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
static ConfigRow
read_config(Oid relid)
{
	ConfigRow	row = {0};
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	int			rc;

	catalog_begin_internal(&save_userid, &save_sec);
	rc = SPI_execute_with_args("SELECT key_columns, sequence_column, on_equal, deletes, ordering, state_rel::pg_catalog.oid "
							   "FROM _sequenced.config WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
							   1, argtypes, args, NULL, false, 1);
	catalog_end_internal(save_userid, save_sec);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "failed to read _sequenced.config: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		row.found = true;
		row.key_columns = text_array_to_list(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 1, &isnull)));
		row.sequence_column = SPI_getvalue(tup, desc, 2);
		row.on_equal = SPI_getvalue(tup, desc, 3);
		row.deletes = SPI_getvalue(tup, desc, 4);
		row.ordering = SPI_getvalue(tup, desc, 5);
		row.state_rel = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
	}
	return row;
}

static void
not_registered_error(Oid relid)
{
	char	   *name = catalog_qualified_name(relid);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table \"%s\" is not registered with pg_sequenced", get_rel_name(relid)),
			 errhint("Register it first: SELECT sequenced_register('%s');", name)));
}

/*
 * Find the unique, non-partial, plain-column index over exactly the given
 * attributes.  Returns its oid, or InvalidOid.  A deferrable one does not
 * count; *deferrable (if given) says whether one matched: conflicts are
 * decided as INSERT ... ON CONFLICT decides them, which refuses to infer its
 * arbiter where a deferrable unique index covers the conflict columns.
 */
static Oid
find_key_index(Relation rel, int nkeys, const AttrNumber *attnums, bool *deferrable)
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

/*
 * The primary key's index, deferrable or not (the relcache's primary key
 * leaves out a deferrable one, which would read as "no primary key"), if
 * it is valid.
 */
static Oid
primary_key_index(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_index) GETSTRUCT(tup))->indisprimary &&
			((Form_pg_index) GETSTRUCT(tup))->indisvalid)
			result = lfirst_oid(lc);
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return result;
}

/* The opclass and collation the key index uses for the given attribute. */
static void
key_index_column(Oid indexoid, AttrNumber attnum, Oid *opclass, Oid *collation)
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

static char *
qualified_operator(Oid opno)
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
static void
setup_tojsonb(FmgrInfo *finfo, Oid typid, MemoryContext mcxt)
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
	st->reltype = rel->rd_rel->reltype;
	st->relarraytype = get_array_type(st->reltype);
	st->statetype = get_rel_type_id(cfg->state_rel);
	st->statearraytype = get_array_type(st->statetype);
	if (!OidIsValid(st->relarraytype) || !OidIsValid(st->statearraytype))
		elog(ERROR, "row type of table %u has no array type", st->relid);
	/* for messages, in the PostgreSQL style: table "name" */
	st->relname = psprintf("\"%s\"", RelationGetRelationName(rel));
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
				 errhint("Register the table again.")));
	st->delatt = st->soft_deletes ? get_attnum(st->relid, SEQ_DELETED_AT_COLUMN) : InvalidAttrNumber;
	if (st->soft_deletes && st->delatt == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table %s is missing", SEQ_DELETED_AT_COLUMN, st->relname),
				 errhint("Register the table again.")));

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
					 errhint("Register the table again.")));
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
		keyindex = find_key_index(rel, nkeys, keyatts, NULL);
		if (!OidIsValid(keyindex))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("table %s has no unique index over its key columns", st->relname),
					 errhint("Create the unique index again, or register the table with other key_columns.")));
		st->keyindexid = keyindex;
		for (k = 0; k < nkeys; k++)
		{
			SeqKey	   *key = &st->keys[k];
			Oid			opclass = InvalidOid;
			Oid			collation = InvalidOid;
			Oid			opfamily;
			Oid			ltopr;

			key_index_column(keyindex, key->attnum, &opclass, &collation);
			opfamily = get_opclass_family(opclass);
			key->cmptype = get_opclass_input_type(opclass);
			key->eqopr = get_opfamily_member(opfamily, key->cmptype, key->cmptype,
											 BTEqualStrategyNumber);
			ltopr = get_opfamily_member(opfamily, key->cmptype, key->cmptype,
										BTLessStrategyNumber);
			if (!OidIsValid(key->eqopr) || !OidIsValid(ltopr))
				elog(ERROR, "no btree operators for key column \"%s\"", st->key_names[k]);
			key->eqopr_sql = qualified_operator(key->eqopr);
			fmgr_info_cxt(get_opcode(key->eqopr), &key->eqproc, mcxt);
			key->opfamily = opfamily;
			key->ssup.ssup_cxt = mcxt;
			key->ssup.ssup_collation = collation;
			key->ssup.ssup_nulls_first = false;
			PrepareSortSupportFromOrderingOp(ltopr, &key->ssup);
			setup_tojsonb(&key->tojsonb, st->cols[key->attnum - 1].typid, mcxt);
		}
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
		bool		ok = seqatt->atttypid == INT8OID;

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
		/* (code of the key's types runs as the state table's owner: see create_state_table) */
		if (srel->rd_rel->relowner != rel->rd_rel->relowner)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key state of table %s belongs to another role than the table", st->relname),
					 errhint("Register it again: SELECT sequenced_register('%s');", st->qualname)));
		relation_close(srel, AccessShareLock);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key or sequence columns of table %s changed type, operator class or collation since it was registered",
							st->relname),
					 errhint("Register it again: sequenced_unregister() then sequenced_register() (tombstones are lost).")));
	}

	byname_cmp_cols = st->cols;
	qsort(st->byname, st->nbyname, sizeof(int), byname_cmp);

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

	cfg = read_config(relid);
	if (!cfg.found)
		not_registered_error(relid);

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

/* ----------------------------------------------------------------
 * registration
 * ---------------------------------------------------------------- */

static char *
text_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static void
check_choice(const char *name, const char *value, const char *a, const char *b, const char *c)
{
	if (strcmp(value, a) == 0 || strcmp(value, b) == 0 || (c && strcmp(value, c) == 0))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for %s: \"%s\"", name, value),
			 c ? errhint("Use %s, %s or %s.", a, b, c) : errhint("Use %s or %s.", a, b)));
}

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "statement failed (%s): %s", SPI_result_code_string(rc), sql);
}

/* spi_exec of a formatted statement */
static void spi_execf(int expected, const char *fmt,...) pg_attribute_printf(2, 3);

static void
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
 * Fill the state table from the rows already in the table: each gets a
 * position (1, 2, ...), below any position a later transaction hands out,
 * so a feed consumer starting from 0 sees the existing rows first.
 *
 * Rights.  The rows are read in C, straight from the heap of every leaf
 * (no statement: planning one runs code of the table's owner, and row
 * security must not hide a row), and the work that runs code of the
 * table's types -- the key state index's comparisons, to_jsonb() of an
 * append-only table's rows -- as the table's owner, under
 * SECURITY_RESTRICTED_OPERATION.
 */
static void
backfill_state(Relation rel, Oid staterel, int nkeys, AttrNumber *keyatts,
			   const char *seqcol, bool soft)
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

	leaves = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ?
		find_all_inheritors(RelationGetRelid(rel), AccessShareLock, NULL) :
		list_make1_oid(RelationGetRelid(rel));
	catalog_begin_owner(RelationGetRelid(rel), &sw);
	if (nkeys == 0)
		setup_tojsonb(&tojsonb, rel->rd_rel->reltype, CurrentMemoryContext);
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
			Datum	   *v = f.slot->tts_values;
			bool	   *n = f.slot->tts_isnull;
			MemoryContext old = MemoryContextSwitchTo(rowcxt);
			bool		skip = false;

			CHECK_FOR_INTERRUPTS();
			ExecClearTuple(f.slot);
			if (nkeys == 0)
			{
				HeapTuple	tup = ExecCopySlotHeapTuple(slot);

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
			}
			else
			{
				/* k1..kn, sequence, position, deleted; a NULL key: no key to sequence */
				for (int i = 0; i < nkeys; i++)
				{
					v[i] = slot_getattr(slot, lkeys[i], &n[i]);
					skip |= n[i];
				}
				v[nkeys] = slot_getattr(slot, lseq, &n[nkeys]);
				v[nkeys + 1] = Int64GetDatum(position + 1);
				n[nkeys + 1] = false;
				v[nkeys + 2] = BoolGetDatum(false);
				if (ldel != InvalidAttrNumber)
				{
					bool		isnull;

					(void) slot_getattr(slot, ldel, &isnull);
					v[nkeys + 2] = BoolGetDatum(!isnull);
				}
				n[nkeys + 2] = false;
				if (!skip)
					position++;
			}
			if (!skip)
				state_fill_put(&f);
			ExecClearTuple(f.slot);
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
	state_fill_end(&f);
	catalog_end_owner(&sw);
	MemoryContextDelete(rowcxt);
}

/*
 * Create and fill the state table of a table.  It belongs to the table's
 * owner (made by the extension's owner in _sequenced, where no other role
 * may name it, then given away): VACUUM, ANALYZE and index builds of a
 * table run as its owner, and a state table holds values of the table's
 * key types, whose code (a range type's subtype_diff, say) must never run
 * as the extension's owner.
 */
static Oid
create_state_table(Relation rel, int nkeys, AttrNumber *keyatts, Oid keyindex,
				   const char *seqcol, bool soft)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			nsp = get_namespace_oid("_sequenced", false);
	char	   *name;
	char	   *qname;
	StringInfoData sql;
	Oid			save_userid;
	int			save_sec;
	Oid			staterel;

	name = psprintf("state_%u", relid);
	for (int n = 1; OidIsValid(get_relname_relid(name, nsp)); n++)
		name = psprintf("state_%u_%d", relid, n);
	qname = quote_qualified_identifier("_sequenced", name);

	initStringInfo(&sql);
	catalog_begin_internal(&save_userid, &save_sec);
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

			key_index_column(keyindex, keyatts[i], &opclass, &collation);
			appendStringInfo(&sql, "k%d %s", i + 1,
							 format_type_extended(att->atttypid, att->atttypmod,
												  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
			if (OidIsValid(collation) && collation != get_typcollation(att->atttypid))
				appendStringInfo(&sql, " COLLATE %s", generate_collation_name(collation));
			appendStringInfoString(&sql, " NOT NULL, ");
		}
		appendStringInfoString(&sql, "sequence pg_catalog.int8, position pg_catalog.int8 NOT NULL, "
							   "deleted pg_catalog.bool NOT NULL)");
		spi_exec(sql.data, SPI_OK_UTILITY);
	}
	staterel = get_relname_relid(name, nsp);
	if (!OidIsValid(staterel))
		elog(ERROR, "state table %s is missing after CREATE TABLE", qname);
	spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s OWNER TO %s", qname,
			  quote_identifier(GetUserNameFromId(rel->rd_rel->relowner, false)));

	/* index builds run as the table's owner (DefineIndex switches to it) */
	if (nkeys == 0)
		spi_execf(SPI_OK_UTILITY, "CREATE INDEX ON %s (position)", qname);
	else
	{
		StringInfoData idx;

		initStringInfo(&idx);
		for (int i = 0; i < nkeys; i++)
		{
			Oid			opclass = InvalidOid;
			Oid			collation = InvalidOid;
			HeapTuple	octup;
			Form_pg_opclass opc;

			key_index_column(keyindex, keyatts[i], &opclass, &collation);
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
		/* the sequence rides along, so that a probe can be an index-only one */
		spi_execf(SPI_OK_UTILITY, "CREATE UNIQUE INDEX ON %s (%s) INCLUDE (sequence)", qname, idx.data);
		spi_execf(SPI_OK_UTILITY, "CREATE INDEX ON %s (position)", qname);
	}
	backfill_state(rel, staterel, nkeys, keyatts, seqcol, soft);
	/* ANALYZE runs as the state table's owner (analyze_rel switches to it) */
	spi_execf(SPI_OK_UTILITY, "ANALYZE %s", qname);
	catalog_end_internal(save_userid, save_sec);
	return staterel;
}

static void
drop_state_table(Oid staterel)
{
	Oid			save_userid;
	int			save_sec;
	char	   *name = get_rel_name(staterel);

	if (name == NULL)
		return;
	catalog_begin_internal(&save_userid, &save_sec);
	spi_exec(psprintf("DROP TABLE %s", quote_qualified_identifier("_sequenced", name)),
			 SPI_OK_UTILITY);
	catalog_end_internal(save_userid, save_sec);
}

static void
check_owner(Oid relid)
{
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

static bool
lists_equal(List *a, List *b)
{
	ListCell   *la,
			   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
	{
		if (strcmp(lfirst(la), lfirst(lb)) != 0)
			return false;
	}
	return true;
}

static Datum
list_to_text_array(List *l)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(l), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, l)
		d[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(d, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/* Add a column as the caller (the table's owner) when it is missing. */
static AttrNumber
ensure_column(Oid relid, const char *colname, Oid typid, const char *typname)
{
	AttrNumber	attnum = get_attnum(relid, colname);

	if (attnum == InvalidAttrNumber)
	{
		char	   *qual = catalog_qualified_name(relid);

		spi_exec(psprintf("ALTER TABLE %s ADD COLUMN %s %s", qual,
						  quote_identifier(colname), typname), SPI_OK_UTILITY);
		attnum = get_attnum(relid, colname);
	}
	else
	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);
		Oid			atttypid = att->atttypid;
		bool		gen = att->attgenerated != '\0' || att->attidentity != '\0';

		ReleaseSysCache(tup);
		if (atttypid != typid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of table \"%s\" must be of type %s, not %s",
							colname, get_rel_name(relid), typname, format_type_be(atttypid))));
		if (gen)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_DEFINITION),
					 errmsg("column \"%s\" of table \"%s\" must not be a generated or identity column",
							colname, get_rel_name(relid))));
	}
	return attnum;
}

/*
 * The statement trigger that clears a table's key state on TRUNCATE,
 * created by registration and dropped by unregistration (as the caller, the
 * table's owner).
 */
#define TRUNCATE_TRIGGER "sequenced_truncate"

static void
ensure_truncate_trigger(Oid relid, bool present)
{
	char	   *qual = catalog_qualified_name(relid);
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(TRUNCATE_TRIGGER)};
	bool		exists;
	Oid			save_userid;
	int			save_sec;

	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid OPERATOR(pg_catalog.=) $1 "
							  "AND tgname OPERATOR(pg_catalog.=) $2::pg_catalog.name",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "failed to read pg_trigger");
	exists = SPI_processed > 0;
	if (present == exists)
		return;
	/* as the extension's owner: its function lives in _sequenced */
	catalog_begin_internal(&save_userid, &save_sec);
	if (present)
		spi_exec(psprintf("CREATE TRIGGER %s AFTER TRUNCATE ON %s FOR EACH STATEMENT "
						  "EXECUTE FUNCTION _sequenced.on_truncate()",
						  TRUNCATE_TRIGGER, qual), SPI_OK_UTILITY);
	else
		spi_exec(psprintf("DROP TRIGGER %s ON %s", TRUNCATE_TRIGGER, qual), SPI_OK_UTILITY);
	catalog_end_internal(save_userid, save_sec);
}

/*
 * Does the table have a tombstone under its current (old) key: a deleted
 * key with no row in the table (a soft-deleted row is a row)?  Asked before
 * the key columns change.
 *
 * The deleted keys are read from the state table as the extension's owner,
 * as plain values; whether the table holds a row for each is asked as the
 * table's owner, comparing with the equality of the state
 * table's own key index (not the SeqTable's: the old key's index may be
 * gone, which is often why the key changes).  Only when every old key
 * column still has the type the state table copied: otherwise a comparison
 * would take an implicit cast, the type owner's code, and every deleted key
 * counts instead.
 */
static bool
has_tombstones(Relation rel, ConfigRow *cfg)
{
	int			nkeys = list_length(cfg->key_columns);
	Relation	srel;
	TupleDesc	sdesc;
	List	   *indexes;
	ListCell   *lc;
	const char **eqops = palloc0(sizeof(char *) * nkeys);
	bool		comparable = true;
	Oid			save_userid;
	int			save_sec;
	StringInfoData q;
	Datum		arr;
	Oid			arrtype;
	bool		result;
	int			rc;
	OwnerSwitch sw;

	srel = relation_open(cfg->state_rel, AccessShareLock);
	sdesc = RelationGetDescr(srel);
	arrtype = get_array_type(srel->rd_rel->reltype);
	foreach(lc, cfg->key_columns)
	{
		int			i = foreach_current_index(lc);
		AttrNumber	att = get_attnum(RelationGetRelid(rel), lfirst(lc));
		Form_pg_attribute ta;

		if (att == InvalidAttrNumber || i >= sdesc->natts)
		{
			comparable = false;
			continue;
		}
		ta = TupleDescAttr(RelationGetDescr(rel), att - 1);
		if (ta->atttypid != TupleDescAttr(sdesc, i)->atttypid ||
			ta->atttypmod != TupleDescAttr(sdesc, i)->atttypmod)
			comparable = false;
	}
	indexes = RelationGetIndexList(srel);
	foreach(lc, indexes)
	{
		Relation	irel = index_open(lfirst_oid(lc), AccessShareLock);

		if (irel->rd_index->indisunique && irel->rd_index->indnkeyatts == nkeys)
			for (int i = 0; i < nkeys; i++)
			{
				Oid			eqopr = get_opfamily_member(irel->rd_opfamily[i], irel->rd_opcintype[i],
														irel->rd_opcintype[i], BTEqualStrategyNumber);

				if (OidIsValid(eqopr))
					eqops[i] = qualified_operator(eqopr);
			}
		index_close(irel, AccessShareLock);
	}
	list_free(indexes);
	relation_close(srel, AccessShareLock);
	for (int i = 0; i < nkeys; i++)
		if (eqops[i] == NULL)
			comparable = false;

	/* the deleted keys, as plain values */
	catalog_begin_internal(&save_userid, &save_sec);
	rc = SPI_execute(psprintf("SELECT pg_catalog.array_agg(s) FROM _sequenced.%s s WHERE s.deleted",
							  quote_identifier(get_rel_name(cfg->state_rel))), true, 0);
	catalog_end_internal(save_userid, save_sec);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "failed to read the state of table \"%s\"", RelationGetRelationName(rel));
	arr = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &result);
	if (result)
		return false;			/* no deleted key at all */
	if (!comparable)
		return true;

	/*
	 * Which of them have a row?  Asked as the table's owner (registration's
	 * caller, or a superuser: planning this statement runs code of the
	 * table's owner, its index expressions and statistics, say).
	 */
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT 1 FROM pg_catalog.unnest($1) AS s WHERE NOT EXISTS (SELECT 1 FROM %s%s t WHERE ",
					 rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	foreach(lc, cfg->key_columns)
		appendStringInfo(&q, "%st.%s %s s.k%d", foreach_current_index(lc) ? " AND " : "",
						 quote_identifier(lfirst(lc)), eqops[foreach_current_index(lc)],
						 foreach_current_index(lc) + 1);
	appendStringInfoString(&q, ") LIMIT 1");
	catalog_begin_owner(RelationGetRelid(rel), &sw);
	rc = SPI_execute_with_args(q.data, 1, &arrtype, &arr, NULL, true, 1);
	catalog_end_owner(&sw);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "failed to look for tombstones of table \"%s\"", RelationGetRelationName(rel));
	return SPI_processed > 0;
}

/*
 * The state table belongs to the table's owner (see create_state_table):
 * after ALTER TABLE ... OWNER TO, registration and the event trigger
 * _sequenced.on_ddl_end give it to the new owner.
 */
Oid
catalog_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

static void
sync_state_owner(Oid relid, Oid staterel)
{
	Oid			owner = catalog_rel_owner(relid);
	Oid			save_userid;
	int			save_sec;

	if (!OidIsValid(staterel) || catalog_rel_owner(staterel) == owner)
		return;
	catalog_begin_internal(&save_userid, &save_sec);
	spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s OWNER TO %s",
			  quote_qualified_identifier("_sequenced", get_rel_name(staterel)),
			  quote_identifier(GetUserNameFromId(owner, false)));
	catalog_end_internal(save_userid, save_sec);
}

Datum
sequenced_register(PG_FUNCTION_ARGS)
{
	Oid			relid;
	List	   *keys = NIL;
	char	   *seqcol = text_arg(fcinfo, 2, "sequence_column");
	char	   *on_equal = text_arg(fcinfo, 3, "on_equal");
	char	   *deletes = text_arg(fcinfo, 4, "deletes");
	char	   *ordering = text_arg(fcinfo, 5, "ordering");
	Relation	rel;
	char		relkind;
	AttrNumber *keyatts;
	Oid			keyindex = InvalidOid;
	int			nkeys;
	ConfigRow	cfg;
	int			guclevel;
	ListCell   *lc;
	int			k;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	relid = PG_GETARG_OID(0);
	check_choice("on_equal", on_equal, "keep", "replace", "error");
	check_choice("deletes", deletes, "hard", "soft", NULL);
	check_choice("ordering", ordering, "per_key", "per_table", NULL);
	if (strlen(seqcol) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sequence_column must not be empty")));

	/* no writes while the state table is built; ALTER TABLE may upgrade */
	rel = catalog_open_target(relid, ShareRowExclusiveLock);
	relkind = rel->rd_rel->relkind;
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Only ordinary and partitioned tables can be registered.")));
	/*
	 * A temporary table goes away at the end of its session (or with
	 * DISCARD TEMP, or ON COMMIT DROP) without the sql_drop event that
	 * removes a dropped table's registration: its entry, state and
	 * tombstones would be left behind under an oid a later table may get.
	 */
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot register temporary table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("A temporary table is dropped at the end of its session without the event that removes its registration.")));
	check_owner(relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guclevel = catalog_guc_lockdown();
	(void) catalog_owner();

	/* the key */
	if (PG_ARGISNULL(1))
	{
		Oid			pk = primary_key_index(rel);
		HeapTuple	tup;
		Form_pg_index idx;

		if (!OidIsValid(pk))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
					 errhint("Name the key with key_columns, or use key_columns => '{}' for an append-only table.")));
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
		idx = (Form_pg_index) GETSTRUCT(tup);
		for (int i = 0; i < idx->indnkeyatts; i++)
			keys = lappend(keys, pstrdup(get_attname(relid, idx->indkey.values[i], false)));
		ReleaseSysCache(tup);
	}
	else
		keys = text_array_to_list(PG_GETARG_ARRAYTYPE_P(1));

	nkeys = list_length(keys);
	keyatts = palloc(sizeof(AttrNumber) * Max(nkeys, 1));
	k = 0;
	foreach(lc, keys)
	{
		char	   *name = lfirst(lc);
		AttrNumber	attnum = get_attnum(relid, name);
		Form_pg_attribute att;

		if (attnum == InvalidAttrNumber || attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" does not exist in table \"%s\"", name,
							RelationGetRelationName(rel))));
		for (int j = 0; j < k; j++)
			if (keyatts[j] == attnum)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("key column \"%s\" is named twice", name)));
		att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		if (att->attgenerated != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("key column \"%s\" is a generated column", name),
					 errdetail("Key columns are set by the data.")));
		if (att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("key column \"%s\" is a GENERATED ALWAYS identity column", name),
					 errdetail("Key columns are set by the data; a GENERATED BY DEFAULT identity column can be a key.")));
		if (strcmp(name, seqcol) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("the sequence column \"%s\" cannot be a key column", name)));
		keyatts[k++] = attnum;
	}
	if (nkeys > 0)
	{
		bool		deferrable;

		keyindex = find_key_index(rel, nkeys, keyatts, &deferrable);
		if (deferrable)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("a unique index over the key columns of table \"%s\" is deferrable",
							RelationGetRelationName(rel)),
					 errdetail("Conflicts are decided as INSERT ... ON CONFLICT decides them, which refuses a deferrable unique index over its conflict columns."),
					 errhint("Make the key's primary key or unique constraint NOT DEFERRABLE.")));
		if (!OidIsValid(keyindex))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("no unique index of table \"%s\" covers exactly the key columns",
							RelationGetRelationName(rel)),
					 errdetail("The key must be covered by a unique, non-partial index on plain columns (the primary key or a unique index) over exactly the key columns.")));
	}

	/* ALTER TABLE refuses to run while we hold the relation open */
	relation_close(rel, NoLock);
	(void) ensure_column(relid, seqcol, INT8OID, "bigint");
	if (strcmp(deletes, "soft") == 0)
		(void) ensure_column(relid, SEQ_DELETED_AT_COLUMN, TIMESTAMPTZOID, "timestamp with time zone");
	rel = relation_open(relid, NoLock);

	cfg = read_config(relid);
	if (cfg.found &&
		lists_equal(cfg.key_columns, keys) &&
		strcmp(cfg.sequence_column, seqcol) == 0 &&
		strcmp(cfg.on_equal, on_equal) == 0 &&
		strcmp(cfg.deletes, deletes) == 0 &&
		strcmp(cfg.ordering, ordering) == 0)
	{
		/* same options: nothing to do */
	}
	else
	{
		Oid			staterel = cfg.found ? cfg.state_rel : InvalidOid;
		Oid			save_userid;
		int			save_sec;
		Oid			argtypes[7] = {OIDOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID};
		Datum		args[7];
		int			rc;

		if (cfg.found && !lists_equal(cfg.key_columns, keys))
		{
			bool		tombstones = false;

			if (list_length(cfg.key_columns) > 0)
				tombstones = has_tombstones(rel, &cfg);
			if (tombstones)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot change the key columns of table \"%s\" while it has tombstones",
								RelationGetRelationName(rel)),
						 errhint("Purge them first with sequenced_purge_tombstones().")));
			drop_state_table(cfg.state_rel);
			staterel = InvalidOid;
		}
		if (cfg.found && strcmp(cfg.sequence_column, seqcol) != 0 && OidIsValid(staterel))
		{
			/* the stored sequences come from the new column */
			drop_state_table(staterel);
			staterel = InvalidOid;
		}
		if (!OidIsValid(staterel))
			staterel = create_state_table(rel, nkeys, keyatts, keyindex, seqcol,
										  strcmp(deletes, "soft") == 0);

		args[0] = ObjectIdGetDatum(relid);
		args[1] = list_to_text_array(keys);
		args[2] = CStringGetTextDatum(seqcol);
		args[3] = CStringGetTextDatum(on_equal);
		args[4] = CStringGetTextDatum(deletes);
		args[5] = CStringGetTextDatum(ordering);
		args[6] = ObjectIdGetDatum(staterel);
		catalog_begin_internal(&save_userid, &save_sec);
		rc = SPI_execute_with_args(cfg.found ?
								   "UPDATE _sequenced.config SET key_columns = $2, sequence_column = $3, "
								   "on_equal = $4, deletes = $5, ordering = $6, state_rel = $7::pg_catalog.oid::pg_catalog.regclass "
								   "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass" :
								   "INSERT INTO _sequenced.config (relid, key_columns, sequence_column, on_equal, deletes, ordering, state_rel) "
								   "VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2, $3, $4, $5, $6, $7::pg_catalog.oid::pg_catalog.regclass)",
								   7, argtypes, args, NULL, false, 0);
		catalog_end_internal(save_userid, save_sec);
		if (rc != SPI_OK_INSERT && rc != SPI_OK_UPDATE)
			elog(ERROR, "failed to write _sequenced.config: %s", SPI_result_code_string(rc));
		CacheInvalidateRelcacheByRelid(relid);
	}
	relation_close(rel, NoLock);
	cfg = read_config(relid);
	sync_state_owner(relid, cfg.state_rel);
	ensure_truncate_trigger(relid, true);

	AtEOXact_GUC(true, guclevel);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
sequenced_unregister(PG_FUNCTION_ARGS)
{
	Oid			relid;
	ConfigRow	cfg;
	int			guclevel;
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	relid = PG_GETARG_OID(0);
	args[0] = ObjectIdGetDatum(relid);
	table_close(catalog_open_table(relid, ShareRowExclusiveLock), NoLock);
	check_owner(relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guclevel = catalog_guc_lockdown();
	cfg = read_config(relid);
	if (!cfg.found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not registered with pg_sequenced",
						get_rel_name(relid))));
	drop_state_table(cfg.state_rel);
	ensure_truncate_trigger(relid, false);
	catalog_begin_internal(&save_userid, &save_sec);
	SPI_execute_with_args("DELETE FROM _sequenced.config WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
						  1, argtypes, args, NULL, false, 0);
	SPI_execute_with_args("DELETE FROM _sequenced.max_log WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
						  1, argtypes, args, NULL, false, 0);
	catalog_end_internal(save_userid, save_sec);
	CacheInvalidateRelcacheByRelid(relid);

	AtEOXact_GUC(true, guclevel);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
sequenced_max_sequence(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int			guclevel;
	ConfigRow	cfg;
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		isnull = true;
	int64		result = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	relid = PG_GETARG_OID(0);
	args[0] = ObjectIdGetDatum(relid);
	table_close(catalog_open_target(relid, AccessShareLock), NoLock);
	/* where a loader stands is the table's data: SELECT on it (or a column) */
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guclevel = catalog_guc_lockdown();
	cfg = read_config(relid);
	if (!cfg.found)
		not_registered_error(relid);
	catalog_begin_internal(&save_userid, &save_sec);
	if (SPI_execute_with_args("SELECT pg_catalog.max(seq) FROM _sequenced.max_log "
							  "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
							  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			result = DatumGetInt64(d);
	}
	catalog_end_internal(save_userid, save_sec);
	AtEOXact_GUC(true, guclevel);
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_INT64(result);
}

/*
 * Drop the tombstones older than before: deleted keys with no row at all
 * (a soft-deleted row is a row), whatever the caller's row-level security
 * would show -- so it is refused to a caller it limits, whose policies can
 * judge no tombstone.  The key state is read and written straight through
 * its heap, and each key looked up through the table's key index
 * (keyprobe.c): no statement names the table.  A key a concurrent call is
 * applying is left alone (its state row is locked: the purge waits for it,
 * then finds it changed).
 */
Datum
sequenced_purge_tombstones(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int64		before;
	Relation	rel;
	Relation	srel;
	SeqTable   *st;
	int64		count = 0;
	TableScanDesc scan;
	TupleTableSlot *slot;
	KeyProbe   *kp;
	Snapshot	snap;
	Datum		keyvals[INDEX_MAX_KEYS];
	CommandId	cid;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target and before_seq must not be null")));
	relid = PG_GETARG_OID(0);
	before = PG_GETARG_INT64(1);

	rel = catalog_open_target(relid, RowExclusiveLock);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	st = catalog_open(relid);
	if (pg_class_aclcheck(relid, GetUserId(), ACL_DELETE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	if (check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot purge the tombstones of table %s under row-level security", st->relname),
				 errdetail("A tombstone has no row for the table's policies to judge."),
				 errhint("Purge them as the table's owner, or as a role that bypasses row-level security.")));
	if (st->nkeys > 0)
	{
		PreventCommandIfReadOnly("sequenced_purge_tombstones()");
		CommandCounterIncrement();
		snap = RegisterSnapshot(GetLatestSnapshot());
		cid = GetCurrentCommandId(true);
		kp = keyprobe_begin(st);
		srel = table_open(st->staterelid, RowExclusiveLock);
		slot = table_slot_create(srel, NULL);
		scan = table_beginscan(srel, snap, 0, NULL);
		while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			bool		deleted;
			Datum		seq;

			CHECK_FOR_INTERRUPTS();
			/* k1..kn, sequence, position, deleted */
			deleted = DatumGetBool(slot_getattr(slot, st->nkeys + 3, &isnull));
			seq = slot_getattr(slot, st->nkeys + 1, &isnull);
			if (!deleted || isnull || DatumGetInt64(seq) >= before)
				continue;
			for (int k = 0; k < st->nkeys; k++)
				keyvals[k] = slot_getattr(slot, k + 1, &isnull);
			if (!keyprobe_exists(kp, keyvals, snap))
			{
				TM_FailureData tmfd;

				if (table_tuple_delete(srel, &slot->tts_tid, cid, snap, InvalidSnapshot,
									   true, &tmfd, false) == TM_Ok)
					count++;
			}
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		table_close(srel, NoLock);
		keyprobe_end(kp);
		UnregisterSnapshot(snap);
	}
	catalog_close(st);
	table_close(rel, NoLock);
	SPI_finish();
	PG_RETURN_INT64(count);
}
