# Crash safety: what a call writes (the target, the state table with its
# tombstones, the max_sequence log) is ordinary WAL-logged table data, so
# after a crash
#  - every committed call is there, including calls committed after the
#    last checkpoint (redone from WAL);
#  - nothing of a call that had not committed is there: not its rows, not
#    its tombstones, not its max_sequence;
#  - the extension works on, and the indexes of the target and of the
#    internal tables pass amcheck.
#
# Two crashes: an immediate shutdown while a transaction holds a large,
# fully applied but uncommitted batch; and kill -9 of a backend in the middle
# of a large call (held there by a trigger waiting on an advisory lock), after
# which the postmaster restarts all backends.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# the test framework turns this off; kill -9 of a backend must make the
# postmaster reinitialize, not shut down
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_sequenced;
CREATE EXTENSION amcheck;
CREATE TABLE crash_t (id int PRIMARY KEY, v text, n int);
SELECT sequenced_register('crash_t');
});

# "outcome:count,..." of a call, as a string.
sub outcomes_sql
{
	my ($call) = @_;
	return "SELECT string_agg(outcome || ':' || c, ',' ORDER BY outcome) FROM "
	  . "(SELECT outcome, count(*) AS c FROM $call GROUP BY outcome) s";
}

# A call of 50,000 messages with sequence $seq and value $v: 40,000 new keys
# ($base + 1 .. $base + 40000), newer versions of keys 1..5000 and deletes
# of keys 20001..25000.
sub big_batch
{
	my ($seq, $base, $v) = @_;
	return outcomes_sql(qq{sequenced_upsert('crash_t', (
  SELECT jsonb_agg(m) FROM (
    SELECT jsonb_build_object('sequence', $seq, 'data',
             jsonb_build_object('id', g, 'v', '$v', 'n', g)) AS m
      FROM generate_series($base + 1, $base + 40000) g
    UNION ALL
    SELECT jsonb_build_object('sequence', $seq, 'data',
             jsonb_build_object('id', g, 'v', '$v', 'n', -g))
      FROM generate_series(1, 5000) g
    UNION ALL
    SELECT jsonb_build_object('action', 'delete', 'sequence', $seq, 'data',
             jsonb_build_object('id', g))
      FROM generate_series(20001, 25000) g) s))});
}

# Committed history: a batch, a checkpoint, then more batches that only the
# WAL holds: updates, deletes with and without a row (tombstones), and a
# transaction of several calls.
is( $node->safe_psql('postgres', outcomes_sql(q{sequenced_upsert('crash_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g, 'v', 'first', 'n', g))
     FROM generate_series(1, 20000) g), 1000)})),
	'inserted:20000', 'batch 1 committed');
$node->safe_psql('postgres', 'CHECKPOINT');
is( $node->safe_psql('postgres', outcomes_sql(q{sequenced_upsert('crash_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g, 'v', 'second', 'n', 2 * g))
     FROM generate_series(1, 5000) g), 2000)})),
	'updated:5000', 'batch 2 committed');
is( $node->safe_psql('postgres', outcomes_sql(q{sequenced_delete('crash_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g))
     FROM (SELECT generate_series(5001, 6000) UNION ALL SELECT generate_series(900001, 900100)) s(g)),
  3000)})),
	'deleted:1100', 'batch 3 (deletes) committed');
is( $node->safe_psql('postgres', 'BEGIN;'
	  . outcomes_sql(q{sequenced_upsert('crash_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g, 'v', 'fourth', 'n', g))
     FROM generate_series(20001, 25000) g), 4000)}) . ';'
	  . outcomes_sql(q{sequenced_delete('crash_t',
  (SELECT jsonb_agg(jsonb_build_object('id', g)) FROM generate_series(1, 10) g), 4001)})
	  . '; COMMIT;'),
	"inserted:5000\ndeleted:10",
	'batch 4 (one transaction, two calls) committed');

# What must survive a crash unchanged.
my $fingerprint_sql = q{
SELECT 'target', count(*), sum(_sdc_sequence), sum(n),
       md5(string_agg(t::text, ';' ORDER BY id))
  FROM crash_t t
UNION ALL
SELECT 'catalog', count(*), max(max_sequence), NULL,
       md5(string_agg(t::text, ';' ORDER BY relid))
  FROM sequenced_tables t
UNION ALL
SELECT 'max_sequence', NULL, sequenced_max_sequence('crash_t'), NULL, NULL
};

# The key state's own fingerprint (the feed, which reads the change log, the
# key state and the target), and the invariants that tie them together: a
# key state row that is a tombstone has no row, any other has its row with
# its sequence; the feed holds every live key (with its row's sequence) and
# every tombstone, once.
my $state_rel = $node->safe_psql('postgres',
	q{SELECT state_rel::text FROM _sequenced.config WHERE relid = 'crash_t'::regclass});
