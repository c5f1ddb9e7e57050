/*-------------------------------------------------------------------------
 *
 * apply.c
 *		The pipeline of one call: which message wins, and the steps that
 *		apply the winners.
 *
 * The rule.  For every key, the message with the highest sequence wins: in
 * the call (dedup.c), and against what is stored.  What is stored for a key
 * is kept in the table's key state (keystate.c: one row per key, its
 * sequence, its change position, whether it is a tombstone); the target row
 * carries the same sequence in its sequence column.  A message is applied
 * only when its sequence is greater than the stored one (or equal, under
 * on_equal 'replace').
 *
 * The steps of apply_batch, for a table with a key:
 *
 *	1. input (before it): every record converted once (input.c);
 *	2. dedup (dedup.c): sort by key (the key index's ordering), then
 *	   sequence descending, then position; the winner per key; the others
 *	   superseded; under ordering 'per_table', messages not above the
 *	   table's max_sequence as the call began are stale;
 *	3. probe (keystate.c, probe.c): each winner's stored state, read
 *	   straight from the key state's unique index under a fresh snapshot,
 *	   in key order; a message older than what is stored is stale here, for
 *	   good, having cost one probe and no lock, write or statement;
 *	4. lock (keystate.c): the per-key locks, in key order, on the key
 *	   state's rows -- INSERT ... ON CONFLICT DO UPDATE ... WHERE done in C
 *	   -- deciding again against the latest committed state;
 *	5. write (target.c): the target, as the caller, straight through its
 *	   heap and indexes where nothing else would run, else by statements;
 *	   what the target refused (a row written around the functions) is
 *	   stale, and its key state corrected (the fix-up);
 *	   steps 4 and 5 go SEQ_WRITE_CHUNK candidates at a time, in key order;
 *	6. max_sequence (maxlog.c): one insert into the log when the call
 *	   raised it.
 * An append-only table skips 2-4: every message is inserted (target.c).
 *
 * Concurrency.  Every writer of a key holds that key's state row lock (or
 * its uncommitted speculative insert, which makes a concurrent inserter
 * wait) from step 4 to commit, and takes these in one global key order.
 * So all calls that touch a key are serialized on it, decide against the
 * latest committed state, and can never wait on each other in a cycle:
 * overlapping calls do not deadlock, and disjoint calls share no lock at all
 * (the max log is insert-only).  A delete racing an older upsert: whichever
 * locks the key second sees the other's committed sequence, so the older one
 * is stale and a deleted row never comes back.  keystate.c has the details.
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
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/readfuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "pg_sequenced.h"

/*
 * Before the first statement of a call: the planner settings, and fresh
 * plans if the state table has grown much since they were made.  A call
 * whose messages are all stale runs no statement and skips both.
 */
void
apply_sql_ready(Batch *b)
{
	if (b->sql_ready)
		return;
	rights_pin_path();
	rights_guc_planner();
	catalog_check_plans(b->st);
	b->sql_ready = true;
}

