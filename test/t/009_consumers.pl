# Consumers (SPEC section 8): a consumer's state survives an immediate
# shutdown (a crash) and pg_dump/restore.
#
# Two consumers, of a keyed table and of an append-only one, are left with
# deliveries acknowledged, in flight, nacked for an hour, and a key changed
# while in flight.  Then:
#  - a crash (immediate shutdown) while a transaction has acknowledged a
#    delivery and received more, uncommitted: afterwards the consumers are
#    exactly as committed (the view, every delivery with its ack_id), the
#    uncommitted receive's keys come out again, the ack_ids in flight are
#    still good, and the key changed in flight comes again once its delivery
#    is acknowledged;
#  - pg_dump (custom format) and pg_restore into a new cluster that has used
#    fewer transaction ids: the same consumers and deliveries, ack_ids from
#    before the dump still acknowledge, new ack_ids never collide with old
#    ones, and a change made after the restore is received -- not one is
#    skipped.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('consumers');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_sequenced;
CREATE TABLE t (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
SELECT sequenced_register('t');
CREATE TABLE events (kind text, n int) WITH (autovacuum_enabled = off);
SELECT sequenced_register('events', '{}');
SELECT count(*) FROM sequenced_upsert('events', '[{"kind": "a", "n": 1}, {"kind": "b", "n": 2}, {"kind": "c", "n": 3}]', 1);
});

# A cluster in use has consumed more transaction ids than a new one (change
# positions derive from them): so does this one, before the consumers run.
$node->safe_psql('postgres', q{
DO $$BEGIN FOR i IN 1..3000 LOOP PERFORM pg_catalog.txid_current(); COMMIT; END LOOP; END$$;
});

# What the test remembers of each delivery (ack_ids are what a worker keeps).
$node->safe_psql('postgres', q{
CREATE TABLE got (n serial, c text, ack_id bigint, id int, v text, deliveries int);
CREATE FUNCTION recv(c text, m int) RETURNS SETOF text LANGUAGE sql AS $$
  WITH r AS (SELECT * FROM sequenced_receive(c, m)),
       ins AS (INSERT INTO got (c, ack_id, id, v, deliveries)
               SELECT c, r.ack_id, coalesce((r.key->>'id')::int, (r.record->>'n')::int),
                      coalesce(r.record->>'v', r.record->>'kind'), r.deliveries FROM r
               RETURNING got.id, got.v, got.deliveries)
  SELECT id || ':' || coalesce(v, 'deleted') || ':' || deliveries FROM ins ORDER BY id
$$;
CREATE FUNCTION ack_of(c text, ids int[]) RETURNS bigint[] LANGUAGE sql AS $$
  SELECT array_agg(g.ack_id) FROM got g
   WHERE g.c = ack_of.c AND g.id = ANY (ids)
     AND g.n = (SELECT max(g2.n) FROM got g2 WHERE g2.c = g.c AND g2.id = g.id)
$$;
SELECT sequenced_consumer_create('keys', 't', visibility_timeout => '1 hour');
SELECT sequenced_consumer_create('log', 'events', visibility_timeout => '1 hour');
});

sub receive_some
{
	my ($node, $db, $c, $m) = @_;
	return join(',', split(/\n/, $node->safe_psql($db, "SELECT * FROM recv('$c', $m)")));
}

is(receive_some($node, 'postgres', 'keys', 4), '1:v1:1,2:v2:1,3:v3:1,4:v4:1', 'keys: four handed out');
is( $node->safe_psql('postgres', q{
SELECT sequenced_ack('keys', ack_of('keys', '{1,2}'));
SELECT sequenced_nack('keys', ack_of('keys', '{4}'), '1 hour');
SELECT count(*) FROM sequenced_upsert('t', '{"id": 3, "v": "v3 changed in flight"}', 10);
}),
	"2\n1\n1", 'keys: two acknowledged, one nacked for an hour, one changed in flight');
is(receive_some($node, 'postgres', 'log', 2), '1:a:1,2:b:1', 'log: two handed out');
is($node->safe_psql('postgres', q{SELECT sequenced_ack('log', ack_of('log', '{1}'))}),
	'1', 'log: one acknowledged');

# A consumer's whole state: the view (positions kept as they are: they
# survive too), every delivery row, and what the sequences would give.
my $state_sql = q{
SELECT consumer, target, start, visibility_timeout, pending, in_flight, acked_through
  FROM sequenced_consumers ORDER BY consumer;
SELECT c.name, c.head, d.ident, d.pos, d.seq, d.acked, d.ack_id, d.deliveries,
       d.visible_at > now() + '50 minutes' AS later
  FROM _sequenced.deliveries d JOIN _sequenced.consumers c USING (incarnation)
 ORDER BY c.name, d.pos;
};
my $state = $node->safe_psql('postgres', $state_sql);
like($state, qr/^keys\|t\|beginning\|01:00:00\|8\|1\|\d+$/m, 'keys: 8 pending (3 to 10), 1 in flight (3; 4 is nacked)');
like($state, qr/^log\|events\|beginning\|01:00:00\|2\|1\|\d+$/m, 'log: 2 pending, 1 in flight');

