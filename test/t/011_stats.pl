# Metrics with pg_sequenced in shared_preload_libraries (src/stats.c): the
# counts of sequenced_stats live in shared memory, so that
#  - they are every session's: calls made by other sessions (one by one,
#    and 4 pgbench clients at once) add up exactly, and the view says
#    scope 'cluster';
#  - they are per database: another database's calls are not shown there,
#    and its sequenced_stats_reset() leaves this one's counts alone;
#  - sequenced_stats_reset(table) forgets one table's counts (its owner
#    may), sequenced_stats_reset() every table's of the database;
#  - a dropped table's counts are not shown;
#  - with pg_sequenced.stats_max tables counted, the table whose last call
#    is the oldest makes room for a new one;
#  - they are lost at a restart (not saved: documented), and counting goes
#    on afterwards;
#  - sequenced_last_call() stays the session's own.
# And the metrics block of sql/pg_sequenced--0.1--0.2.sql is the one of
# sql/pg_sequenced--0.2.sql.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the metrics objects are made alike by CREATE EXTENSION and by the update
# from 0.1: one block, the same in both scripts
my $testdir = $ENV{TESTDIR} || '.';
my @blocks = map {
	open my $f, '<', "$testdir/sql/$_" or die "sql/$_: $!";
	local $/;
	my $text = <$f>;
	close $f;
	$text =~ /(-- == metrics \(begin\) ==\n.*?-- == metrics \(end\) ==\n)/s ? $1 : "none in $_";
} ('pg_sequenced--0.2.sql', 'pg_sequenced--0.1--0.2.sql');
is($blocks[1], $blocks[0], 'the metrics block of the update script is the one of the 0.2 script');

my $node = PostgreSQL::Test::Cluster->new('stats');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pg_sequenced'\npg_sequenced.stats_max = 10\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE DATABASE other;
CREATE EXTENSION pg_sequenced;
CREATE TABLE a (id int PRIMARY KEY, v text);
SELECT sequenced_register('a');
CREATE TABLE b (id int PRIMARY KEY, v text);
SELECT sequenced_register('b');
CREATE TABLE inbox (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON inbox REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('b');
});
$node->safe_psql('other', q{
CREATE EXTENSION pg_sequenced;
CREATE TABLE a (id int PRIMARY KEY, v text);
SELECT sequenced_register('a');
});

# "relid scope calls messages inserted updated unchanged deleted stale superseded"
sub counts
{
	my ($table, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		qq{SELECT concat_ws(' ', relid, scope, calls, messages, inserted, updated, unchanged,
                                deleted, stale, superseded)
             FROM sequenced_stats WHERE relid = '$table'::regclass});
}

is(counts('a'), 'a cluster 0 0 0 0 0 0 0 0', 'preloaded: the counts are the cluster\'s, zero before any call');

# each safe_psql is a session of its own
$node->safe_psql('postgres',
	q{SELECT count(*) FROM sequenced_upsert('a', '[{"id": 1, "v": "x"}, {"id": 2, "v": "y"}, {"id": 3, "v": "z"}]', 10)});
$node->safe_psql('postgres',
	q{SELECT count(*) FROM sequenced_upsert('a', '[{"sequence": 20, "data": {"id": 1, "v": "x2"}},
                                                  {"sequence": 5, "data": {"id": 2, "v": "old"}},
                                                  {"sequence": 30, "data": {"id": 3}, "action": "delete"},
                                                  {"sequence": 25, "data": {"id": 3, "v": "z25"}}]')});
$node->safe_psql('postgres', q{COPY inbox FROM PROGRAM 'printf "1\tq\t1\n2\tr\t1\n"'});
is(counts('a'), 'a cluster 2 7 3 1 0 1 1 1', 'the calls of two sessions add up');
is(counts('b'), 'b cluster 1 2 2 0 0 0 0 0', 'a COPY into a staging table in a third session counts');
is( $node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_last_call()}),
	'0', 'sequenced_last_call is the session\'s own: none in a new session');
is( $node->safe_psql('postgres',
		q{COPY inbox FROM PROGRAM 'printf "3\tq\t1\n"'; SELECT relid, messages, inserted FROM sequenced_last_call()}),
	'b|1|1', 'sequenced_last_call after a COPY');

# 4 clients at once, 50 calls each, on 20 keys: keys 1 and 2 have rows, 3
# a tombstone, so every row of keys 3..20 there is now was inserted once
$node->safe_psql('postgres', q{SELECT sequenced_stats_reset('a')});
$node->pgbench(
	'--no-vacuum --client=4 --transactions=50',
	0,
	[qr{processed: 200/200}],
	[qr{^$}],
	'pgbench: 200 calls from 4 sessions',
	{
		'011_stats_upsert' => q{
\set k random(1, 20)
\set s random(1, 1000)
SELECT count(*) FROM sequenced_upsert('a', jsonb_build_object('id', :k, 'v', 'p'), :s);
}
	});
