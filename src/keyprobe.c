/*-------------------------------------------------------------------------
 *
 * keyprobe.c
 *		Does a registered table hold a row for a key?  Asked in C, through
 *		the table's unique key index (each leaf partition's, for a
 *		partitioned table), never by a statement.
 *
 * Used where the answer must not depend on the caller's row-level security
 * (a tombstone is purged only when no row at all has its key; a delete that
 * finds no row the caller can see must know whether a hidden one is there),
 * and so cannot be a query as the caller, while a query as anyone else
 * would be planned as them -- and planning runs the table owner's code (the
 * immutable functions of index expressions, partial index predicates,
 * extended statistics and partition constraints are folded by the planner).
 * An index scan runs no such code: only the comparisons of the key index's
 * operator classes, which only superusers can make, as the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupconvert.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "nodes/pg_list.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "pg_sequenced.h"

typedef struct KeyLeaf
{
	Relation	rel;			/* a leaf relation */
	Relation	irel;			/* ... and its index of the key */
	int			keyof[INDEX_MAX_KEYS];	/* index column -> key column */
	TupleTableSlot *slot;
	TupleConversionMap *map;	/* leaf row -> table row (NULL: same), for fetches */
	bool		mapped;
} KeyLeaf;

struct KeyProbe
{
	SeqTable   *st;
	List	   *leaves;			/* of KeyLeaf * */
};

/* The leaves of rel (itself, if not partitioned) with their key index */
static void
collect_leaves(KeyProbe *kp, Relation rel, Oid indexid)
{
	List	   *children;
	ListCell   *lc;

	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
	{
		KeyLeaf    *leaf = palloc0(sizeof(KeyLeaf));
		SeqTable   *st = kp->st;

		leaf->rel = table_open(RelationGetRelid(rel), AccessShareLock);
		leaf->irel = index_open(indexid, AccessShareLock);
		leaf->slot = table_slot_create(leaf->rel, NULL);
		/* the index's columns, in its order, are the key's (by name in a leaf) */
		for (int c = 0; c < leaf->irel->rd_index->indnkeyatts; c++)
		{
			const char *name = get_attname(RelationGetRelid(rel),
										   leaf->irel->rd_index->indkey.values[c], false);
			int			k = 0;

			while (k < st->nkeys && strcmp(st->key_names[k], name) != 0)
				k++;
			if (k == st->nkeys || leaf->irel->rd_index->indnkeyatts != st->nkeys)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("index \"%s\" of a partition of table %s does not cover the key",
								RelationGetRelationName(leaf->irel), st->relname),
						 errhint("Every partition's index under the key index must cover the key columns, and only them."),
						 record_errtable(st)));
			leaf->keyof[c] = k;
		}
		kp->leaves = lappend(kp->leaves, leaf);
		return;
	}
	children = find_inheritance_children(RelationGetRelid(rel), AccessShareLock);
	foreach(lc, children)
	{
		Relation	child = table_open(lfirst_oid(lc), AccessShareLock);
		Oid			childindex = index_get_partition(child, indexid);

		/* (every partition has one: the parent's unique index requires it) */
		if (OidIsValid(childindex))
			collect_leaves(kp, child, childindex);
		table_close(child, NoLock);
	}
}

KeyProbe *
keyprobe_begin(SeqTable *st)
{
	KeyProbe   *kp = palloc0(sizeof(KeyProbe));
	Relation	rel = table_open(st->relid, AccessShareLock);

	kp->st = st;
	collect_leaves(kp, rel, st->keyindexid);
	table_close(rel, NoLock);
	return kp;
}

/*
 * Is there a row with this key (keyvals[k]: key column k) that snap sees?
 * SnapshotDirty also counts rows of transactions in progress.
 */
bool
keyprobe_exists(KeyProbe *kp, Datum *keyvals, Snapshot snap)
{
	return keyprobe_fetch(kp, keyvals, snap, NULL);
}

/*
 * The same, and the row itself into out (a slot of the table's row type;
 * NULL: not wanted), converted from its leaf's columns by name
 */
bool
keyprobe_fetch(KeyProbe *kp, Datum *keyvals, Snapshot snap, TupleTableSlot *out)
{
	SeqTable   *st = kp->st;
	ListCell   *lc;

	foreach(lc, kp->leaves)
	{
		KeyLeaf    *leaf = lfirst(lc);
		ScanKeyData skeys[INDEX_MAX_KEYS];
		IndexScanDesc scan;
		bool		found;

		for (int c = 0; c < st->nkeys; c++)
			ScanKeyEntryInitializeWithInfo(&skeys[c], 0, c + 1, BTEqualStrategyNumber,
										   InvalidOid, leaf->irel->rd_indcollation[c],
										   &st->keys[leaf->keyof[c]].eqproc, keyvals[leaf->keyof[c]]);
		scan = index_beginscan(leaf->rel, leaf->irel, snap, st->nkeys, 0);
		index_rescan(scan, skeys, st->nkeys, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, leaf->slot);
		if (found && out != NULL)
		{
			if (!leaf->mapped)
			{
				leaf->map = convert_tuples_by_name(RelationGetDescr(leaf->rel), out->tts_tupleDescriptor);
				leaf->mapped = true;
			}
			if (leaf->map != NULL)
			{
				execute_attr_map_slot(leaf->map->attrMap, leaf->slot, out);
				ExecMaterializeSlot(out);	/* (its values outlive the leaf's buffer) */
			}
			else
				ExecCopySlot(out, leaf->slot);
		}
		ExecClearTuple(leaf->slot);
		index_endscan(scan);
		if (found)
			return true;
	}
	return false;
}

void
keyprobe_end(KeyProbe *kp)
{
	ListCell   *lc;

	foreach(lc, kp->leaves)
	{
		KeyLeaf    *leaf = lfirst(lc);

		ExecDropSingleTupleTableSlot(leaf->slot);
		index_close(leaf->irel, NoLock);
		table_close(leaf->rel, NoLock);
	}
	list_free_deep(kp->leaves);
	pfree(kp);
}