like($state_rel, qr/^_sequenced\./, 'the state table is found');
my $state_sql = qq{
SELECT 'state', count(*), sum(seq), count(*) FILTER (WHERE deleted),
       md5(string_agg(key::text || ':' || seq || ':' || deleted, ';' ORDER BY (key->>'id')::int))
  FROM sequenced_changes('crash_t') f
UNION ALL
SELECT 'keystate', count(*), sum(sequence), count(*) FILTER (WHERE deleted),
       md5(string_agg(s::text, ';' ORDER BY k1))
  FROM $state_rel s
UNION ALL
SELECT 'mismatch', count(*), NULL, NULL, NULL
  FROM (SELECT id, _sdc_sequence AS seq, false AS deleted FROM crash_t
        UNION ALL
        SELECT k1, sequence, true FROM $state_rel WHERE deleted) a
  FULL JOIN (SELECT (key->>'id')::int AS id, seq, deleted FROM sequenced_changes('crash_t')) f
       USING (id)
 WHERE a.id IS NULL OR f.id IS NULL OR a.seq IS DISTINCT FROM f.seq OR a.deleted <> f.deleted
UNION ALL
SELECT 'keystate mismatch', count(*), NULL, NULL, NULL
  FROM $state_rel s LEFT JOIN crash_t t ON t.id = s.k1
 WHERE (s.deleted AND t.id IS NOT NULL)
    OR (NOT s.deleted AND (t.id IS NULL OR t._sdc_sequence IS DISTINCT FROM s.sequence))
};

my $committed = $node->safe_psql('postgres', $fingerprint_sql);
my $committed_state = $node->safe_psql('postgres', $state_sql);

# Sanity of the committed state, so the comparisons below mean something:
# 25000 keys, 1000 + 100 + 10 deleted.
like($committed, qr/^target\|23990\|/m, 'committed: 23990 rows');
like($committed, qr/^max_sequence\|\|4001\|\|$/m, 'committed: max_sequence 4001');
like($committed_state, qr/^state\|25100\|\d+\|1110\|/m,
	'committed: 25100 keys in the feed, 1110 tombstones');
like($committed_state, qr/^mismatch\|0\|/m, 'committed: the feed matches the target and the tombstones');
like($committed_state, qr/^keystate mismatch\|0\|/m, 'committed: the key state matches the target');

my $index_count = $node->safe_psql('postgres', q{
SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
   AND (i.indrelid = 'crash_t'::regclass
        OR i.indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = '_sequenced'::regnamespace))});
cmp_ok($index_count, '>=', 3, 'btree indexes to check: target and internal tables');

# Everything that is checked after each crash; the lost call had sequence
# $lost_seq, new keys $base + 1 .. $base + 40000 and the value 'uncommitted'.
sub check_after_crash
{
	my ($what, $lost_seq, $base) = @_;

	is($node->safe_psql('postgres', $fingerprint_sql),
		$committed, "$what: target, catalog and max_sequence as committed");
	is($node->safe_psql('postgres', $state_sql),
		$committed_state, "$what: state table as committed, consistent with the target");
	is( $node->safe_psql('postgres', qq{
			SELECT (SELECT count(*) FROM crash_t WHERE id BETWEEN $base + 1 AND $base + 40000 OR v = 'uncommitted'),
			       (SELECT count(*) FROM $state_rel WHERE k1 BETWEEN $base + 1 AND $base + 40000 OR sequence >= $lost_seq),
			       (SELECT count(*) FROM _sequenced.max_log WHERE seq >= $lost_seq)}),
		'0|0|0', "$what: nothing of the uncommitted call is there");

	# amcheck: every btree index of the target and of the internal tables,
	# with heapallindexed
	my ($ret, $out, $err) = $node->psql('postgres', q{
SELECT count(bt_index_check(c.oid, true))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
   AND (i.indrelid = 'crash_t'::regclass
        OR i.indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = '_sequenced'::regnamespace))});
	is($ret, 0, "$what: amcheck runs without error") or diag($err);
	is($out, $index_count, "$what: amcheck checked all $index_count indexes");
	return;
}