void
apply_batch(Batch *b)
{
	SeqTable   *st = b->st;
	MemoryContext old = MemoryContextSwitchTo(b->mcxt);
	int64		startmax = 0;
	bool		have_max = false;
	int		   *cand;
	int			ncand = 0;
	bool		any = false;
	int64		callmax = PG_INT64_MIN;

	if (b->nmsgs == 0)
	{
		stats_count(b);
		MemoryContextSwitchTo(old);
		return;
	}
	/* read now: it may run statements, and positions are handed out in loops over SPI results */
	(void) positions_offset();
	positions_lock(SEQ_POSREL(st));
	if (st->per_table)
	{
		apply_sql_ready(b);
		have_max = maxlog_read(st->relid, &startmax);
	}

	if (st->nkeys == 0)
	{
		int			level = call_caller_path_begin(b);

		for (int i = 0; i < b->nmsgs; i++)
			input_materialize(b, &b->msgs[i], b->mcxt);
		call_caller_path_end(level);
		apply_sql_ready(b);
		target_append(b, have_max, startmax);
	}
	else
	{
		bool		deletes = false;
		/*
		 * Stale messages are versions too -- but not the deletes of
		 * sequenced_delete_missing (rescan.c): a key that is no longer
		 * missing once locked is none of the rescan's business
		 */
		bool		hist_stale = !b->stale_unversioned;

		cand = palloc(sizeof(int) * b->nmsgs);
		ncand = dedup_winners(b, cand, have_max, startmax);
		for (int i = 0; i < ncand && !deletes; i++)
			deletes = b->msgs[cand[i]].action == MSG_DELETE;
		{
			Relation	rel = table_open(st->relid, NoLock);	/* locked by the call */

			b->direct = ncand > 0 && target_direct_ok(st, rel, deletes);
			table_close(rel, NoLock);
		}
		/*
		 * Rows written by statements: what is stale leaves first (a direct
		 * call probes as it goes) -- but with history, a stale message is a
		 * version too, written under its key's lock (keystate_lock takes it)
		 */
		if (ncand > 0 && !b->direct && st->history &&
			check_enable_rls(st->relid, InvalidOid, true) == RLS_ENABLED)
		{
			/*
			 * ... except for a writer that row-level security limits: its
			 * stale messages get no version (they would write, and lock,
			 * the history of keys it may not see, let alone update)
			 */
			int			n = 0;

			hist_stale = false;
			for (int i = 0; i < ncand; i++)
				if (b->msgs[cand[i]].outcome == OUT_NONE)
					cand[n++] = cand[i];
			ncand = n;
		}
		if (ncand > 0 && !b->direct && (!st->history || !hist_stale))
			ncand = keystate_probe(b, cand, ncand);
		if (ncand > 0)
		{
			MemoryContext chunkcxt = AllocSetContextCreate(b->mcxt, "pg_sequenced chunk",
														   ALLOCSET_DEFAULT_SIZES);
			ChangeLog  *cl = changelog_begin(st);

			/*
			 * The key state is written directly: refuse as INSERT would (a
			 * direct call refuses at its first message that is not stale)
			 */
			if (!b->direct)
			{
				PreventCommandIfReadOnly("pg_sequenced writes");
				apply_sql_ready(b);
			}

			/*
			 * Lock and write the candidates a chunk at a time, in key order
			 * still (so the one lock order holds): what writing needs (the
			 * values of a lazy batch, formed rows, statement results) then
			 * exists for one chunk at a time, not for a million records.
			 * Each chunk's changes go into the log as one row.
			 */
			for (int off = 0; off < ncand; off += SEQ_WRITE_CHUNK)
			{
				int			n = Min(SEQ_WRITE_CHUNK, ncand - off);
				MemoryContext old = MemoryContextSwitchTo(chunkcxt);

				if (b->direct)
					direct_apply(b, cand + off, n, cl);
				else
				{
					int			level = call_caller_path_begin(b);

					for (int i = off; i < off + n; i++)
						if (b->msgs[cand[i]].action == MSG_UPSERT)
							input_materialize(b, &b->msgs[cand[i]], chunkcxt);
					call_caller_path_end(level);
					keystate_lock(b, cand + off, n);
					if (st->skip_unchanged || st->omitted_keep)
						unchanged_statements(b, cand + off, n);
					target_write(b, cand + off, n);
					if (st->history)
					{
						HistoryWriter *hw = history_begin(b);
						int			hlevel = call_caller_path_begin(b);

						for (int i = off; i < off + n; i++)
							if (hist_stale || b->msgs[cand[i]].outcome != OUT_STALE)
								history_key(hw, b->grp_first[cand[i]], b->grp_len[cand[i]], chunkcxt);
						call_caller_path_end(hlevel);
						history_end(hw);
					}
					SPI_freetuptable(SPI_tuptable);
					for (int i = off; i < off + n; i++)
					{
						Message    *m = &b->msgs[cand[i]];
						Datum		keyvals[INDEX_MAX_KEYS];

						if (m->pos == 0)
							continue;
						for (int k = 0; k < st->nkeys; k++)
							keyvals[k] = m->values[st->keys[k].attnum - 1];
						/* (a stale one kept its position for the row that beat it: fixup) */
						changelog_add(cl, m->pos, keyvals, m->outcome == OUT_STALE ? m->oldpos : m->seq);
					}
				}
				changelog_flush(cl);
				MemoryContextSwitchTo(old);
				MemoryContextReset(chunkcxt);
			}
			changelog_end(cl);
			MemoryContextDelete(chunkcxt);
		}
	}

	for (int i = 0; i < b->nmsgs; i++)
	{
		Outcome		o = b->msgs[i].outcome;

		if (o == OUT_INSERTED || o == OUT_UPDATED || o == OUT_DELETED || o == OUT_UNCHANGED)
		{
			any = true;
			callmax = Max(callmax, b->msgs[i].seq);
		}
	}
	if (any)
		maxlog_raise(st, callmax);
	stats_count(b);
	MemoryContextSwitchTo(old);
}
