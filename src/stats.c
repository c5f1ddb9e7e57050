/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Metrics: what the calls of each registered table did, and what the
 *		last call of this session did.
 *
 * What it owns:
 *	- _PG_init: the module's settings (pg_sequenced.track_stats,
 *	  pg_sequenced.stats_max) and, when the library is preloaded through
 *	  shared_preload_libraries, the shared memory of the counters;
 *	- stats_count, which every call that applies records passes once, at
 *	  the end of apply_batch (apply.c), with the outcome of every message
 *	  decided: the staging trigger, sequenced_import and
 *	  sequenced_delete_missing go through it like sequenced_upsert and
 *	  sequenced_delete;
 *	- the counters behind the view sequenced_stats, sequenced_stats_reset
 *	  and sequenced_last_call.
 *
 * Where the counts live.  Preloaded, in a fixed-size shared hash keyed by
 * (database, table), pg_stat_statements' way: the counts of the whole
 * cluster, since the server started or the last reset (they are not saved
 * across a restart, and a crash loses them too).  Not preloaded, in a hash
 * of this backend: the counts of this session only, and the view says so
 * (scope 'session' instead of 'cluster').
 *
 * Cost.  A call counts its messages' outcomes into a local array (one pass
 * over the messages, nothing else per message), then adds that array to its
 * table's entry once: one shared LWLock acquisition and one spinlock per
 * call, never per message.
 *
 * Locking (preloaded).  StatsShared->lock guards the hash's shape: shared to
 * find an entry (and to read the counts), exclusive to add, evict or remove
 * entries.  An entry's counts are guarded by its spinlock, so that calls of
 * different backends add to the same entry under the shared lock at once.
 * No catalog is read and nothing can fail while the LWLock is held: the
 * rights of a reader or a reset are checked before it is taken.
 *
 * Entries.  An entry is made at a table's first call after a start or a
 * reset.  An entry whose table was dropped or unregistered is not shown (the
 * view reads only registered tables that exist); sequenced_stats_reset()
 * removes every entry of the database, those included.  When the hash is
 * full, the entry whose last call is the oldest (in any database) makes
 * room for a new table: the counts of a table called again after that start
 * from zero.  (A new table that gets a dropped table's oid takes over its
 * counts until a reset: oids are reused only after they wrap around.)
 *
 * The counts are not transactional: a call counts once its records are
 * applied, whether or not its transaction then commits, as the
 * pg_stat_statements counters do; a call that fails before the end of
 * apply_batch counts nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_sequenced.h"

PG_FUNCTION_INFO_V1(sequenced_stats_of);
PG_FUNCTION_INFO_V1(sequenced_stats_reset);
PG_FUNCTION_INFO_V1(sequenced_last_call);

void		_PG_init(void);

/* The counts of one table, or of one call */
typedef struct StatsCounts
{
	int64		calls;
	int64		messages;
	int64		outcomes[OUT_LAST + 1]; /* by Outcome; OUT_NONE unused */
	TimestampTz last_call;		/* 0: none */
} StatsCounts;

typedef struct StatsKey
{
	Oid			dbid;
	Oid			relid;
} StatsKey;

typedef struct StatsEntry
{
	StatsKey	key;			/* the hash key: first */
	slock_t		mutex;			/* guards counts (shared memory only) */
	StatsCounts counts;
} StatsEntry;

typedef struct StatsShared
{
	LWLock	   *lock;
} StatsShared;

/* settings */
static bool stats_track = true;
static int	stats_max = 1000;

/* shared memory (NULL: not preloaded, the counts are this session's) */
static StatsShared *stats_shared = NULL;
static HTAB *stats_shared_hash = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* this session's counts (not preloaded), keyed by (MyDatabaseId, relid) */
static HTAB *stats_local_hash = NULL;

/* the last call of this session */
static bool last_valid = false;
static Oid	last_relid = InvalidOid;
static StatsCounts last_counts;

static Size
stats_memsize(void)
{
	return add_size(MAXALIGN(sizeof(StatsShared)),
					hash_estimate_size(stats_max, sizeof(StatsEntry)));
}

static void
stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(stats_memsize());
	RequestNamedLWLockTranche("pg_sequenced", 1);
}

