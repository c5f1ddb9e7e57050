/*-------------------------------------------------------------------------
 *
 * registry.c
 *		Registration: sequenced_register, sequenced_unregister,
 *		sequenced_purge_tombstones, and what they make and drop -- the key
 *		state table, the added columns, the TRUNCATE trigger.
 *
 * Registering a table checks its key (a unique, non-partial, plain-column,
 * non-deferrable index over exactly the key columns), adds the sequence
 * column (and _sdc_deleted_at for soft deletes) as the caller, makes the
 * key state table and fills it from the rows already there (each a
 * position 1, 2, ..., below any later one), installs the TRUNCATE trigger,
 * and writes the catalog row; registering again with other options changes
 * them (a new key only while the table has no tombstones; a new sequence
 * column rebuilds the key state).  Unregistering drops what registration
 * made, but the added columns.
 *
 * Rights (rights.c has the whole argument): the caller must own the table.
 * The key state is made by the extension's owner in _sequenced, then given
 * to the table's owner, so that VACUUM, ANALYZE and index builds of it run
 * the code of the key's types as that owner.  The backfill reads the table
 * in C, straight from every leaf's heap, as the table's owner: no statement
 * naming the table is planned as anyone but the caller or its owner.
 *
 * Locking: registration takes ShareRowExclusiveLock on the table (no
 * writes while the key state is filled); ALTER TABLE upgrades it when a
 * column must be added.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/tablespace.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/readfuncs.h"
#include "nodes/value.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_register);
PG_FUNCTION_INFO_V1(sequenced_unregister);
PG_FUNCTION_INFO_V1(sequenced_purge_tombstones);

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

/* ----------------------------------------------------------------
 * registration
 * ---------------------------------------------------------------- */

/* A text argument that must not be NULL (the consumer functions use it too) */
char *
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
							colname, get_rel_name(relid), typname, format_type_be(atttypid)),
					 record_errrelcol(relid, colname)));
		if (gen)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_DEFINITION),
					 errmsg("column \"%s\" of table \"%s\" must not be a generated or identity column",
							colname, get_rel_name(relid)),
					 record_errrelcol(relid, colname)));
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
	rights_begin_internal(&save_userid, &save_sec);
	if (present)
		spi_exec(psprintf("CREATE TRIGGER %s AFTER TRUNCATE ON %s FOR EACH STATEMENT "
						  "EXECUTE FUNCTION _sequenced.on_truncate()",
						  TRUNCATE_TRIGGER, qual), SPI_OK_UTILITY);
	else
		spi_exec(psprintf("DROP TRIGGER %s ON %s", TRUNCATE_TRIGGER, qual), SPI_OK_UTILITY);
	rights_end_internal(save_userid, save_sec);
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
					eqops[i] = catalog_qualified_operator(eqopr);
			}
		index_close(irel, AccessShareLock);
	}
	list_free(indexes);
	relation_close(srel, AccessShareLock);
	for (int i = 0; i < nkeys; i++)
		if (eqops[i] == NULL)
			comparable = false;

	/* the deleted keys, as plain values */
	rights_begin_internal(&save_userid, &save_sec);
	rc = SPI_execute(psprintf("SELECT pg_catalog.array_agg(s) FROM _sequenced.%s s WHERE s.deleted",
							  quote_identifier(get_rel_name(cfg->state_rel))), true, 0);
	rights_end_internal(save_userid, save_sec);
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
	rights_begin_owner(RelationGetRelid(rel), &sw);
	rc = SPI_execute_with_args(q.data, 1, &arrtype, &arr, NULL, true, 1);
	rights_end_owner(&sw);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "failed to look for tombstones of table \"%s\"", RelationGetRelationName(rel));
	return SPI_processed > 0;
}

static void
sync_state_owner(Oid relid, Oid staterel)
{
	Oid			owner = rights_rel_owner(relid);
	Oid			save_userid;
	int			save_sec;

	if (!OidIsValid(staterel) || rights_rel_owner(staterel) == owner)
		return;
	rights_begin_internal(&save_userid, &save_sec);
	spi_execf(SPI_OK_UTILITY, "ALTER TABLE %s OWNER TO %s",
			  quote_qualified_identifier("_sequenced", get_rel_name(staterel)),
			  quote_identifier(GetUserNameFromId(owner, false)));
	rights_end_internal(save_userid, save_sec);
}

