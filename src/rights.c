/*-------------------------------------------------------------------------
 *
 * rights.c
 *		Who runs what: the caller's rights checked, the switches to the
 *		extension's owner and to a table's owner, and the settings every
 *		statement of the functions runs with (search_path pinned).
 *
 * The argument.  No code that a role can attach to its own table or types
 * (a cast to json, a range type's subtype_diff, a domain's CHECK, a
 * DEFAULT, an implicit cast, the immutable functions of index expressions,
 * partial-index predicates, extended statistics and partition constraints,
 * which the planner folds) ever runs with more rights than that table's
 * owner has:
 *	- The SQL-callable functions run as the caller: they read and write the
 *	  caller's tables with the caller's rights (checked up front: 42501), and
 *	  row-level security applies.  Keys and records become JSON here, as the
 *	  caller, as a SELECT of to_jsonb(t.*) would.
 *	- The catalog (config, max_log, settings) belongs to the extension's
 *	  owner; no other role has any right on it.  Statements on it run as the
 *	  extension's owner (rights_begin_internal) and touch no value of a
 *	  user's type and no user's table: oids, names, options, sequences,
 *	  positions.
 *	- Each table's key state (_sequenced.state_<n>) belongs to the table's
 *	  owner, and follows it (registration, and the event trigger on ALTER
 *	  TABLE): VACUUM, ANALYZE, CLUSTER and index builds run as a table's
 *	  owner, under SECURITY_RESTRICTED_OPERATION, so the code of the key's
 *	  types they call is the owner's own.  No role has USAGE on _sequenced,
 *	  so not even the owner can name its key state: it is written only
 *	  through these functions.
 *	- No statement that names a user's table is planned as anyone but the
 *	  caller or the table's owner: planning runs the owner's code.  What
 *	  must see past the caller's row-level security reads the table in C,
 *	  through its heap or its key index (whose comparisons are those of
 *	  operator classes, which only superusers make): registration's
 *	  backfill (as the table's owner under SECURITY_RESTRICTED_OPERATION,
 *	  rights_begin_owner, which also runs the key state's index
 *	  comparisons and to_jsonb() of append-only rows), purge, the
 *	  hidden-row check of deletes (keyprobe.c).  The key-change check is a
 *	  query as the table's owner; a key column whose type changed is never
 *	  compared (an implicit cast would be its owner's code).
 *
 * Settings: search_path is pinned to pg_catalog, pg_temp just before a
 * call's first statement (rights_pin_path; a call that runs none, a replay
 * of stale records, never pays for it), all generated SQL is fully
 * qualified and quoted, and the planner is kept to index probes (cached
 * generic plans, often first made while a table was still empty).
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

/*
 * Switch to the extension's owner for statements on internal tables.  The
 * switch is undone by rights_end_internal, or by (sub)transaction abort.
 */
void
rights_begin_internal(Oid *save_userid, int *save_sec)
{
	Oid			owner = catalog_owner();

	rights_pin_path();
	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(owner, *save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
rights_end_internal(Oid save_userid, int save_sec)
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
 * it makes.  Undone by rights_end_owner, or by (sub)transaction abort.
 */
void
rights_begin_owner(Oid relid, OwnerSwitch *sw)
{
	sw->owner = rights_rel_owner(relid);
	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec);
	SetUserIdAndSecContext(sw->owner, sw->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	sw->save_nest = NewGUCNestLevel();
}

void
rights_end_owner(OwnerSwitch *sw)
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
rights_lockdown_path(void)
{
	int			level = NewGUCNestLevel();

	rights_pin_path();
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
rights_pin_path(void)
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
rights_guc_planner(void)
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
rights_lockdown(void)
{
	int			level = rights_lockdown_path();

	rights_guc_planner();
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
rights_check_read(SeqTable *st)
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
rights_check_write(SeqTable *st, bool need_delete)
{
	require_table_right(st, ACL_SELECT);
	require_table_right(st, ACL_INSERT);
	require_table_right(st, ACL_UPDATE);
	if (need_delete)
		require_table_right(st, ACL_DELETE);
}

/*
 * What deleting keys by sequenced_delete_missing needs: SELECT, and DELETE
 * (hard deletes) or UPDATE (soft deletes mark the row)
 */
void
rights_check_delete(SeqTable *st)
{
	require_table_right(st, ACL_SELECT);
	require_table_right(st, st->soft_deletes ? ACL_UPDATE : ACL_DELETE);
}

/*
 * The state table belongs to the table's owner (see create_state_table):
 * after ALTER TABLE ... OWNER TO, registration and the event trigger
 * _sequenced.on_ddl_end give it to the new owner.
 */
Oid
rights_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * The rights a function needs on a table, checked before the table is
 * locked, as LOCK and ALTER TABLE check them: a role must not be able to
 * queue a lock on a table it has no business with (a catalog, another
 * role's table), blocking everyone behind it while it waits.  Checked again
 * after the lock is taken (rights_check_write, rights_check_read, the
 * ownership checks of registration), against what the table is then.
 */
/* The right on the whole table: granted on it, or on each of its columns */
static bool
has_table_right(Oid relid, Oid roleid, AclMode mode)
{
	return pg_class_aclcheck(relid, roleid, mode) == ACLCHECK_OK ||
		pg_attribute_aclcheck_all(relid, roleid, mode, ACLMASK_ALL) == ACLCHECK_OK;
}

void
rights_precheck(Oid relid, RightsNeed need)
{
	Oid			roleid = GetUserId();
	bool		ok = true;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (need == RIGHTS_OWNER)
	{
		if (!pg_class_ownercheck(relid, roleid))
			aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
						   get_rel_name(relid));
		return;
	}
	if (need == RIGHTS_READ || need == RIGHTS_DELETE_MISSING)
		ok = pg_class_aclcheck(relid, roleid, ACL_SELECT) == ACLCHECK_OK ||
			pg_attribute_aclcheck_all(relid, roleid, ACL_SELECT, ACLMASK_ANY) == ACLCHECK_OK;
	if (need == RIGHTS_WRITE)
		ok = has_table_right(relid, roleid, ACL_SELECT) && has_table_right(relid, roleid, ACL_INSERT) &&
			has_table_right(relid, roleid, ACL_UPDATE);
	if (need == RIGHTS_DELETE)
		ok = has_table_right(relid, roleid, ACL_DELETE);
	/* (a hard delete or a soft one: the registration says, read after the lock) */
	if (need == RIGHTS_DELETE_MISSING)
		ok = ok && (has_table_right(relid, roleid, ACL_DELETE) || has_table_right(relid, roleid, ACL_UPDATE));
	if (!ok)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)), get_rel_name(relid));
}