is( $node->safe_psql('postgres',
		q{SELECT calls, messages, inserted + updated + unchanged + deleted + stale + superseded,
                 inserted = (SELECT count(*) FROM a WHERE id >= 3)
            FROM sequenced_stats WHERE relid = 'a'::regclass}),
	'200|200|200|t', 'concurrent calls: every call and message counted once');

# another database
is(counts('a', 'other'), 'a cluster 0 0 0 0 0 0 0 0', 'another database: its own counts');
$node->safe_psql('other', q{SELECT count(*) FROM sequenced_upsert('a', '{"id": 1}', 1)});
$node->safe_psql('other', q{SELECT sequenced_stats_reset()});
is( $node->safe_psql('postgres', q{SELECT calls FROM sequenced_stats WHERE relid = 'a'::regclass}),
	'200', 'a reset of every table in another database leaves this one\'s counts');

# resets
$node->safe_psql('postgres', q{
CREATE ROLE stats_owner;
ALTER TABLE b OWNER TO stats_owner;
});
my ($ret, $out, $err) = $node->psql('postgres', q{SET ROLE stats_owner; SELECT sequenced_stats_reset()});
like($err, qr/permission denied to reset the counts of every table/, 'a table owner may not reset every table');
$node->safe_psql('postgres', q{SET ROLE stats_owner; SELECT sequenced_stats_reset('b')});
is(counts('b'), 'b cluster 0 0 0 0 0 0 0 0', 'the owner resets the counts of its table');
is( $node->safe_psql('postgres', q{SELECT calls FROM sequenced_stats WHERE relid = 'a'::regclass}),
	'200', '... and only of its table');
$node->safe_psql('postgres', q{SELECT sequenced_stats_reset()});
is(counts('a'), 'a cluster 0 0 0 0 0 0 0 0', 'sequenced_stats_reset() resets every table');

# a dropped table
$node->safe_psql('postgres', q{
CREATE TABLE gone (id int PRIMARY KEY);
SELECT sequenced_register('gone');
SELECT count(*) FROM sequenced_upsert('gone', '{"id": 1}', 1);
});
is($node->safe_psql('postgres', q{SELECT calls FROM sequenced_stats WHERE relid::text = 'gone'}),
	'1', 'a new table counts');
$node->safe_psql('postgres', q{DROP TABLE gone});
is( $node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_stats WHERE relid::text NOT IN ('a', 'b')}),
	'0', 'a dropped table is not shown');

# room for 10 tables: the oldest last call makes room (the other database's
# entry was reset; the dropped table's entry is forgotten by the reset)
$node->safe_psql('postgres', q{SELECT sequenced_stats_reset()});
$node->safe_psql('postgres', join('',
	map { qq{CREATE TABLE e$_ (id int PRIMARY KEY); SELECT sequenced_register('e$_');\n} } 1 .. 12));
$node->safe_psql('postgres', qq{SELECT count(*) FROM sequenced_upsert('e$_', '{"id": 1}', 1)}) for 1 .. 12;
is( $node->safe_psql('postgres',
		q{SELECT string_agg(relid::text || '=' || calls, ',' ORDER BY relid::oid) FROM sequenced_stats
           WHERE relid::text LIKE 'e%'}),
	'e1=0,e2=0,e3=1,e4=1,e5=1,e6=1,e7=1,e8=1,e9=1,e10=1,e11=1,e12=1',
	'stats_max tables: the oldest last calls made room');
$node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_upsert('e1', '{"id": 2}', 1)});
is( $node->safe_psql('postgres',
		q{SELECT string_agg(relid::text || '=' || calls, ',' ORDER BY relid::oid) FROM sequenced_stats
           WHERE relid::text IN ('e1', 'e3', 'e4')}),
	'e1=1,e3=0,e4=1', 'a table called again starts from zero, evicting the next oldest');

# restart: the counts are lost (not saved), counting goes on
$node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_upsert('a', '{"id": 1}', 2000)});
is($node->safe_psql('postgres', q{SELECT calls FROM sequenced_stats WHERE relid = 'a'::regclass}),
	'1', 'counted before the restart');
$node->restart;
is(counts('a'), 'a cluster 0 0 0 0 0 0 0 0', 'a restart loses the counts');
$node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_upsert('a', '{"id": 1}', 3000)});
is(counts('a'), 'a cluster 1 1 0 1 0 0 0 0', 'counting goes on after a restart');

$node->stop;
done_testing();