Datum
sequenced_register(PG_FUNCTION_ARGS)
{
	RegisterOptions opt;

	opt.seqcol = text_arg(fcinfo, 2, "sequence_column");
	opt.on_equal = text_arg(fcinfo, 3, "on_equal");
	opt.deletes = text_arg(fcinfo, 4, "deletes");
	opt.ordering = text_arg(fcinfo, 5, "ordering");
	/* (0.2's options; a 0.1 script's function has no such arguments) */
	opt.unchanged = PG_NARGS() > 6 ? text_arg(fcinfo, 6, "unchanged") : "write";
	if (PG_NARGS() > 7 && PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("history must not be null")));
	opt.history = PG_NARGS() > 7 ? PG_GETARG_BOOL(7) : false;
	opt.unknown_properties = PG_NARGS() > 8 ? text_arg(fcinfo, 8, "unknown_properties") : "error";
	opt.omitted = PG_NARGS() > 9 ? text_arg(fcinfo, 9, "omitted") : "default";
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	opt.primary_key = PG_ARGISNULL(1);
	opt.keys = opt.primary_key ? NIL : catalog_text_array_to_list(PG_GETARG_ARRAYTYPE_P(1));
	registry_register(PG_GETARG_OID(0), &opt);
	PG_RETURN_VOID();
}

/*
 * Register relid (again), as sequenced_register(relid, ...) does: the SQL
 * function, and sequenced_import for a table it made or found unregistered.
 * The caller has SPI connected, or not.
 */
