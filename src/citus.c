/*-------------------------------------------------------------------------
 *
 * citus.c
 *		Refusing tables that Citus manages.
 *
 * pg_sequenced writes a table's heap and indexes directly; on a table that
 * Citus manages (distributed, reference, Citus-local) that would write the
 * coordinator's shell table, never a shard, and the rows would be lost
 * silently.  Every function refuses such a table (0A000), registration
 * included, before anything is written, and the staging trigger refuses a
 * staging table Citus manages.  Found without linking to Citus: when an
 * extension named citus is installed, in Citus's own catalog
 * (pg_catalog.pg_dist_partition, one row per table it manages, by
 * logicalrelid), and by its function relation_is_a_known_shard() for its
 * shards.  The answer is cached per table until a relcache invalidation of
 * it: making a table distributed, reference or local changes the table,
 * and Citus invalidates it.  Without an extension named citus nothing is
 * looked up.
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
 * anything is written.  The caller holds a lock on it, or, for import, is
 * about to take the first one (the answer is then as good as the relcache).
 */
void
citus_refuse(Oid relid, const char *what)
{
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
		bool		managed;

		e->valid = false;
		managed = citus_manages(relid);
		/* (the lookup may have processed invalidations: find the entry again) */
		e = hash_search(citus_cache, &relid, HASH_ENTER, &found);
		e->managed = managed;
		e->valid = true;
	}
	if (e->managed)
	{
		char	   *name = get_rel_name(relid);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s \"%s\" is managed by Citus", what, name),
				 errdetail("pg_sequenced writes a table's heap and indexes directly, which on a Citus table would write the coordinator's shell table, never a shard."),
				 errhint("Spread keys over several servers with PL/Proxy instead (README, \"More than one machine\")."),
				 err_generic_string(PG_DIAG_SCHEMA_NAME, get_namespace_name(get_rel_namespace(relid))),
				 err_generic_string(PG_DIAG_TABLE_NAME, name)));
	}
}