static void
stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	/* a restart within the postmaster (after a crash) starts afresh */
	stats_shared = NULL;
	stats_shared_hash = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shared = ShmemInitStruct("pg_sequenced stats", sizeof(StatsShared), &found);
	if (!found)
		stats_shared->lock = &(GetNamedLWLockTranche("pg_sequenced"))->lock;
	info.keysize = sizeof(StatsKey);
	info.entrysize = sizeof(StatsEntry);
	stats_shared_hash = ShmemInitHash("pg_sequenced stats hash", stats_max, stats_max,
									  &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	DefineCustomBoolVariable("pg_sequenced.track_stats",
							 "Counts the outcomes of the calls of each registered table.",
							 "Off: sequenced_stats and sequenced_last_call count nothing more.",
							 &stats_track,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	/* (a PGC_POSTMASTER setting can be made only while preloading) */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("pg_sequenced.stats_max",
								"The number of tables whose counts shared memory keeps.",
								NULL,
								&stats_max,
								1000,
								10,
								INT_MAX / 2,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	MarkGUCPrefixReserved("pg_sequenced");

	/* not preloaded: the counts are this session's */
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
}

static void
stats_add(StatsCounts *to, const StatsCounts *add)
{
	to->calls += add->calls;
	to->messages += add->messages;
	for (int o = 0; o <= OUT_LAST; o++)
		to->outcomes[o] += add->outcomes[o];
	if (add->last_call > to->last_call)
		to->last_call = add->last_call;
}

/*
 * Make room for one more entry: remove the one whose last call is the
 * oldest.  The caller holds the lock exclusively.
 */
static void
stats_evict_one(void)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *e;
	StatsKey	victim;
	TimestampTz oldest = 0;
	bool		any = false;

	memset(&victim, 0, sizeof(victim));

	hash_seq_init(&seq, stats_shared_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (!any || e->counts.last_call < oldest)
		{
			victim = e->key;
			oldest = e->counts.last_call;
			any = true;
		}
	}
	if (any)
		hash_search(stats_shared_hash, &victim, HASH_REMOVE, NULL);
}

/* Add a call's counts to its table's shared entry */
static void
stats_shared_add(const StatsKey *key, const StatsCounts *add)
{
	StatsEntry *e;

	LWLockAcquire(stats_shared->lock, LW_SHARED);
	e = hash_search(stats_shared_hash, key, HASH_FIND, NULL);
	if (e == NULL)
	{
		bool		found;

		/* the table's first call: make its entry, which takes the lock alone */
		LWLockRelease(stats_shared->lock);
		LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
		e = hash_search(stats_shared_hash, key, HASH_FIND, NULL);
		if (e == NULL)
		{
			if (hash_get_num_entries(stats_shared_hash) >= stats_max)
				stats_evict_one();
			e = hash_search(stats_shared_hash, key, HASH_ENTER_NULL, &found);
			if (e == NULL)
			{
				/* (cannot happen: there is room for stats_max entries) */
				LWLockRelease(stats_shared->lock);
				return;
			}
			SpinLockInit(&e->mutex);
			memset(&e->counts, 0, sizeof(e->counts));
		}
	}
	SpinLockAcquire(&e->mutex);
	stats_add(&e->counts, add);
	SpinLockRelease(&e->mutex);
	LWLockRelease(stats_shared->lock);
}

static HTAB *
stats_local(void)
{
	if (stats_local_hash == NULL)
	{
		HASHCTL		info;

		info.keysize = sizeof(StatsKey);
		info.entrysize = sizeof(StatsEntry);
		info.hcxt = TopMemoryContext;
		stats_local_hash = hash_create("pg_sequenced session stats", 64, &info,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return stats_local_hash;
}

/*
 * The one hook of the apply pipeline: apply_batch calls it once per call,
 * when the outcome of each of the batch's messages is decided (also for a
 * batch without messages).
 */
void
stats_count(Batch *b)
{
	StatsCounts add;
	StatsKey	key;

	if (!stats_track)
		return;
	memset(&add, 0, sizeof(add));
	for (int i = 0; i < b->nmsgs; i++)
	{
		uint8		o = b->msgs[i].outcome;

		if (o <= OUT_LAST)
			add.outcomes[o]++;
	}
	add.calls = 1;
	add.messages = b->nmsgs;
	add.last_call = GetCurrentTimestamp();

	last_valid = true;
	last_relid = b->st->relid;
	last_counts = add;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.relid = b->st->relid;
	if (stats_shared != NULL)
		stats_shared_add(&key, &add);
	else
	{
		bool		found;
		StatsEntry *e = hash_search(stats_local(), &key, HASH_ENTER, &found);

		if (!found)
			memset(&e->counts, 0, sizeof(e->counts));
		stats_add(&e->counts, &add);
	}
}

/* The caller may read the table: SELECT on it or on a column of it */
static bool
stats_may_read(Oid relid)
{
	Oid			roleid = GetUserId();

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	return pg_class_aclcheck(relid, roleid, ACL_SELECT) == ACLCHECK_OK ||
		pg_attribute_aclcheck_all(relid, roleid, ACL_SELECT, ACLMASK_ANY) == ACLCHECK_OK;
}

/* The counts of (this database, relid), or zeros; the shared lock is held */
static void
stats_lookup(HTAB *hash, Oid relid, StatsCounts *out, bool shared)
{
	StatsKey	key;
	StatsEntry *e;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.relid = relid;
	e = hash == NULL ? NULL : hash_search(hash, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		memset(out, 0, sizeof(*out));
		return;
	}
	if (shared)
		SpinLockAcquire(&e->mutex);
	*out = e->counts;
	if (shared)
		SpinLockRelease(&e->mutex);
}

static void
stats_put_counts(Datum *values, bool *nulls, int at, const StatsCounts *c)
{
	values[at++] = Int64GetDatum(c->messages);
	values[at++] = Int64GetDatum(c->outcomes[OUT_INSERTED]);
	values[at++] = Int64GetDatum(c->outcomes[OUT_UPDATED]);
	values[at++] = Int64GetDatum(c->outcomes[OUT_UNCHANGED]);
	values[at++] = Int64GetDatum(c->outcomes[OUT_DELETED]);
	values[at++] = Int64GetDatum(c->outcomes[OUT_STALE]);
	values[at++] = Int64GetDatum(c->outcomes[OUT_SUPERSEDED]);
	if (c->last_call == 0)
		nulls[at] = true;
	else
		values[at] = TimestampTzGetDatum(c->last_call);
}

/*
 * sequenced_stats_of(tables regclass[]), under the view sequenced_stats
 * (which passes every registered table): one row per table of the array
 * that exists and that the caller may read, in the array's order, with
 * zeros for a table not called since the last reset.  The rights are
 * checked first; then the lock is taken once.
 */
Datum
sequenced_stats_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	Oid		   *relids;
	StatsCounts *counts;
	int			n = 0;
	bool		shared = stats_shared != NULL;
	Datum		scope = CStringGetTextDatum(shared ? "cluster" : "session");

	call_init_srf(fcinfo);
	deconstruct_array(arr, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &elemnulls, &nelems);
	relids = palloc(sizeof(Oid) * Max(nelems, 1));
	counts = palloc(sizeof(StatsCounts) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		Oid			relid = DatumGetObjectId(elems[i]);

		if (!elemnulls[i] && stats_may_read(relid))
			relids[n++] = relid;
	}

	if (shared)
		LWLockAcquire(stats_shared->lock, LW_SHARED);
	for (int i = 0; i < n; i++)
		stats_lookup(shared ? stats_shared_hash : stats_local_hash, relids[i], &counts[i], shared);
	if (shared)
		LWLockRelease(stats_shared->lock);

	for (int i = 0; i < n; i++)
	{
		Datum		values[11];
		bool		nulls[11];

		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(relids[i]);
		values[1] = scope;
		values[2] = Int64GetDatum(counts[i].calls);
		stats_put_counts(values, nulls, 3, &counts[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * sequenced_stats_reset(target regclass DEFAULT NULL): forget the counts of
 * one table (its owner may), or of every table of this database, those
 * dropped or unregistered included (a role with the privileges of the
 * extension's owner may: a superuser, as a rule).  Not preloaded, only this
 * session's counts are there to forget.
 */
Datum
sequenced_stats_reset(PG_FUNCTION_ARGS)
{
	bool		all = PG_ARGISNULL(0);
	Oid			relid = all ? InvalidOid : PG_GETARG_OID(0);
	Oid			extowner = catalog_owner();
	bool		extpriv = has_privs_of_role(GetUserId(), extowner);
	HTAB	   *hash = stats_shared != NULL ? stats_shared_hash : stats_local_hash;

	if (all)
	{
		if (!extpriv)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to reset the counts of every table"),
					 errdetail("Only roles with the privileges of role \"%s\", which owns extension \"pg_sequenced\", may.",
							   GetUserNameFromId(extowner, false)),
					 errhint("Reset the counts of a table you own with sequenced_stats_reset(table).")));
	}
	else
	{
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", relid)));
		if (!extpriv && !pg_class_ownercheck(relid, GetUserId()))
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));
	}

	if (hash == NULL)
		PG_RETURN_VOID();
	if (stats_shared != NULL)
		LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
	if (all)
	{
		HASH_SEQ_STATUS seq;
		StatsEntry *e;

		/* removing the entry just returned is allowed during a scan */
		hash_seq_init(&seq, hash);
		while ((e = hash_seq_search(&seq)) != NULL)
			if (e->key.dbid == MyDatabaseId)
				hash_search(hash, &e->key, HASH_REMOVE, NULL);
	}
	else
	{
		StatsKey	key;

		memset(&key, 0, sizeof(key));
		key.dbid = MyDatabaseId;
		key.relid = relid;
		hash_search(hash, &key, HASH_REMOVE, NULL);
	}
	if (stats_shared != NULL)
		LWLockRelease(stats_shared->lock);
	PG_RETURN_VOID();
}

/*
 * sequenced_last_call(): the counts of this session's last call (none
 * before its first), whatever became of its transaction -- what a COPY
 * into a staging table did, without a NOTICE.
 */
Datum
sequenced_last_call(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[9];
	bool		nulls[9];

	call_init_srf(fcinfo);
	if (!last_valid)
		return (Datum) 0;
	/*
	 * (only to a role that may read the table: a call made through another
	 * role's SECURITY DEFINER function, or before SET ROLE, is not the
	 * current role's to see)
	 */
	if (!stats_may_read(last_relid))
		return (Datum) 0;		/* (or dropped since) */
	memset(nulls, 0, sizeof(nulls));
	values[0] = ObjectIdGetDatum(last_relid);
	stats_put_counts(values, nulls, 1, &last_counts);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