#
# 1. A crash with an acknowledgement and a receive uncommitted.
#
my $bg = $node->background_psql('postgres', on_error_stop => 1);
$bg->query_safe('BEGIN');
is($bg->query_safe(q{SELECT sequenced_ack('keys', ack_of('keys', '{3}'))}), '1',
	'uncommitted: key 3 acknowledged');
is($bg->query_safe(q{SELECT string_agg(key->>'id', ',' ORDER BY pos) FROM sequenced_receive('keys', 2)}),
	'5,6', 'uncommitted: 5 and 6 handed out (before 3, changed later)');
is($node->safe_psql('postgres', $state_sql), $state, 'other sessions see none of it');

$node->stop('immediate');
eval { $bg->quit };
$node->start;

is($node->safe_psql('postgres', $state_sql), $state, 'after the crash: the consumers as committed');
is(receive_some($node, 'postgres', 'keys', 100), '5:v5:1,6:v6:1,7:v7:1,8:v8:1,9:v9:1,10:v10:1',
	'after the crash: the uncommitted receive\'s key comes out again; 3 (in flight) and 4 (nacked) do not');
is($node->safe_psql('postgres', q{SELECT sequenced_ack('keys', ack_of('keys', '{3}'))}), '1',
	'after the crash: the ack_id in flight acknowledges');
is(receive_some($node, 'postgres', 'keys', 100), '3:v3 changed in flight:1',
	'after the crash: the key changed in flight comes again, with its last state');
is($node->safe_psql('postgres', q{SELECT sequenced_ack('keys', ack_of('keys', '{3,5,6}'))}), '3',
	'after the crash: acknowledged');

#
# 2. pg_dump / restore into a new cluster.
#
$state = $node->safe_psql('postgres', $state_sql);
my $max_ack = $node->safe_psql('postgres', q{SELECT max(ack_id) FROM got});
my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $dump = "$tempdir/consumers.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');

my $node_b = PostgreSQL::Test::Cluster->new('restored');
$node_b->init;
$node_b->start;
$node_b->command_ok([ 'createdb', '-h', $node_b->host, '-p', $node_b->port, 'r' ], 'createdb');
my ($ok, $stdout, $stderr) = (0, '', '');
$ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node_b->connstr('r'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore succeeds') or diag("pg_restore stderr:\n$stderr");

is($node_b->safe_psql('r', $state_sql), $state, 'restored: the same consumers and deliveries');
is($node_b->safe_psql('r', q{SELECT sequenced_ack('keys', ack_of('keys', '{7,8}'))}), '2',
	'restored: ack_ids handed out before the dump acknowledge');
is($node_b->safe_psql('r', q{SELECT count(*) FROM sequenced_upsert('t', '{"id": 1, "v": "after the restore"}', 20)}),
	'1', 'restored: a change');
is(receive_some($node_b, 'r', 'keys', 100), '1:after the restore:1',
	'restored: the change after the restore is received (not the ones in flight, nor the nacked one)');
is($node_b->safe_psql('r', qq{SELECT count(*) FROM got WHERE c = 'keys' AND id = 1 AND ack_id <= $max_ack AND n = (SELECT max(n) FROM got)}),
	'0', 'restored: new ack_ids are above every one handed out before');
is( $node_b->safe_psql('r', q{
SELECT count(*) FROM sequenced_upsert('events', '{"kind": "d", "n": 4}', 2);
SELECT sequenced_ack('log', ack_of('log', '{2}'));
}),
	"1\n1", 'restored: an append, and the delivery in flight acknowledged');
is(receive_some($node_b, 'r', 'log', 100), '3:c:1,4:d:1', 'restored: the append-only consumer goes on');
is( $node_b->safe_psql('r', q{
SELECT sequenced_ack('log', ack_of('log', '{3,4}'));
SELECT sequenced_ack('keys', ack_of('keys', '{1,9,10}'));
SELECT consumer, pending, in_flight FROM sequenced_consumers ORDER BY consumer;
}),
	"2\n3\nkeys|1|0\nlog|0|0", 'restored: all acknowledged but the nacked key');
is( $node_b->safe_psql('r', q{
SELECT sequenced_consumer_rewind('keys');
SELECT count(*) FROM sequenced_receive('keys', 100);
}),
	"\n10", 'restored: a rewind replays every key');

$node->stop;
$node_b->stop;
done_testing();