void
registry_register(Oid relid, RegisterOptions *opt)
{
	List	   *keys = opt->keys;
	char	   *seqcol = opt->seqcol;
	char	   *on_equal = opt->on_equal;
	char	   *deletes = opt->deletes;
	char	   *ordering = opt->ordering;
	char	   *unchanged = opt->unchanged;
	Relation	rel;
	char		relkind;
	AttrNumber *keyatts;
	Oid			keyindex = InvalidOid;
	int			nkeys;
	ConfigRow	cfg;
	int			guclevel;
	ListCell   *lc;
	int			k;

	check_choice("on_equal", on_equal, "keep", "replace", "error");
	check_choice("deletes", deletes, "hard", "soft", NULL);
	check_choice("ordering", ordering, "per_key", "per_table", NULL);
	check_choice("unchanged", unchanged, "write", "skip", NULL);
	check_choice("unknown_properties", opt->unknown_properties, "error", "ignore", "column");
	check_choice("omitted", opt->omitted, "default", "keep", NULL);
	if (strlen(seqcol) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sequence_column must not be empty")));

	/* no writes while the state table is built; ALTER TABLE may upgrade */
	rel = catalog_open_target(relid, ShareRowExclusiveLock, RIGHTS_OWNER);
	relkind = rel->rd_rel->relkind;
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Only ordinary and partitioned tables can be registered."),
				 record_errrel(relid)));
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
				 errdetail("A temporary table is dropped at the end of its session without the event that removes its registration."),
				 record_errrel(relid)));
	check_owner(relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guclevel = rights_lockdown();
	(void) catalog_owner();

	/* the key */
	if (opt->primary_key)
	{
		Oid			pk = primary_key_index(rel);
		HeapTuple	tup;
		Form_pg_index idx;

		if (!OidIsValid(pk))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
					 errhint("Name the key with key_columns, or use key_columns => '{}' for an append-only table."),
					 record_errrel(relid)));
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
		idx = (Form_pg_index) GETSTRUCT(tup);
		for (int i = 0; i < idx->indnkeyatts; i++)
			keys = lappend(keys, pstrdup(get_attname(relid, idx->indkey.values[i], false)));
		ReleaseSysCache(tup);
	}

	nkeys = list_length(keys);
	if (nkeys == 0 && opt->history)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an append-only table has no history"),
				 errdetail("History keeps the versions of each key; table \"%s\" has no key.",
						   RelationGetRelationName(rel)),
				 record_errrel(relid)));
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
							RelationGetRelationName(rel)),
					 record_errrel(relid)));
		for (int j = 0; j < k; j++)
			if (keyatts[j] == attnum)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("key column \"%s\" is named twice", name),
						 record_errrelcol(relid, name)));
		att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		if (att->attgenerated != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("key column \"%s\" is a generated column", name),
					 errdetail("Key columns are set by the data."),
					 record_errrelcol(relid, name)));
		if (att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("key column \"%s\" is a GENERATED ALWAYS identity column", name),
					 errdetail("Key columns are set by the data; a GENERATED BY DEFAULT identity column can be a key."),
					 record_errrelcol(relid, name)));
		if (strcmp(name, seqcol) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("the sequence column \"%s\" cannot be a key column", name),
					 record_errrelcol(relid, name)));
		keyatts[k++] = attnum;
	}
	if (nkeys > 0)
	{
		bool		deferrable;

		keyindex = catalog_find_key_index(rel, nkeys, keyatts, &deferrable);
		if (deferrable)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("a unique index over the key columns of table \"%s\" is deferrable",
							RelationGetRelationName(rel)),
					 errdetail("Conflicts are decided as INSERT ... ON CONFLICT decides them, which refuses a deferrable unique index over its conflict columns."),
					 errhint("Make the key's primary key or unique constraint NOT DEFERRABLE."),
					 record_errrel(relid)));
		if (!OidIsValid(keyindex))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("no unique index of table \"%s\" covers exactly the key columns",
							RelationGetRelationName(rel)),
					 errdetail("The key must be covered by a unique, non-partial index on plain columns (the primary key or a unique index) over exactly the key columns."),
					 record_errrel(relid)));
	}

	/* ALTER TABLE refuses to run while we hold the relation open */
	relation_close(rel, NoLock);
	/* (a timestamptz sequence column is the table's, never made by us) */
	{
		Oid			seqtype = get_atttype(relid, get_attnum(relid, seqcol));

		if (OidIsValid(seqtype) && seqtype != INT8OID && seqtype != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of table \"%s\" must be of type bigint or timestamp with time zone, not %s",
							seqcol, get_rel_name(relid), format_type_be(seqtype)),
					 record_errrelcol(relid, seqcol)));
		(void) ensure_column(relid, seqcol, seqtype == TIMESTAMPTZOID ? TIMESTAMPTZOID : INT8OID,
							 seqtype == TIMESTAMPTZOID ? "timestamp with time zone" : "bigint");
	}
	if (strcmp(deletes, "soft") == 0)
		(void) ensure_column(relid, SEQ_DELETED_AT_COLUMN, TIMESTAMPTZOID, "timestamp with time zone");
	if (strcmp(opt->unknown_properties, "column") == 0)
		(void) ensure_column(relid, SEQ_EXTRA_COLUMN, JSONBOID, "jsonb");
	rel = relation_open(relid, NoLock);

	cfg = catalog_read_config(relid);
	if (cfg.found &&
		lists_equal(cfg.key_columns, keys) &&
		strcmp(cfg.sequence_column, seqcol) == 0 &&
		strcmp(cfg.on_equal, on_equal) == 0 &&
		strcmp(cfg.deletes, deletes) == 0 &&
		strcmp(cfg.ordering, ordering) == 0 &&
		strcmp(cfg.unchanged, unchanged) == 0 &&
		cfg.history == opt->history &&
		strcmp(cfg.unknown_properties, opt->unknown_properties) == 0 &&
		strcmp(cfg.omitted, opt->omitted) == 0)
	{
		/* same options: nothing to do */
	}
	else
	{
		Oid			staterel = cfg.found ? cfg.state_rel : InvalidOid;
		Oid			save_userid;
		int			save_sec;
		Oid			argtypes[12] = {OIDOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID,
		OIDOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID};
		Datum		args[12];
		char		nulls[12] = "            ";
		int			rc;
		Oid			logrel = cfg.found ? cfg.log_rel : InvalidOid;
		bool		sparse = catalog_sparse(relkind, strcmp(unchanged, "skip") == 0, opt->history);

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
						 errhint("Purge them first with sequenced_purge_tombstones()."),
						 record_errrel(relid)));
			drop_state_table(cfg.state_rel, cfg.log_rel);
			staterel = InvalidOid;
		}
		if (cfg.found && strcmp(cfg.sequence_column, seqcol) != 0 && OidIsValid(staterel))
		{
			/* the stored sequences come from the new column */
			drop_state_table(staterel, logrel);
			staterel = InvalidOid;
		}
		if (!OidIsValid(staterel))
			staterel = create_state_table(rel, nkeys, keyatts, keyindex, seqcol,
										  strcmp(deletes, "soft") == 0, sparse, &logrel);
		else if (!sparse && nkeys > 0 &&
				 catalog_sparse(rel->rd_rel->relkind, cfg.found && strcmp(cfg.unchanged, "skip") == 0,
								cfg.found && cfg.history))
			/* from sparse (a plain table registered with 'write'): every key needs one now */
			fill_missing_state(rel, staterel, nkeys, keyatts, seqcol, strcmp(deletes, "soft") == 0);

		args[0] = ObjectIdGetDatum(relid);
		args[1] = list_to_text_array(keys);
		args[2] = CStringGetTextDatum(seqcol);
		args[3] = CStringGetTextDatum(on_equal);
		args[4] = CStringGetTextDatum(deletes);
		args[5] = CStringGetTextDatum(ordering);
		args[6] = ObjectIdGetDatum(staterel);
		args[7] = ObjectIdGetDatum(logrel);
		if (!OidIsValid(logrel))
			nulls[7] = 'n';
		args[8] = CStringGetTextDatum(unchanged);
		args[9] = BoolGetDatum(opt->history);
		args[10] = CStringGetTextDatum(opt->unknown_properties);
		args[11] = CStringGetTextDatum(opt->omitted);
		rights_begin_internal(&save_userid, &save_sec);
		rc = SPI_execute_with_args(cfg.found ?
								   "UPDATE _sequenced.config SET key_columns = $2, sequence_column = $3, "
								   "on_equal = $4, deletes = $5, ordering = $6, state_rel = $7::pg_catalog.oid::pg_catalog.regclass, "
								   "log_rel = $8::pg_catalog.oid::pg_catalog.regclass, unchanged = $9, history = $10, "
								   "unknown_properties = $11, omitted = $12 "
								   "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass" :
								   "INSERT INTO _sequenced.config (relid, key_columns, sequence_column, on_equal, deletes, ordering, "
								   "state_rel, log_rel, unchanged, history, unknown_properties, omitted) "
								   "VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2, $3, $4, $5, $6, "
								   "$7::pg_catalog.oid::pg_catalog.regclass, $8::pg_catalog.oid::pg_catalog.regclass, $9, $10, $11, $12)",
								   12, argtypes, args, nulls, false, 0);
		rights_end_internal(save_userid, save_sec);
		if (rc != SPI_OK_INSERT && rc != SPI_OK_UPDATE)
			elog(ERROR, "failed to write _sequenced.config: %s", SPI_result_code_string(rc));
		CacheInvalidateRelcacheByRelid(relid);
	}
	/* history (history.c): made, or completed with the columns the table gained */
	if (opt->history)
	{
		Oid			known = cfg.found ? cfg.history_rel : InvalidOid;
		Oid			hist = history_register(rel, nkeys, keyatts, keyindex, known, seqcol,
											strcmp(deletes, "soft") == 0);

		if (hist != known)
		{
			Oid			argtypes[2] = {OIDOID, OIDOID};
			Datum		args[2] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(hist)};
			Oid			save_userid;
			int			save_sec;

			rights_begin_internal(&save_userid, &save_sec);
			if (SPI_execute_with_args("UPDATE _sequenced.config SET history_rel = $2::pg_catalog.regclass "
									  "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
									  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "failed to write _sequenced.config");
			rights_end_internal(save_userid, save_sec);
			CacheInvalidateRelcacheByRelid(relid);
		}
	}
	relation_close(rel, NoLock);
	cfg = catalog_read_config(relid);
	sync_state_owner(relid, cfg.state_rel);
	sync_state_owner(relid, cfg.log_rel);
	ensure_truncate_trigger(relid, true);

	AtEOXact_GUC(true, guclevel);
	SPI_finish();
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
	table_close(catalog_open_table(relid, ShareRowExclusiveLock, RIGHTS_OWNER), NoLock);
	check_owner(relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guclevel = rights_lockdown();
	cfg = catalog_read_config(relid);
	if (!cfg.found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not registered with pg_sequenced",
						get_rel_name(relid)),
				 record_errrel(relid)));
	drop_state_table(cfg.state_rel, cfg.log_rel);
	ensure_truncate_trigger(relid, false);
	rights_begin_internal(&save_userid, &save_sec);
	SPI_execute_with_args("DELETE FROM _sequenced.config WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass",
						  1, argtypes, args, NULL, false, 0);
	rights_end_internal(save_userid, save_sec);
	maxlog_forget(relid);
	CacheInvalidateRelcacheByRelid(relid);

	AtEOXact_GUC(true, guclevel);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Drop the tombstones older than before: deleted keys with no row at all
 * (a soft-deleted row is a row), whatever the caller's row-level security
 * would show -- so it is refused to a caller it limits, whose policies can
 * judge no tombstone.  The key state is read and written straight through
 * its heap, and each key looked up through the table's key index
 * (keyprobe.c): no statement names the table.  A key a concurrent call is
 * applying is left alone (its state row is locked: the purge waits for it,
 * then finds it changed).  The change log is compacted after them.
 * Tombstones that a consumer of the table has yet to receive, or to
 * acknowledge, stay (consumer.c: a consumer reads a delete back from its
 * tombstone); a NOTICE says how many.
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
	ConsumerHold *hold;
	int64		kept = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target and before_seq must not be null")));
	relid = PG_GETARG_OID(0);
	before = PG_GETARG_INT64(1);

	rel = catalog_open_target(relid, RowExclusiveLock, RIGHTS_DELETE);
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
				 errhint("Purge them as the table's owner, or as a role that bypasses row-level security."),
				 record_errtable(st)));
	if (st->nkeys > 0)
	{
		PreventCommandIfReadOnly("sequenced_purge_tombstones()");
		/* (statements: before the command id the deletes use) */
		hold = consumer_hold_begin(st);
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
				Datum		pos = slot_getattr(slot, st->nkeys + 2, &isnull);

				/* a consumer has yet to receive it, or to acknowledge it */
				if (consumer_hold_keeps(hold, isnull ? 0 : DatumGetInt64(pos), keyvals))
				{
					kept++;
					continue;
				}
				if (table_tuple_delete(srel, &slot->tts_tid, cid, snap, InvalidSnapshot,
									   true, &tmfd, false) == TM_Ok)
					count++;
			}
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		table_close(srel, NoLock);
		keyprobe_end(kp);
		consumer_hold_end(hold);
		UnregisterSnapshot(snap);
		if (kept > 0)
			ereport(NOTICE,
					(errmsg_plural("kept %lld tombstone of table %s that a consumer has not acknowledged",
								   "kept %lld tombstones of table %s that consumers have not acknowledged",
								   kept, (long long) kept, st->relname),
					 errhint("They are purged once every consumer of the table has acknowledged them.")));

		/*
		 * The log's entries of those keys go too (with every other entry
		 * that is no longer current): a key brought back by a late record
		 * must not meet an old entry at its sequence (changelog.c)
		 */
		CommandCounterIncrement();
		snap = RegisterSnapshot(GetLatestSnapshot());
		(void) changelog_compact(st, snap);
		UnregisterSnapshot(snap);
	}
	catalog_close(st);
	table_close(rel, NoLock);
	SPI_finish();
	PG_RETURN_INT64(count);
}