# The extension works after a crash: a new call is applied, and the lost
# call, sent again, is applied in full (no leftover of it claims its keys).
# $seq is above every sequence so far.  Then the new state becomes the
# committed one.
sub check_still_works
{
	my ($what, $seq, $base, $expect_call, $expect_rerun) = @_;
	my $new_key = $base + 30000;

	is( $node->safe_psql('postgres', qq{
			SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('crash_t', '[
			  {"sequence": $seq, "data": {"id": 1, "v": "after"}},
			  {"sequence": $seq, "data": {"id": 11, "v": "after"}},
			  {"sequence": $seq, "action": "delete", "data": {"id": 12}},
			  {"sequence": 3500, "data": {"id": 20001, "v": "late"}},
			  {"sequence": $seq, "data": {"id": $new_key, "v": "after"}}]')}),
		$expect_call, "$what: a new call after the crash is applied");
	is($node->safe_psql('postgres', big_batch($seq + 1, $base, 'sent again')),
		$expect_rerun, "$what: the lost call, sent again, is applied in full");
	is($node->safe_psql('postgres', q{SELECT sequenced_max_sequence('crash_t')}),
		$seq + 1, "$what: max_sequence advances again");

	$committed = $node->safe_psql('postgres', $fingerprint_sql);
	$committed_state = $node->safe_psql('postgres', $state_sql);
	like($committed_state, qr/^mismatch\|0\|/m, "$what: the feed matches the target and the tombstones");
	like($committed_state, qr/^keystate mismatch\|0\|/m, "$what: the key state matches the target");
	return;
}

#
# 1. Immediate shutdown with a large batch applied but not committed.
#
my $bg = $node->background_psql('postgres', on_error_stop => 1);
$bg->query_safe('BEGIN');
is( $bg->query_safe(big_batch(5000, 100000, 'uncommitted')),
	'deleted:5000,inserted:40010,updated:4990',
	'uncommitted batch applied inside its transaction');
is($bg->query_safe(q{SELECT sequenced_max_sequence('crash_t')}),
	'5000', 'the open transaction sees its own max_sequence');
is($node->safe_psql('postgres', $fingerprint_sql),
	$committed, 'other sessions do not see the open transaction');

$node->stop('immediate');
# psql lost its server; it ends with an error status, which is expected
eval { $bg->quit };
$node->start;

check_after_crash('immediate shutdown', 5000, 100000);
# 1: tombstone (4001) -> inserted; 20001 is live at 4000 -> 3500 is stale.
# Sent again: 2..10 and 12 were deleted, 1 and 130000 are now live.
check_still_works('immediate shutdown', 6000, 100000,
	'inserted,updated,deleted,stale,inserted',
	'deleted:5000,inserted:40009,updated:4991');

#
# 2. kill -9 of a backend in the middle of a call.
#
# The call is held half way: a trigger on one of its new keys waits for an
# advisory lock that another session holds.  By then the call has written
# state rows (and maybe target rows), none committed.
$node->safe_psql('postgres', q{
CREATE FUNCTION wait_for_lock() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END$$;
CREATE TRIGGER hold_here BEFORE INSERT OR UPDATE ON crash_t
  FOR EACH ROW WHEN (NEW.id = 220000) EXECUTE FUNCTION wait_for_lock();
});

my $locker = $node->background_psql('postgres', on_error_stop => 1);
$locker->query_safe('SELECT pg_advisory_lock(4242)');

my $victim = $node->background_psql('postgres', on_error_stop => 1);
my $pid = $victim->query_safe('SELECT pg_backend_pid()');
like($pid, qr/^\d+$/, 'backend pid of the victim');
my $log_offset = -s $node->logfile;

# start the call, do not wait for it
$victim->query_until(qr/started/, "\\echo started\n" . big_batch(8000, 200000, 'uncommitted') . ";\n");

# wait until it is held (or has ended, which is a failure: show why)
my $state = 'running';
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	$state = $node->safe_psql('postgres', qq{
		SELECT coalesce((SELECT CASE WHEN wait_event_type = 'Lock' AND wait_event = 'advisory'
		                              AND backend_xid IS NOT NULL THEN 'held' ELSE 'running' END
		                   FROM pg_stat_activity WHERE pid = $pid), 'ended')});
	last if $state ne 'running';
	usleep(100_000);
}
is($state, 'held', 'the call is held half way, having written (it has an xid)')
  or diag("the call's session said: $victim->{stdout} $victim->{stderr}");

is(kill('KILL', $pid), 1, 'kill -9 the backend');

# the postmaster notices, terminates every backend, recovers, and accepts
# connections again
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok( $node->log_contains(qr/server process \(PID $pid\) was terminated by signal 9/, $log_offset),
	'the server log shows the backend killed by signal 9');
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'server accepts connections again');
eval { $victim->quit };
eval { $locker->quit };

$node->safe_psql('postgres', 'DROP TRIGGER hold_here ON crash_t');
check_after_crash('kill -9', 8000, 200000);
# 1 and 11 live -> updated; 20001 is a tombstone at 6001 -> 3500 is stale.
# Sent again: 12 was deleted, 230000 is live, 20001..25000 are tombstones
# older than the deletes.
check_still_works('kill -9', 9000, 200000,
	'updated,updated,deleted,stale,inserted',
	'deleted:5000,inserted:40000,updated:5000');

# no crash other than the one caused here, no failed assertion
my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|TRAP:|terminated by signal (?!9: Killed)/,
	'the server log shows no other crash');

$node->stop;

done_testing();
